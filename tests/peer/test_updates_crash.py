"""Kill the updater at every point it can be interrupted (a child process that os._exit()s
at checkpoint k, for every k), recover, and check the game is exactly the old release or the
new one, each verifying, with the player's files untouched; then the update completes."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from updates_support import (
    Files,
    assert_release,
    make_manifest,
    patched_game,
    publish_chunks,
    start_cdn,
    write_tree,
)

from peer.updates import (
    HttpChunkSource,
    RecoveryAction,
    UpdateApplier,
    read_journal,
    read_pointer,
    record_install,
    recover,
)
from peerpipe.service import RunningApp
from seeder.chunking import ChunkParams
from signing import ReleaseManifest

CHILD = Path(__file__).with_name("updates_crash_child.py")
REPO = Path(__file__).resolve().parents[2]
KILLED = 137
PARALLEL = 4
# Bigger chunks than the other tests: every chunk is a checkpoint, and every checkpoint a run.
CHUNKS = ChunkParams(avg_size=64 * 1024, min_size=16 * 1024, max_size=128 * 1024)
PARTS = ChunkParams(avg_size=16 * 1024, min_size=4 * 1024, max_size=64 * 1024)
SAVE = b"level 12, 9000 gold"
SETTINGS = b"[video]\nfullscreen=1\n"
MODS = b"enable=hd-textures"


def child_env() -> dict[str, str]:
    paths = [os.environ.get("PYTHONPATH", ""), str(REPO)]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))


def child_command(
    action: str, game_dir: Path, manifest: Path, cdn: str, crash_at: int
) -> list[str]:
    return [sys.executable, str(CHILD), action, str(game_dir), str(manifest), cdn, str(crash_at)]


async def run_child(
    action: str, game_dir: Path, manifest: Path, cdn: str, crash_at: int
) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *child_command(action, game_dir, manifest, cdn, crash_at),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(),
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode in (0, KILLED), err.decode()
    return process.returncode, out.decode().removeprefix("started\n")


OLDEST, OLD, NEW = 1, 2, 3  # the game runs OLD, OLDEST is kept for a rollback


class Scenario:
    """A game running release 2 (release 1 kept for rollback) being updated to release 3."""

    def __init__(self, root: Path, cdn: RunningApp, origin: Path) -> None:
        oldest_files, _ = patched_game(seed=71, pack_size=100_000)
        old_files, new_files = patched_game(seed=70, pack_size=400_000)
        oldest = self._publish(origin, oldest_files, OLDEST)
        self.old = self._publish(origin, old_files, OLD)
        self.new = self._publish(origin, new_files, NEW)
        self.cdn = cdn.url
        self.root = root
        self.manifest_file = root / "new.json"
        self.manifest_file.write_bytes(self.new.to_canonical_json())
        self.pristine = root / "pristine"
        write_tree(self.pristine / str(OLDEST), oldest_files)
        record_install(self.pristine, oldest)
        # Only release 1 has this file: retiring release 1 must leave it where it is.
        (self.pristine / str(OLDEST) / "mods.cfg").write_bytes(MODS)
        write_tree(self.pristine / str(OLD), old_files)
        record_install(self.pristine, self.old)
        (self.pristine / str(OLD) / "saves").mkdir()
        (self.pristine / str(OLD) / "saves" / "slot1.sav").write_bytes(SAVE)
        (self.pristine / "settings.ini").write_bytes(SETTINGS)

    @staticmethod
    def _publish(origin: Path, files: Files, release: int) -> ReleaseManifest:
        # With parts: edited chunks are rebuilt from local parts and ranges of the chunk.
        manifest = make_manifest(files, release, CHUNKS, part_params=PARTS)
        publish_chunks(origin, files, manifest)
        return manifest

    def copy(self, name: str) -> Path:
        target = self.root / name
        shutil.copytree(self.pristine, target, symlinks=True)
        return target

    async def crash(self, game_dir: Path, crash_at: int, action: str = "apply") -> tuple[int, str]:
        return await run_child(action, game_dir, self.manifest_file, self.cdn, crash_at)

    def check_consistent(self, game_dir: Path) -> int:
        """The game runs exactly the old or the new release, verified, player files intact."""
        pointer = read_pointer(game_dir)
        assert pointer is not None
        assert_release(game_dir, self.old)  # current, or kept for a rollback
        if pointer.release == NEW:
            assert pointer.previous == OLD
            assert_release(game_dir, self.new)
        else:
            assert (pointer.release, pointer.previous) == (OLD, OLDEST)
        current = game_dir / str(pointer.release)
        assert (current / "saves" / "slot1.sav").read_bytes() == SAVE
        assert (game_dir / str(OLD) / "saves" / "slot1.sav").read_bytes() == SAVE
        assert (game_dir / str(OLDEST) / "mods.cfg").read_bytes() == MODS
        assert (game_dir / "settings.ini").read_bytes() == SETTINGS
        return pointer.release


@pytest.fixture
async def scenario(tmp_path: Path) -> AsyncIterator[Scenario]:
    running, origin = await start_cdn(tmp_path / "cdn")
    yield Scenario(tmp_path, running, origin)
    await running.stop()


async def test_an_update_killed_at_any_point_is_old_or_new_then_completes(
    scenario: Scenario,
) -> None:
    code, out = await scenario.crash(scenario.copy("count"), 0)
    steps = json.loads(out)
    assert code == 0 and len(steps) >= 20, steps
    gate = asyncio.Semaphore(PARALLEL)
    outcomes: dict[str, tuple[int, RecoveryAction, int]] = {}

    async def crash_at(k: int) -> None:
        async with gate:
            game_dir = await asyncio.to_thread(scenario.copy, f"crash-{k}")
            code, _ = await scenario.crash(game_dir, k)
            assert code == KILLED
            recovery = await asyncio.to_thread(recover, game_dir)
            release = await asyncio.to_thread(scenario.check_consistent, game_dir)
            async with aiohttp.ClientSession() as http:
                applier = UpdateApplier(HttpChunkSource(http, [scenario.cdn]))
                result = await applier.apply(game_dir, scenario.new)
            assert scenario.check_consistent(game_dir) == NEW
            assert sorted(p.name for p in (game_dir / str(OLDEST)).iterdir()) == ["mods.cfg"]
            assert read_journal(game_dir) is None and not list(game_dir.glob(".staging-*"))
            outcomes[steps[k - 1]] = (release, recovery.action, result.resumed_files)

    await asyncio.gather(*(crash_at(k) for k in range(1, len(steps) + 1)))

    assert len(outcomes) == len(steps)
    assert outcomes["journal-staging"][0] == OLD
    assert outcomes["staging-verified"][:2] == (OLD, RecoveryAction.PARTIAL_KEPT)
    assert outcomes["journal-switching"][:2] == (NEW, RecoveryAction.COMPLETED)
    assert outcomes["pointer-written"][:2] == (NEW, RecoveryAction.COMPLETED)
    assert outcomes[f"retired-{OLDEST}"][:2] == (NEW, RecoveryAction.COMPLETED)
    assert max(resumed for _, _, resumed in outcomes.values()) == len(scenario.new.files)


async def test_a_recovery_killed_while_rolling_forward_is_recovered_again(
    scenario: Scenario,
) -> None:
    _, out = await scenario.crash(scenario.copy("count"), 0)
    steps = json.loads(out)
    switching = steps.index("journal-switching") + 1
    for k in range(switching, len(steps) + 1):
        game_dir = scenario.copy(f"twice-{k}")
        assert (await scenario.crash(game_dir, k))[0] == KILLED
        await scenario.crash(game_dir, 1, action="recover")
        recover(game_dir)
        assert scenario.check_consistent(game_dir) == NEW
        assert read_journal(game_dir) is None


async def start_child(scenario: Scenario, game_dir: Path) -> asyncio.subprocess.Process:
    """An update in a child process, returned once its imports are done and it starts."""
    process = await asyncio.create_subprocess_exec(
        *child_command("apply", game_dir, scenario.manifest_file, scenario.cdn, 0),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=child_env(),
    )  # fmt: skip
    assert process.stdout is not None
    async with asyncio.timeout(30):
        assert await process.stdout.readline() == b"started\n"
    return process


async def test_an_update_killed_with_sigkill_at_random_moments(scenario: Scenario) -> None:
    """Between the checkpoints too: SIGKILL at random moments of the update."""
    process = await start_child(scenario, scenario.copy("timing"))
    began = time.monotonic()
    async with asyncio.timeout(30):
        assert await process.wait() == 0
    duration = time.monotonic() - began
    rng = random.Random(7)
    gate = asyncio.Semaphore(PARALLEL)

    async def kill_at(run: int, delay: float) -> None:
        async with gate:
            game_dir = await asyncio.to_thread(scenario.copy, f"sigkill-{run}")
            process = await start_child(scenario, game_dir)
            await asyncio.sleep(delay)  # the kill lands at a random moment; nothing to wait for
            if process.returncode is None:
                process.kill()
            async with asyncio.timeout(30):
                await process.wait()
            await asyncio.to_thread(recover, game_dir)
            await asyncio.to_thread(scenario.check_consistent, game_dir)

    await asyncio.gather(*(kill_at(run, rng.uniform(0, duration)) for run in range(8)))
