"""The install directory as the agent's update endpoints see it (blocking: run in a thread).

``recover_all`` is what the agent runs at start-up; ``installed_games`` and ``check_update``
back ``GET /api/v1/updates`` and ``POST /api/v1/updates/{game}/check``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peerpipe.logs import fields
from signing import ReleaseManifest, ReleasePointer
from signing.manifest import GAME_ID

from .errors import UpdateError
from .layout import read_journal, read_pointer
from .plan import UpdatePlan, plan_update
from .switch import Recovery, installed_manifest, recover

log = logging.getLogger("peerpipe.peer.updates")


@dataclass(frozen=True)
class InstalledGame:
    game_id: str
    release: int
    previous: int | None  # what ``rollback`` would switch to
    pending_release: int | None  # an interrupted update that can be resumed

    def to_json(self) -> dict[str, Any]:
        return {
            "game_id": self.game_id,
            "release": self.release,
            "previous_release": self.previous,
            "pending_release": self.pending_release,
        }


def game_dirs(install_dir: Path) -> list[Path]:
    if not install_dir.is_dir():
        return []
    return sorted(p for p in install_dir.iterdir() if p.is_dir() and GAME_ID.fullmatch(p.name))


def recover_all(install_dir: Path) -> dict[str, Recovery]:
    """Recover every game after an unclean stop; a game that cannot be recovered is logged
    and left as it is (the others still start)."""
    results = {}
    for game_dir in game_dirs(install_dir):
        try:
            results[game_dir.name] = recover(game_dir)
        except (UpdateError, OSError) as exc:
            log.error("game not recovered", extra=fields(game_id=game_dir.name, error=str(exc)))
    return results


def installed_games(install_dir: Path) -> list[InstalledGame]:
    """Games with a current release (set by an update or ``record_install``)."""
    found = []
    for game_dir in game_dirs(install_dir):
        try:
            pointer = read_pointer(game_dir)
            journal = read_journal(game_dir)
        except UpdateError as exc:
            log.error("game state unreadable", extra=fields(game_id=game_dir.name, error=str(exc)))
            continue
        if pointer is not None:
            pending = journal.to_release if journal is not None else None
            found.append(InstalledGame(game_dir.name, pointer.release, pointer.previous, pending))
    return found


@dataclass(frozen=True)
class UpdateCheck:
    game_id: str
    installed_release: int | None
    latest_release: int
    plan: UpdatePlan | None  # None when the latest release is the installed one
    critical: bool = False  # the latest release is critical (see ``must_update``)
    changelog: str = ""  # the latest release's notes, as its publisher signed them
    unlock_at: str | None = None  # the latest release is a preload, locked until then
    locked: bool = False  # ... and that time has not come yet: it can only be preloaded

    @property
    def available(self) -> bool:
        return self.plan is not None

    @property
    def must_update(self) -> bool:
        """A critical release is out and not installed: the game must not launch. A release
        still locked cannot be installed yet, so it blocks nothing until it unlocks."""
        return self.critical and self.available and not self.locked

    def to_json(self) -> dict[str, Any]:
        return {
            "game_id": self.game_id,
            "installed_release": self.installed_release,
            "latest_release": self.latest_release,
            "update_available": self.available,
            "critical": self.critical,
            "must_update": self.must_update,
            "changelog": self.changelog,
            "unlock_at": self.unlock_at,
            "locked": self.locked,
            "plan": self.plan.summary() if self.plan is not None else None,
        }


def check_update(
    game_dir: Path,
    latest: ReleaseManifest,
    pointer: ReleasePointer | None = None,
    now: datetime | None = None,
) -> UpdateCheck:
    """What updating ``game_dir`` to ``latest`` (a verified manifest) would transfer.

    ``pointer`` is the signed ``latest.json`` that named ``latest`` (``TrustClient.
    fetch_latest`` returns both); it says whether the release is critical and holds its
    changelog. A release with an unlock time later than ``now`` is ``locked``."""
    if pointer is not None and (pointer.game_id, pointer.release) != (
        latest.game_id,
        latest.release,
    ):
        raise ValueError(
            f"latest.json names {pointer.game_id} release {pointer.release}, "
            f"the manifest is {latest.game_id} release {latest.release}"
        )
    installed = installed_manifest(game_dir)
    current = installed.release if installed is not None else None
    plan = None if current == latest.release else plan_update(installed, latest)
    critical = pointer.critical if pointer is not None else False
    changelog = pointer.changelog if pointer is not None else ""
    locked = plan is not None and still_locked(latest, now or datetime.now(UTC))
    return UpdateCheck(
        latest.game_id, current, latest.release, plan, critical, changelog, latest.unlock_at,
        locked,
    )  # fmt: skip


def still_locked(manifest: ReleaseManifest, now: datetime) -> bool:
    """Whether ``manifest`` is a preload whose unlock time is still to come (the library
    has the last word: it hands the key out by its own clock)."""
    if manifest.unlock_at is None:
        return False
    return datetime.fromisoformat(manifest.unlock_at) > now
