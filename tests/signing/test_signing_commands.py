"""``peerpipe admin keys …`` / ``admin trust …`` through the argparse tree the CLI builds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from signing_support import make_manifest, run

from peerpipe.config import Config
from signing import TrustRepository, load_signer


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # The passphrase a publisher or admin would give in PEERPIPE_KEY_PASSPHRASE.
    return replace(Config().with_data_dir(tmp_path / "data"), key_passphrase="demo passphrase")


@pytest.fixture
def passphrase() -> str:
    return "demo passphrase"


def last_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    value: dict[str, object] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return value


def test_admin_builds_a_root_of_trust_a_publisher_can_sign_into(
    config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin_key, publisher_key = tmp_path / "admin.pem", tmp_path / "acme.pem"
    assert run(config, "keys", "generate", "--out", str(admin_key), "--json") == 0
    assert last_json(capsys)["encrypted"] is True
    assert run(config, "keys", "generate", "--out", str(publisher_key), "--no-passphrase") == 0
    assert run(config, "trust", "init", "--root-key", str(admin_key), "--json") == 0
    assert Path(str(last_json(capsys)["root_file"])).exists()
    assert (
        run(
            config,
            "trust",
            "add-publisher",
            "acme",
            "--key",
            f"{publisher_key}.pub",
            "--games",
            "space-miner, moon-base",
            "--admin-key",
            str(admin_key),
            "--json",
        )
        == 0
    )
    assert last_json(capsys)["games"] == ["space-miner", "moon-base"]
    TrustRepository(config.trust_dir).publish_release(
        make_manifest(release=4), load_signer(publisher_key, None)
    )

    assert run(config, "trust", "show", "--json") == 0
    summary = last_json(capsys)
    publishers = summary["publishers"]
    assert isinstance(publishers, list)
    [publisher] = publishers
    assert publisher["games"] == ["moon-base", "space-miner"]
    assert publisher["latest"] == {"space-miner": 4}
    assert run(config, "trust", "show") == 0
    assert "space-miner@4" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("trust", "show"), "not initialised"),
        (("trust", "init", "--root-key", "{tmp}/missing.pem"), "does not exist"),
        (("trust", "init", "--root-key", "{tmp}/admin.pem", "--threshold", "2"), "threshold"),
        (("keys", "generate", "--out", "{tmp}/admin.pem"), "already exists"),
    ],
)
def test_misuse_is_one_line_on_stderr_with_exit_code_2(
    config: Config,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    assert run(config, "keys", "generate", "--out", str(tmp_path / "admin.pem")) == 0
    capsys.readouterr()
    assert run(config, *(arg.format(tmp=tmp_path) for arg in argv)) == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1
    assert "Traceback" not in error


def test_trust_misuse_after_init(
    config: Config,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin_key = tmp_path / "admin.pem"
    run(config, "keys", "generate", "--out", str(admin_key))
    run(config, "trust", "init", "--root-key", str(admin_key))
    capsys.readouterr()
    assert run(config, "trust", "init", "--root-key", str(admin_key)) == 2
    assert "already initialised" in capsys.readouterr().err
    add = ("trust", "add-publisher", "acme", "--key", f"{admin_key}.pub", "--admin-key")
    assert run(config, *add, str(admin_key), "--games", " , ") == 2
    assert "names no game" in capsys.readouterr().err
    assert run(config, *add, str(admin_key), "--games", "ok,../bad") == 2
    assert "invalid game id" in capsys.readouterr().err
    assert (
        run(replace(config, key_passphrase="wrong"), *add, str(admin_key), "--games", "space-miner")
        == 2
    )
    assert "wrong passphrase" in capsys.readouterr().err
