"""``peerpipe library …`` and ``peerpipe admin grant|revoke`` against a running API."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from library_support import Library, library_config

from library_api.commands import register, register_admin
from peerpipe.config import Config
from peerpipe.service import free_port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peerpipe")
    commands = parser.add_subparsers(dest="command", required=True)
    register(commands)
    admin = commands.add_parser("admin").add_subparsers(dest="admin_command", required=True)
    register_admin(admin)
    return parser


def _run(argv: list[str], config: Config) -> int:
    args = _parser().parse_args(argv)
    code: int = args.handler(args, config)
    return code


def _pointed_at(library: Library) -> Config:
    return replace(library.config, library=replace(library.config.library, public_url=library.url))


async def test_admin_grant_and_revoke_change_access(
    library: Library, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _pointed_at(library)
    argv = ["admin", "grant", "--user", "alice", "--game", "space-game", "--type", "gift"]
    assert await asyncio.to_thread(_run, argv, config) == 0
    assert "granted game space-game to user alice (gift)" in capsys.readouterr().out
    assert (await library.access(user_id="alice", game_id="space-game"))["allowed"] is True
    argv = ["admin", "revoke", "--user", "alice", "--game", "space-game"]
    assert await asyncio.to_thread(_run, argv, config) == 0
    assert (await library.access(user_id="alice", game_id="space-game"))["allowed"] is False


async def test_admin_errors_are_one_line(
    library: Library, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["admin", "revoke", "--user", "alice", "--game", "never-owned"]
    assert await asyncio.to_thread(_run, argv, _pointed_at(library)) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "404" in error and "never-owned" in error


def test_unreachable_library_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = library_config(tmp_path, "")
    url = f"http://127.0.0.1:{free_port()}"
    config = replace(config, library=replace(config.library, public_url=url))
    assert _run(["admin", "grant", "--user", "a", "--game", "g"], config) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: library API at {url} is unreachable")
    assert error.count("\n") == 1


def test_library_migrate_builds_the_default_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["library", "migrate"], library_config(tmp_path, "")) == 0
    assert (tmp_path / "library.db").exists()
    assert "newest schema" in capsys.readouterr().out


def test_serve_with_an_unusable_database_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = library_config(tmp_path, "mysql://nobody@127.0.0.1/none")
    config = replace(config, library=replace(config.library, port=free_port()))
    assert _run(["library", "serve"], config) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: unsupported database 'mysql'") and error.count("\n") == 1
