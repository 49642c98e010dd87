"""The update applier: stage the new release beside the installed one, verify, switch.

Flow for ``apply(game_dir, manifest)``: finish or discard whatever update a crash left behind;
journal ``staging``; build ``.staging-<release>`` from local chunks and fetched ones; verify
every file; journal ``switching``; carry the player's files over, rename the staging
directory to ``<release>``, replace the pointer, retire the release nobody needs any more.
Until the pointer changes, the installed release is untouched and playable.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from peerpipe.logs import fields
from signing import ReleaseManifest

from .build import ProgressCallback, StagingRun, UpdateProgress
from .chunk_source import ChunkSource
from .errors import NotEnoughSpaceForUpdate, UpdateError, UpdateVerificationFailed
from .layout import (
    Phase,
    UpdateJournal,
    fsync_tree,
    game_lock,
    load_manifest,
    read_journal,
    read_pointer,
    release_dir,
    staging_dir,
    store_manifest,
    write_journal,
)
from .plan import plan_update
from .switch import Checkpoint, complete_switch, discard_update, no_checkpoint

log = logging.getLogger("peerpipe.peer.updates")
T = TypeVar("T")


@dataclass(frozen=True)
class UpdateResult:
    game_id: str
    from_release: int | None
    to_release: int
    total_bytes: int
    fetched_bytes: int  # includes chunks re-fetched because the installed copy was damaged
    reused_bytes: int
    resumed_files: int  # files an interrupted run had already staged
    changed: bool  # False when the release was already the current one


class UpdateApplier:
    """Applies updates to game directories, fetching missing chunks from ``chunks``."""

    def __init__(
        self,
        chunks: ChunkSource,
        *,
        checkpoint: Checkpoint = no_checkpoint,
        progress: ProgressCallback | None = None,
        window: int = 8,
    ) -> None:
        self._chunks = chunks
        self._checkpoint = checkpoint
        self._progress = progress or (lambda _: None)
        self._window = window

    async def apply(self, game_dir: Path, manifest: ReleaseManifest) -> UpdateResult:
        """Make ``manifest``'s release the current one (a fresh install if none is)."""
        with game_lock(game_dir):
            return await self._apply(game_dir, manifest)

    async def _apply(self, game_dir: Path, manifest: ReleaseManifest) -> UpdateResult:
        start = await _run_to_completion(self._begin, game_dir, manifest)
        if start is None:
            return UpdateResult(
                manifest.game_id, manifest.release, manifest.release, manifest.total_size,
                0, manifest.total_size, 0, changed=False,
            )  # fmt: skip
        installed, journal = start
        plan = plan_update(installed, manifest)
        run = StagingRun(
            plan,
            staging_dir(game_dir, plan.to_release),
            release_dir(game_dir, plan.from_release) if plan.from_release is not None else None,
            self._chunks,
            self._checkpoint,
            self._progress,
            self._window,
        )
        try:
            await run.stage()
        except OSError as exc:
            raise UpdateError(f"cannot write the staged release: {exc}") from None
        except UpdateVerificationFailed:
            await asyncio.to_thread(discard_update, game_dir, journal)
            raise
        await asyncio.to_thread(self._staged, game_dir, manifest)
        self._progress(UpdateProgress("switching", plan.total_bytes, plan.total_bytes, run.fetched))
        await _run_to_completion(self._switch, game_dir, journal)
        log.info(
            "update applied",
            extra=fields(
                game_id=plan.game_id, release=plan.to_release, fetched=run.fetched,
                resumed_files=run.resumed,
            ),
        )  # fmt: skip
        return UpdateResult(
            plan.game_id, plan.from_release, plan.to_release, plan.total_bytes,
            run.fetched, plan.total_bytes - run.fetched, run.resumed, changed=True,
        )  # fmt: skip

    def _begin(
        self, game_dir: Path, manifest: ReleaseManifest
    ) -> tuple[ReleaseManifest | None, UpdateJournal] | None:
        journal = read_journal(game_dir)
        if journal is not None and journal.phase is Phase.SWITCHING:
            complete_switch(game_dir, journal, self._checkpoint)
            journal = None
        pointer = read_pointer(game_dir)
        current = pointer.release if pointer else None
        if journal is not None and (
            journal.to_release != manifest.release or journal.from_release != current
        ):
            discard_update(game_dir, journal)
            journal = None
        if current == manifest.release:
            return None
        installed = load_manifest(game_dir, current) if current is not None else None
        if journal is None:
            _check_space(game_dir, manifest.total_size)
            store_manifest(game_dir, manifest)
            journal = UpdateJournal(manifest.game_id, current, manifest.release, Phase.STAGING)
            write_journal(game_dir, journal)
            self._checkpoint("journal-staging")
        staging_dir(game_dir, manifest.release).mkdir(exist_ok=True)
        return installed, journal

    def _staged(self, game_dir: Path, manifest: ReleaseManifest) -> None:
        # Every file was verified as it was built (or found staged and verified on resume);
        # their names become durable before the journal says the update may switch.
        fsync_tree(staging_dir(game_dir, manifest.release))
        self._checkpoint("staging-verified")

    def _switch(self, game_dir: Path, journal: UpdateJournal) -> None:
        pointer = read_pointer(game_dir)
        kept = pointer.kept if pointer else frozenset()
        retire = tuple(sorted(kept - {journal.to_release, journal.from_release}))
        switching = journal.advance(Phase.SWITCHING, retire)
        write_journal(game_dir, switching)
        self._checkpoint("journal-switching")
        complete_switch(game_dir, switching, self._checkpoint)


async def _run_to_completion(function: Callable[..., T], *args: Any) -> T:
    """Run ``function`` in a thread; if the caller is cancelled meanwhile, wait for the thread
    to finish before giving up the game lock (a journal or pointer write is never orphaned)."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


def _check_space(game_dir: Path, needed: int) -> None:
    free = shutil.disk_usage(game_dir).free
    if free < needed:
        raise NotEnoughSpaceForUpdate(
            f"not enough disk space in {game_dir}: the update stages {needed} bytes, "
            f"{free} are free"
        )
