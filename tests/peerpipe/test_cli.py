from __future__ import annotations

import json
from pathlib import Path

import pytest

from peerpipe.cli import main
from peerpipe.tokens import Role, TokenVerifier

KEY = "platform-key-" + "x" * 40


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("PEERPIPE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PEERPIPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PEERPIPE_PLATFORM_KEY", KEY)
    monkeypatch.setenv("PEERPIPE_LOG_FORMAT", "text")


def test_admin_token_mints_a_token_the_services_accept(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "token", "--user", "alice", "--role", "admin", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    identity = TokenVerifier(KEY).verify(printed["token"])
    assert (identity.user_id, identity.role) == ("alice", Role.ADMIN)


def test_unknown_role_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["admin", "token", "--user", "alice", "--role", "god"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bad_configuration_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PEERPIPE_LIBRARY_PORT", "eighty")
    assert main(["admin", "token", "--user", "alice"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("peerpipe: PEERPIPE_LIBRARY_PORT") and "\n" not in err


def test_every_documented_command_exists(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["library", "serve"], ["tracker", "serve"], ["seeder", "serve"], ["publish"],
        ["agent", "serve"], ["install"], ["admin", "token"], ["admin", "keys"],
        ["admin", "trust"], ["admin", "grant"], ["demo"],
    ):  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            main([*argv, "--help"])
        assert exited.value.code == 0, argv
    assert "usage: peerpipe" in capsys.readouterr().out
