"""The player's commands against a running agent (handlers called as the CLI calls them)."""

import argparse
import asyncio
import json
from typing import Any

import pytest
from peer_support import GAME, BuiltRelease, CdnStub, LibraryStub, agent_config, start_agent

from peer.commands import (
    change_download,
    list_downloads,
    repair_game,
    set_settings,
    show_settings,
    verify_game,
)
from peerpipe.config import Config
from peerpipe.service import start_app

MIB = 1024 * 1024


async def run(handler: Any, config: Config, **args: Any) -> int:
    return int(await asyncio.to_thread(handler, argparse.Namespace(**args), config))


async def test_player_commands(
    built_release: BuiltRelease, agent_config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    cdn_app = await start_app(CdnStub({GAME: built_release}, 8 * MIB).app())
    library = await start_app(LibraryStub(owned={GAME}).app())
    config = agent_config_for(agent_config, cdn_app.url, library.url)
    agent = await start_agent(config, {GAME: built_release})
    url = agent.running.url
    try:
        assert await run(set_settings, config, agent_url=url, assignments=[
            "max_concurrent_downloads=3", "preferred_region=eu-west",
        ]) == 0  # fmt: skip
        assert await run(show_settings, config, agent_url=url) == 0
        shown = json.loads(capsys.readouterr().out.split("\n}\n")[-2] + "\n}")
        assert shown["max_concurrent_downloads"] == 3 and shown["preferred_region"] == "eu-west"
        assert await run(set_settings, config, agent_url=url, assignments=["nope"]) == 2
        assert "expected NAME=VALUE" in capsys.readouterr().err

        download = await agent.engine.install(GAME)
        async with asyncio.timeout(30):
            await agent.engine.wait(download.id)
        assert await run(list_downloads, config, agent_url=url) == 0
        listed = capsys.readouterr().out
        assert download.id[:8] in listed and "installed" in listed
        assert await run(change_download, config, agent_url=url, download_id=download.id[:8],
                         action="pause") == 2  # fmt: skip
        assert "409" in capsys.readouterr().err
        assert await run(verify_game, config, agent_url=url, game=GAME) == 0
        assert "2 files ok" in capsys.readouterr().out

        game_file = config.agent.install_dir / GAME / "1" / "game.bin"
        with game_file.open("r+b") as handle:
            handle.write(b"broken")
        assert await run(verify_game, config, agent_url=url, game=GAME) == 1
        assert "game.bin: SHA-256 does not match the manifest" in capsys.readouterr().out
        assert await run(repair_game, config, agent_url=url, game=GAME) == 0
        assert f"repaired {GAME}" in capsys.readouterr().out
        assert await run(verify_game, config, agent_url=url, game="other") == 2
        assert "not installed" in capsys.readouterr().err
    finally:
        await agent.stop()
        await asyncio.gather(cdn_app.stop(), library.stop())


def agent_config_for(base: Config, cdn: str, library: str) -> Config:
    return agent_config(base, cdn=[cdn], library=library)
