"""Verify and repair of an installed game, and the disk-space refusal."""

import asyncio
from dataclasses import replace

from peer_support import (
    GAME,
    PIECE_LENGTH,
    BuiltRelease,
    CdnStub,
    LibraryStub,
    agent_config,
    start_agent,
)

from peer import DownloadState
from peerpipe.config import Config
from peerpipe.service import start_app

MIB = 1024 * 1024


async def test_verify_names_the_damage_and_repair_fetches_only_bad_pieces(
    built_release: BuiltRelease, agent_config: Config
) -> None:
    cdn = CdnStub({GAME: built_release}, 4 * MIB)
    cdn_app = await start_app(cdn.app())
    library_stub = LibraryStub(owned={GAME})
    library = await start_app(library_stub.app())
    config = agent_config_for(agent_config, cdn_app.url, library.url)
    agent = await start_agent(config, {GAME: built_release})
    root = config.agent.install_dir / GAME / str(built_release.release)
    try:
        download = await agent.engine.install(GAME)
        async with asyncio.timeout(30):
            assert (await agent.engine.wait(download.id)).state is DownloadState.INSTALLED
        status, report = await agent.call("POST", f"/api/v1/content/{GAME}/verify")
        assert status == 200 and report["ok"] and report["mismatches"] == []
        status, manifest = await agent.call("GET", f"/api/v1/content/{GAME}/manifest")
        assert {item["path"] for item in manifest["files"]} == {"game.bin", "data/levels.pak"}

        with (root / "game.bin").open("r+b") as handle:  # one bad piece in the big file
            handle.seek(PIECE_LENGTH * 5 + 17)
            handle.write(b"\x00garbage\x00")
        (root / "data" / "levels.pak").unlink()  # one file gone
        status, report = await agent.call("POST", f"/api/v1/content/{GAME}/verify")
        assert not report["ok"]
        assert {(m["path"], m["reason"]) for m in report["mismatches"]} == {
            ("game.bin", "SHA-256 does not match the manifest"),
            ("data/levels.pak", "missing"),
        }

        served_before = cdn.served
        status, repairing = await agent.call("POST", f"/api/v1/content/{GAME}/repair")
        assert status == 202 and repairing["id"] == download.id
        async with asyncio.timeout(30):
            repaired = await agent.engine.wait(download.id)
        assert repaired.state is DownloadState.INSTALLED, repaired.error
        status, report = await agent.call("POST", f"/api/v1/content/{GAME}/verify")
        assert report["ok"]
    finally:
        await agent.stop()
        await asyncio.gather(cdn_app.stop(), library.stop())
    lost = 900_000 + PIECE_LENGTH  # the missing file and the corrupted piece
    # pieces straddle the two files: allow one piece either side of each damaged region
    assert cdn.served - served_before <= lost + 2 * PIECE_LENGTH


def agent_config_for(base: Config, cdn: str, library: str) -> Config:
    return agent_config(base, cdn=[cdn], library=library)


async def test_not_enough_disk_space_refuses_before_anything_starts(
    built_release: BuiltRelease, agent_config: Config
) -> None:
    huge = replace(built_release, total_size=10**16)
    cdn = CdnStub({GAME: built_release}, 4 * MIB)
    cdn_app = await start_app(cdn.app())
    library = await start_app(LibraryStub(owned={GAME}).app())
    config = agent_config_for(agent_config, cdn_app.url, library.url)
    agent = await start_agent(config, {GAME: huge})
    try:
        status, created = await agent.call("POST", "/api/v1/downloads", {"game_id": GAME})
        assert status == 202
        async with asyncio.timeout(30):
            download = await agent.engine.wait(created["id"])
    finally:
        await agent.stop()
        await asyncio.gather(cdn_app.stop(), library.stop())
    assert download.state is DownloadState.FAILED
    assert download.error is not None
    assert download.error.startswith("not enough disk space")
    assert f"needs {10**16} bytes" in download.error
    assert cdn.served == 0 and not (config.agent.install_dir / GAME).exists()
