"""The on-disk layout of an installed game and its small, atomically written state files.

``<install_dir>/<game>/`` (the *game directory*) holds:

- ``<release>/<path>``: one directory per kept release (docs/contracts.md install layout);
- ``current.json``: ``{"release": int, "previous": int | null}``, the pointer a launcher
  follows; replacing it (``os.replace``) is the one atomic step that switches releases;
- ``.staging-<release>/``: the release an update is building;
- ``.update.json``: the update journal, present only while an update is in progress;
- ``.manifests/<release>.json``: the verified manifest of every kept or staged release;
- ``.swarm-<release>/``: pieces an update took from other players (``swarm_source``);
- ``.preload-<release>/``: sealed chunks of a preloaded release (``sealed``);
- ``.preload.json``: ``{"game_id": str, "release": int}``, the preload the player started
  and not yet unlocked, so a restarted agent shows it and resumes it (its manifest is kept in
  ``.manifests/``).

Anything else (saves, configs, mods) belongs to the player and is never modified.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signing import ReleaseManifest, TrustError

from .errors import CorruptUpdateState, UpdateInProgress

POINTER_NAME = "current.json"
JOURNAL_NAME = ".update.json"
LOCK_NAME = ".update.lock"
PRELOAD_RECORD_NAME = ".preload.json"
MANIFESTS_DIR = ".manifests"
STAGING_PREFIX = ".staging-"


def release_dir(game_dir: Path, release: int) -> Path:
    return game_dir / str(int(release))


def staging_dir(game_dir: Path, release: int) -> Path:
    return game_dir / f"{STAGING_PREFIX}{int(release)}"


@dataclass(frozen=True)
class CurrentRelease:
    """Which release a game runs, and the one kept for an explicit rollback."""

    release: int
    previous: int | None = None

    @property
    def kept(self) -> frozenset[int]:
        return frozenset(r for r in (self.release, self.previous) if r is not None)


class Phase(enum.StrEnum):
    STAGING = "staging"  # building .staging-<to>; the installed release is untouched
    SWITCHING = "switching"  # staging verified; the switch is rolled forward on recovery


@dataclass(frozen=True)
class UpdateJournal:
    """Progress of the one update in flight for a game."""

    game_id: str
    from_release: int | None
    to_release: int
    phase: Phase
    retire: tuple[int, ...] = ()  # kept releases the switch drops (decided before it starts)

    def advance(self, phase: Phase, retire: tuple[int, ...] = ()) -> UpdateJournal:
        return UpdateJournal(self.game_id, self.from_release, self.to_release, phase, retire)


def read_pointer(game_dir: Path) -> CurrentRelease | None:
    value = _read_json(game_dir / POINTER_NAME)
    if value is None:
        return None
    try:
        release, previous = value["release"], value["previous"]
        _check_release(release)
        if previous is not None:
            _check_release(previous)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptUpdateState(f"{game_dir / POINTER_NAME} is not a release pointer") from exc
    return CurrentRelease(release, previous)


def write_pointer(game_dir: Path, pointer: CurrentRelease) -> None:
    write_json_atomically(
        game_dir / POINTER_NAME, {"release": pointer.release, "previous": pointer.previous}
    )


def read_journal(game_dir: Path) -> UpdateJournal | None:
    value = _read_json(game_dir / JOURNAL_NAME)
    if value is None:
        return None
    try:
        journal = UpdateJournal(
            game_id=str(value["game_id"]),
            from_release=value["from_release"],
            to_release=value["to_release"],
            phase=Phase(value["phase"]),
            retire=tuple(value.get("retire", ())),
        )
        for release in journal.retire:
            _check_release(release)
        _check_release(journal.to_release)
        if journal.from_release is not None:
            _check_release(journal.from_release)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptUpdateState(f"{game_dir / JOURNAL_NAME} is not an update journal") from exc
    return journal


def write_journal(game_dir: Path, journal: UpdateJournal) -> None:
    write_json_atomically(
        game_dir / JOURNAL_NAME,
        {
            "game_id": journal.game_id,
            "from_release": journal.from_release,
            "to_release": journal.to_release,
            "phase": str(journal.phase),
            "retire": list(journal.retire),
        },
    )


def clear_journal(game_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(game_dir / JOURNAL_NAME)
    fsync_dir(game_dir)


def read_preload_record(game_dir: Path) -> int | None:
    """The release a preload was started for (and not yet unlocked or given up), if any."""
    value = _read_json(game_dir / PRELOAD_RECORD_NAME)
    if value is None:
        return None
    release = value.get("release")
    try:
        _check_release(release)
    except ValueError as exc:
        raise CorruptUpdateState(f"{game_dir / PRELOAD_RECORD_NAME}: {exc}") from None
    return int(value["release"])


def write_preload_record(game_dir: Path, manifest: ReleaseManifest) -> None:
    write_json_atomically(
        game_dir / PRELOAD_RECORD_NAME,
        {"game_id": manifest.game_id, "release": manifest.release},
    )


def clear_preload_record(game_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(game_dir / PRELOAD_RECORD_NAME)
        fsync_dir(game_dir)


def manifest_path(game_dir: Path, release: int) -> Path:
    return game_dir / MANIFESTS_DIR / f"{int(release)}.json"


def store_manifest(game_dir: Path, manifest: ReleaseManifest) -> None:
    """Keep the verified manifest of a release next to it (recovery and rollback need it)."""
    target = manifest_path(game_dir, manifest.release)
    data = manifest.encoded()
    if target.is_file() and target.read_bytes() == data:
        return
    write_bytes_atomically(target, data)


def load_manifest(game_dir: Path, release: int) -> ReleaseManifest:
    path = manifest_path(game_dir, release)
    try:
        return ReleaseManifest.from_json(path.read_bytes())
    except OSError as exc:
        raise CorruptUpdateState(f"the manifest of release {release} is missing: {exc}") from None
    except TrustError as exc:
        raise CorruptUpdateState(f"{path} is not a release manifest: {exc}") from None


def write_json_atomically(target: Path, value: Any) -> None:
    write_bytes_atomically(target, json.dumps(value, sort_keys=True).encode("utf-8"))


def write_bytes_atomically(target: Path, data: bytes) -> None:
    """Write under a temporary name, fsync, rename over ``target``, fsync the directory:
    after a crash ``target`` holds either its old bytes or the new ones, never a mix."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    fsync_dir(target.parent)


@contextlib.contextmanager
def game_lock(game_dir: Path) -> Iterator[None]:
    """Exclusive use of a game directory for one update, rollback or recovery at a time.

    ``flock`` dies with its process, so a killed agent never leaves the game locked."""
    game_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(game_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateInProgress(f"{game_dir} is being updated by someone else") from None
        yield
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Make the names of every file under ``root`` durable (the files are fsync'd already)."""
    for folder, _dirs, _files in os.walk(root):
        fsync_dir(Path(folder))


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptUpdateState(f"cannot read {path}: {exc}") from None
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CorruptUpdateState(f"{path} is not valid JSON") from None
    if not isinstance(value, dict):
        raise CorruptUpdateState(f"{path} is not a JSON object")
    return value


def _check_release(value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{value!r} is not a release number")
