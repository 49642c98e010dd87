"""``admin trust remove-publisher|revoke-key|rotate-root|show``: JSON output and misuse."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from signing_support import make_manifest, run

from peerpipe.config import Config
from signing import TrustRepository, load_public_key, load_signer, public_key_path


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # The passphrase a publisher or admin would give in PEERPIPE_KEY_PASSPHRASE.
    return replace(Config().with_data_dir(tmp_path / "data"), key_passphrase="demo passphrase")


@pytest.fixture
def keys(tmp_path: Path, config: Config, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    """admin1 (root), acme and bolt (publishers), admin2 and acme2 (spares)."""
    paths = {name: tmp_path / f"{name}.pem" for name in ("admin1", "admin2", "acme", "bolt")}
    paths["acme2"] = tmp_path / "acme2.pem"
    for path in paths.values():
        assert run(config, "keys", "generate", "--out", str(path)) == 0
    assert run(config, "trust", "init", "--root-key", str(paths["admin1"])) == 0
    for name, games in (("acme", "space-miner"), ("bolt", "kart-racer")):
        admin = ("--admin-key", str(paths["admin1"]))
        argv = ("trust", "add-publisher", name, "--key", f"{paths[name]}.pub", "--games", games)
        assert run(config, *argv, *admin) == 0
    capsys.readouterr()
    return paths


def output(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def keyid(path: Path) -> str:
    return load_public_key(public_key_path(path)).keyid


def test_show_lists_roles_keys_thresholds_expiries_and_versions(
    config: Config, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "trust", "show", "--json") == 0
    summary = output(capsys)
    roles = {role["name"]: role for role in summary["roles"]}
    assert set(roles) == {"root", "targets", "snapshot", "timestamp"}
    assert roles["root"]["keyids"] == [keyid(keys["admin1"])]
    assert roles["root"]["threshold"] == 1 and roles["root"]["version"] == 1
    assert roles["targets"]["version"] == 3  # init, then two publishers
    assert all(role["expires"].endswith("+00:00") for role in roles.values())
    uses = {key["keyid"]: key["roles"] for key in summary["keys"]}
    assert uses[keyid(keys["admin1"])] == ["root", "targets"]
    assert uses[keyid(keys["bolt"])] == ["publisher:bolt"]
    assert summary["revoked_keyids"] == []
    assert [p["name"] for p in summary["publishers"]] == ["acme", "bolt"]


def test_remove_publisher(
    config: Config, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    admin = ("--admin-key", str(keys["admin1"]))
    assert run(config, "trust", "remove-publisher", "bolt", *admin, "--json") == 0
    assert output(capsys) == {"publisher": "bolt", "games": ["kart-racer"]}
    run(config, "trust", "show", "--json")
    assert [p["name"] for p in output(capsys)["publishers"]] == ["acme"]


def test_revoke_publisher_key_with_a_replacement_re_signs_its_releases(
    config: Config, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    TrustRepository(config.trust_dir).publish_release(
        make_manifest(), load_signer(keys["acme"], b"demo passphrase")
    )
    admin = ("--admin-key", str(keys["admin1"]))
    old = keyid(keys["acme"])
    argv = ("trust", "revoke-key", old[:10], "--new-key", str(keys["acme2"]), *admin, "--json")
    assert run(config, *argv) == 0
    result = output(capsys)
    assert result["keyid"] == old
    assert result["removed_from"] == ["acme"]
    assert result["replacement_keyid"] == keyid(keys["acme2"])
    assert result["resigned"] == ["targets", "acme", "snapshot", "timestamp"]
    run(config, "trust", "show", "--json")
    summary = output(capsys)
    assert summary["revoked_keyids"] == [old]
    [acme, _] = summary["publishers"]
    assert acme["keyids"] == [keyid(keys["acme2"])] and acme["version"] == 2


def test_revoke_online_key_replaces_it(
    config: Config, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run(config, "trust", "show", "--json")
    [timestamp_key] = {r["name"]: r for r in output(capsys)["roles"]}["timestamp"]["keyids"]
    admin = ("--admin-key", str(keys["admin1"]))
    assert run(config, "trust", "revoke-key", timestamp_key, *admin, "--json") == 0
    result = output(capsys)
    assert result["removed_from"] == ["timestamp"]
    assert result["resigned"] == ["root", "snapshot", "timestamp"]
    run(config, "trust", "show", "--json")
    roles = {r["name"]: r for r in output(capsys)["roles"]}
    assert roles["timestamp"]["keyids"] == [result["replacement_keyid"]]
    assert roles["root"]["version"] == 2
    online = config.trust_dir / "online-keys"
    replacement = load_signer(online / "timestamp.pem", None).public_key.keyid
    assert replacement == result["replacement_keyid"] != timestamp_key
    assert sorted(p.name for p in online.iterdir()) == [
        "snapshot.pem",
        "snapshot.pem.pub",
        "timestamp.pem",
        "timestamp.pem.pub",
    ]


def test_rotate_root(
    config: Config, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("trust", "rotate-root", "--old-key", str(keys["admin1"]))
    assert run(config, *argv, "--new-key", str(keys["admin2"]), "--json") == 0
    assert output(capsys) == {
        "version": 2,
        "keyids": [keyid(keys["admin2"])],
        "threshold": 1,
        "retired_keyids": [keyid(keys["admin1"])],
    }
    assert run(config, "trust", "show") == 0
    text = capsys.readouterr().out
    assert f"key {keyid(keys['admin1'])}  REVOKED" in text
    assert "root       v2" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("remove-publisher", "nobody", "--admin-key", "{admin1}"), "no publisher 'nobody'"),
        (("remove-publisher", "acme", "--admin-key", "{acme}"), "not one of the admin keys"),
        (("revoke-key", "abc", "--admin-key", "{admin1}"), "at least 8 characters"),
        (("revoke-key", "0123456789", "--admin-key", "{admin1}"), "no key 0123456789"),
        (("revoke-key", "{admin1_id}", "--admin-key", "{admin1}"), "rotate-root"),
        (
            ("revoke-key", "{acme_id}", "--new-key", "{tmp}/nope.pem", "--admin-key", "{admin1}"),
            "does not exist",
        ),
        (
            ("revoke-key", "{acme_id}", "--new-key", "{acme}", "--admin-key", "{admin1}"),
            "revoked key",
        ),
        (("revoke-key", "{acme_id}", "--admin-key", "{admin2}"), "not one of the admin keys"),
        (
            ("rotate-root", "--old-key", "{admin2}", "--new-key", "{admin2}"),
            "not one of the old root keys",
        ),
        (
            ("rotate-root", "--old-key", "{admin1}", "--new-key", "{admin2}", "--threshold", "2"),
            "threshold 2",
        ),
        (
            ("rotate-root", "--old-key", "{admin1}", "--new-key", "{admin2}", "--threshold", "0"),
            "must be at least 1",
        ),
    ],
)
def test_admin_misuse_is_one_line_on_stderr_with_exit_code_2(
    config: Config,
    keys: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    names = {name: str(path) for name, path in keys.items()}
    ids = {f"{name}_id": keyid(path) for name, path in keys.items()}
    before = sorted(p.name for p in (config.trust_dir / "metadata").iterdir())
    assert run(config, "trust", *(a.format(tmp=tmp_path, **names, **ids) for a in argv)) == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1 and "Traceback" not in error
    assert sorted(p.name for p in (config.trust_dir / "metadata").iterdir()) == before


def test_revoking_twice_is_refused(
    config: Config, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("trust", "revoke-key", keyid(keys["bolt"]), "--admin-key", str(keys["admin1"]))
    assert run(config, *argv) == 0
    assert run(config, *argv) == 2
    assert "already revoked" in capsys.readouterr().err


def test_refresh_re_signs_the_timestamp_only_when_it_expires_within_the_margin(
    config: Config, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "trust", "refresh", "--json") == 0
    assert output(capsys)["refreshed"] is False  # fresh: 6 hours left, 2 hours margin
    assert run(config, "trust", "refresh", "--margin-hours", "7", "--json") == 0
    result = output(capsys)
    assert result["refreshed"] is True
    assert result["timestamp_expires"].endswith("+00:00")
    assert run(config, "trust", "refresh", "--margin-hours", "0") == 2
    assert "must be above 0" in capsys.readouterr().err


def test_renew_re_signs_offline_roles_with_fresh_expiries(
    config: Config, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    TrustRepository(config.trust_dir).publish_release(
        make_manifest(), load_signer(keys["acme"], b"demo passphrase")
    )
    argv = ("trust", "renew", "--admin-key", str(keys["admin1"]))
    assert run(config, *argv, "--publisher-key", str(keys["acme"]), "--json") == 0
    assert output(capsys) == {"renewed": {"root": 2, "targets": 4, "acme": 2}}
    assert run(config, "trust", "renew") == 2
    assert "give --admin-key" in capsys.readouterr().err
    assert run(config, "trust", "renew", "--publisher-key", str(keys["bolt"])) == 2
    assert "published nothing" in capsys.readouterr().err
