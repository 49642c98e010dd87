"""The install directory seen by the update endpoints: installed games, update checks and
recovery of every game at start-up."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from updates_support import make_manifest, patched_game, write_tree

from peer.updates import (
    Phase,
    RecoveryAction,
    UpdateJournal,
    check_update,
    installed_games,
    record_install,
    recover_all,
)
from peer.updates.layout import write_journal
from signing import ReleasePointer


def test_installed_games_checks_and_recovery(tmp_path: Path) -> None:
    old_files, new_files = patched_game(seed=80)
    old, new = make_manifest(old_files, 1), make_manifest(new_files, 2)
    for name in ("alpha", "beta"):
        write_tree(tmp_path / name / "1", old_files)
        record_install(tmp_path / name, make_manifest(old_files, 1, game_id=name))
    (tmp_path / "not a game!").mkdir()
    write_journal(tmp_path / "beta", UpdateJournal("beta", 1, 2, Phase.STAGING))
    (tmp_path / "beta" / ".staging-2").mkdir()

    games = {game.game_id: game.to_json() for game in installed_games(tmp_path)}

    assert games == {
        "alpha": {
            "game_id": "alpha",
            "release": 1,
            "previous_release": None,
            "pending_release": None,
        },
        "beta": {"game_id": "beta", "release": 1, "previous_release": None, "pending_release": 2},
    }
    check = check_update(tmp_path / "alpha", replace(new, game_id="alpha"))
    body = check.to_json()
    assert body["update_available"] and body["installed_release"] == 1
    assert 0 < body["plan"]["fetch_bytes"] < new.total_size
    assert not check_update(
        tmp_path / "alpha", make_manifest(old_files, 1, game_id="alpha")
    ).available
    assert check_update(tmp_path / "fresh", old).plan is not None  # not installed: a full install
    recoveries = recover_all(tmp_path)
    assert recoveries["alpha"].action is RecoveryAction.NOTHING
    assert recoveries["beta"].action is RecoveryAction.PARTIAL_KEPT


def test_a_critical_release_must_be_installed_and_carries_its_changelog(tmp_path: Path) -> None:
    old_files, new_files = patched_game(seed=81)
    old, new = make_manifest(old_files, 1), make_manifest(new_files, 2)
    write_tree(tmp_path / "game" / "1", old_files)
    record_install(tmp_path / "game", old)
    pointer = ReleasePointer(new.game_id, 2, new.version, critical=True, changelog="Fixes\nall")

    check = check_update(tmp_path / "game", new, pointer)

    body = check.to_json()
    assert (body["critical"], body["must_update"], body["changelog"]) == (True, True, "Fixes\nall")
    installed = check_update(tmp_path / "game", old, ReleasePointer(old.game_id, 1, old.version))
    assert not installed.must_update and installed.to_json()["changelog"] == ""
    current = check_update(tmp_path / "game", old, replace(pointer, release=1, version=old.version))
    assert current.critical and not current.must_update  # already on the critical release
    with pytest.raises(ValueError, match=r"latest\.json names"):
        check_update(tmp_path / "game", old, pointer)
