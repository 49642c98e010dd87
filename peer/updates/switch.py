"""Switching releases, crash recovery and rollback (blocking: run in a thread).

The pointer file is the commit point. Before it changes, the installed release is untouched
and an interrupted update is discarded or resumed; once the journal reaches ``switching`` the
staged release is verified and recovery rolls the switch forward. Every step is idempotent, so
recovery can itself be interrupted and run again.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from peerpipe.logs import fields
from signing import ReleaseManifest

from .errors import CorruptUpdateState, RollbackUnavailable
from .layout import (
    CurrentRelease,
    Phase,
    UpdateJournal,
    clear_journal,
    fsync_dir,
    game_lock,
    load_manifest,
    manifest_path,
    read_journal,
    read_pointer,
    release_dir,
    staging_dir,
    store_manifest,
    write_pointer,
)
from .staging import verify_release

log = logging.getLogger("peerpipe.peer.updates")

Checkpoint = Callable[[str], None]
"""Called with a step name at every point an update can be interrupted (tests crash there)."""


def no_checkpoint(step: str) -> None:
    return None


class RecoveryAction(enum.StrEnum):
    NOTHING = "nothing"  # no update was in flight
    ROLLED_BACK = "rolled_back"  # the partial update was discarded; the old release runs
    PARTIAL_KEPT = "partial_kept"  # the old release runs; staged files wait for a resume
    COMPLETED = "completed"  # the update had been verified; the switch was finished


@dataclass(frozen=True)
class Recovery:
    action: RecoveryAction
    current: CurrentRelease | None
    pending_release: int | None = None


def recover(
    game_dir: Path, *, keep_partial: bool = True, checkpoint: Checkpoint = no_checkpoint
) -> Recovery:
    """Bring a game directory back to a consistent state after a crash at any moment."""
    with game_lock(game_dir):
        return _recover(game_dir, keep_partial, checkpoint)


def _recover(game_dir: Path, keep_partial: bool, checkpoint: Checkpoint) -> Recovery:
    journal = read_journal(game_dir)
    if journal is None:
        return Recovery(RecoveryAction.NOTHING, read_pointer(game_dir))
    if journal.phase is Phase.SWITCHING:
        complete_switch(game_dir, journal, checkpoint)
        return Recovery(RecoveryAction.COMPLETED, read_pointer(game_dir))
    if keep_partial:
        return Recovery(RecoveryAction.PARTIAL_KEPT, read_pointer(game_dir), journal.to_release)
    discard_update(game_dir, journal)
    return Recovery(RecoveryAction.ROLLED_BACK, read_pointer(game_dir))


def discard_update(game_dir: Path, journal: UpdateJournal) -> None:
    """Forget an update that has not reached ``switching``: only staged files are removed."""
    if journal.phase is not Phase.STAGING:
        raise CorruptUpdateState("a verified update is rolled forward, never discarded")
    shutil.rmtree(staging_dir(game_dir, journal.to_release), ignore_errors=True)
    clear_journal(game_dir)
    log.info("partial update discarded", extra=fields(game_id=journal.game_id))


def complete_switch(game_dir: Path, journal: UpdateJournal, checkpoint: Checkpoint) -> None:
    """Move the verified staged release into place, repoint, retire the oldest release."""
    staged, target = (
        staging_dir(game_dir, journal.to_release),
        release_dir(game_dir, journal.to_release),
    )
    if staged.exists():
        if journal.from_release is not None:
            _carry_for_switch(game_dir, journal.from_release, journal.to_release)
            checkpoint("player-files-carried")
        if target.exists():
            set_aside(game_dir, journal.to_release, keep=staged)
        os.rename(staged, target)
        fsync_dir(game_dir)
        checkpoint("staging-renamed")
    pointer = CurrentRelease(journal.to_release, journal.from_release)
    if read_pointer(game_dir) != pointer:
        write_pointer(game_dir, pointer)
        checkpoint("pointer-written")
    for release in journal.retire:
        if release not in pointer.kept:
            retire_release(game_dir, release, keep=target)
            checkpoint(f"retired-{release}")
    clear_journal(game_dir)
    log.info(
        "release switched",
        extra=fields(
            game_id=journal.game_id, release=journal.to_release, previous=journal.from_release
        ),
    )


def _carry_for_switch(game_dir: Path, from_release: int, to_release: int) -> None:
    try:
        old_manifest = load_manifest(game_dir, from_release)
        new_manifest = load_manifest(game_dir, to_release)
    except CorruptUpdateState as exc:
        # Without the old manifest player files cannot be told from release files; they stay
        # in the old release (kept) rather than block the switch forever.
        log.warning("player files not carried over", extra=fields(error=str(exc)))
        return
    source, target = release_dir(game_dir, from_release), staging_dir(game_dir, to_release)
    carry_player_files(source, target, old_manifest, new_manifest)


def carry_player_files(
    source: Path, target: Path, source_manifest: ReleaseManifest, target_manifest: ReleaseManifest
) -> None:
    """Hard-link files no manifest lists (saves, configs) from ``source`` into ``target``.

    The player's files keep their inode and bytes; nothing in ``target`` is replaced, and a
    file whose name a release file takes stays only in ``source``.
    """
    listed = {file.path for file in source_manifest.files}
    taken = {file.path for file in target_manifest.files}
    for relative in _player_files(source, listed):
        destination = target / relative
        if relative in taken or os.path.lexists(destination):
            continue
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.link(source / relative, destination, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError:
            # No hard links here (another file system, FAT): a copy keeps the save visible.
            with contextlib.suppress(OSError):
                shutil.copy2(source / relative, destination, follow_symlinks=False)


def retire_release(game_dir: Path, release: int, keep: Path, *, forget: bool = True) -> None:
    """Delete a release nobody points at: its listed files, and player files only where the
    very same inode lives on in ``keep``. Other player files stay where they are."""
    root = release_dir(game_dir, release)
    try:
        manifest = load_manifest(game_dir, release)
        listed = {file.path for file in manifest.files}
    except CorruptUpdateState:
        listed = set()
    if root.exists():
        for path in listed:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                os.unlink(root / path)
        for relative in _player_files(root, listed):
            if _same_inode(root / relative, keep / relative):
                os.unlink(root / relative)
        _remove_empty_dirs(root)
    if forget and not root.exists():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(manifest_path(game_dir, release))


def set_aside(game_dir: Path, release: int, keep: Path) -> None:
    """Clear the way for re-installing ``release``: retire the stale copy; whatever player
    files it alone held are moved, untouched, to ``.set-aside-<release>-<time>``."""
    retire_release(game_dir, release, keep, forget=False)
    root = release_dir(game_dir, release)
    if root.exists():
        aside = game_dir / f".set-aside-{release}-{time.time_ns()}"
        os.rename(root, aside)
        log.warning(
            "player files of a replaced release set aside",
            extra=fields(release=release, directory=str(aside)),
        )


def rollback(game_dir: Path, *, verify: bool = True) -> CurrentRelease:
    """Switch back to the previous release (kept until the next update); an update left
    half-done is finished (verified) or discarded (not yet verified) first."""
    with game_lock(game_dir):
        return _rollback(game_dir, verify)


def _rollback(game_dir: Path, verify: bool) -> CurrentRelease:
    if read_journal(game_dir) is not None:
        _recover(game_dir, keep_partial=False, checkpoint=no_checkpoint)
    pointer = read_pointer(game_dir)
    if pointer is None or pointer.previous is None:
        raise RollbackUnavailable("there is no previous release to roll back to")
    try:
        previous = load_manifest(game_dir, pointer.previous)
        current = load_manifest(game_dir, pointer.release)
    except CorruptUpdateState as exc:
        raise RollbackUnavailable(f"the previous release cannot be restored: {exc}") from None
    previous_root = release_dir(game_dir, pointer.previous)
    if verify:
        mismatches = verify_release(previous_root, previous.files)
        if mismatches:
            raise RollbackUnavailable(
                f"the previous release {pointer.previous} no longer verifies: {mismatches[0]}"
            )
    carry_player_files(release_dir(game_dir, pointer.release), previous_root, current, previous)
    switched = CurrentRelease(pointer.previous, pointer.release)
    write_pointer(game_dir, switched)
    log.info("rolled back", extra=fields(release=switched.release, previous=switched.previous))
    return switched


def record_install(game_dir: Path, manifest: ReleaseManifest) -> CurrentRelease:
    """Make a release installed by other means (a full BitTorrent install into
    ``<game>/<release>``) the current one, so later updates can start from it."""
    with game_lock(game_dir):
        root = release_dir(game_dir, manifest.release)
        for file in manifest.files:
            target = root / file.path
            # BitTorrent does not carry permissions; the manifest does.
            if target.is_file() and not target.is_symlink():
                os.chmod(target, file.mode & 0o777)
        store_manifest(game_dir, manifest)
        old = read_pointer(game_dir)
        if old is not None and old.release == manifest.release:
            return old
        pointer = CurrentRelease(manifest.release, old.release if old else None)
        write_pointer(game_dir, pointer)
        return pointer


def installed_manifest(game_dir: Path) -> ReleaseManifest | None:
    pointer = read_pointer(game_dir)
    return None if pointer is None else load_manifest(game_dir, pointer.release)


def _player_files(root: Path, listed: set[str]) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder).relative_to(root)
        names = files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        for name in names:
            relative = (base / name).as_posix()
            if relative not in listed:
                found.append(relative)
    return sorted(found)


def _same_inode(first: Path, second: Path) -> bool:
    try:
        a, b = os.lstat(first), os.lstat(second)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _remove_empty_dirs(root: Path) -> None:
    for folder, _dirs, _files in os.walk(root, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
