"""A preload as it lives on disk beside the install, so it outlasts the agent (blocking: run
in a thread).

Starting a preload keeps the locked release's verified manifest in ``.manifests/`` and
writes ``.preload.json`` naming the release; the sealed chunks land in ``.preload-<release>/``
one by one, each written durably. A restarted agent, even one killed mid-download, reads the
record back (:func:`restore_preload`), shows what is on disk and fetches only the rest.
Unlocking the release, or preloading a newer one, forgets the old preload
(:func:`discard_preload`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from peerpipe.logs import fields
from signing import ReleaseManifest

from .chunk_source import ChunkRequest
from .errors import CorruptUpdateState
from .layout import (
    clear_preload_record,
    fsync_dir,
    game_lock,
    load_manifest,
    manifest_path,
    read_journal,
    read_pointer,
    read_preload_record,
    store_manifest,
    write_preload_record,
)
from .sealed import PRELOAD_PREFIX, DirectoryChunkStore, preload_dir, sealed_requests
from .switch import installed_manifest

log = logging.getLogger("peerpipe.peer.updates")


@dataclass(frozen=True)
class PreloadOnDisk:
    """A preload found on disk: what it fetches, and how much of it is there already."""

    installed: ReleaseManifest
    manifest: ReleaseManifest
    store: DirectoryChunkStore
    requests: tuple[ChunkRequest, ...]
    stored: int  # requests whose sealed chunk is on disk

    @property
    def complete(self) -> bool:
        return self.stored == len(self.requests)


def begin_preload(game_dir: Path, manifest: ReleaseManifest) -> None:
    """Remember a preload of ``manifest`` (a verified, locked release) before its first
    chunk is fetched; a preload of another release is given up."""
    with game_lock(game_dir):
        earlier = _recorded(game_dir)
        if earlier is not None and earlier != manifest.release:
            _discard(game_dir, earlier)
        store_manifest(game_dir, manifest)
        preload_dir(game_dir, manifest.release).mkdir(exist_ok=True)
        write_preload_record(game_dir, manifest)


def restore_preload(game_dir: Path) -> PreloadOnDisk | None:
    """The preload the record names, unless the game runs that release (or a later one)
    already: such a preload is forgotten, as is one whose manifest is gone (and the sealed
    chunks of any release no later than the installed one)."""
    with game_lock(game_dir):
        installed = installed_manifest(game_dir)
        if installed is None:
            return None
        _sweep(game_dir, installed.release)
        release = _recorded(game_dir)
        if release is None:
            return None
        if installed.release >= release:
            _discard(game_dir, release)
            return None
        try:
            manifest = load_manifest(game_dir, release)
        except CorruptUpdateState as exc:
            log.warning("preload forgotten", extra=fields(game_id=game_dir.name, error=str(exc)))
            _discard(game_dir, release)
            return None
    store = DirectoryChunkStore(preload_dir(game_dir, release))
    requests = tuple(sealed_requests(installed, manifest))
    stored = sum(1 for request in requests if store.has(request))
    return PreloadOnDisk(installed, manifest, store, requests, stored)


def discard_preload(game_dir: Path, release: int) -> None:
    """Forget the preload of ``release``: its sealed chunks, its record, and its manifest
    unless the game keeps that release (it does once the preload is unlocked) or an update
    to it is under way."""
    with game_lock(game_dir):
        _discard(game_dir, release)


def _recorded(game_dir: Path) -> int | None:
    """The release of the preload record; an unreadable record is dropped (the preload it
    named, if any, is started again by the player or the auto-update run)."""
    try:
        return read_preload_record(game_dir)
    except CorruptUpdateState as exc:
        log.warning("preload record dropped", extra=fields(game_id=game_dir.name, error=str(exc)))
        clear_preload_record(game_dir)
        return None


def _sweep(game_dir: Path, installed: int) -> None:
    """Drop the sealed chunks of releases no later than the installed one: never needed."""
    for folder in game_dir.glob(f"{PRELOAD_PREFIX}*"):
        number = folder.name.removeprefix(PRELOAD_PREFIX)
        if number.isdigit() and int(number) <= installed:
            shutil.rmtree(folder, ignore_errors=True)


def _discard(game_dir: Path, release: int) -> None:
    # the record first: a crash from here on leaves chunks nobody resumes, never a record
    # that resumes a preload the player is done with
    if _recorded(game_dir) == release:
        clear_preload_record(game_dir)
    shutil.rmtree(preload_dir(game_dir, release), ignore_errors=True)
    pointer, journal = read_pointer(game_dir), read_journal(game_dir)
    needed = (pointer.kept if pointer else frozenset()) | (
        {journal.to_release} if journal else set()
    )
    if release not in needed:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(manifest_path(game_dir, release))
    fsync_dir(game_dir)
