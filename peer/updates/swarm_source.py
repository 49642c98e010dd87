"""Chunks from the new release's swarm: other players who already run it, over BitTorrent.

An update knows before it fetches anything which chunks (or chunk ranges) it lacks and where
each one sits in the new release. :class:`SwarmChunkSource` joins the release's torrent
through the tracker (with the player's passkey), downloads only the pieces covering those
ranges into a scratch directory (every other piece has priority 0), and cuts each range out of
the verified pieces. libtorrent checks every piece against the torrent's signed hashes and the
range is checked against its own SHA-256 again before anyone writes it.

Peers come first: the source gives up, so that the CDN (the next source) serves the rest,
when the tracker names no player holding the release, when it does not answer in time, or
when the swarm stops delivering for a while. Requests it never expected (a local copy found
damaged) are left to the CDN at once.

Piece granularity: peers trade whole pieces (256 KiB to 4 MiB), where the CDN serves exact
byte ranges. Pieces the update needs less than half of (``min_piece_use``: a small edit in a
pack file) are left to the CDN; ``peer_bytes`` counts every payload byte the swarm delivered,
so the update's status shows the true transfer.

The scratch directory (``.swarm-<release>`` in the game directory) is deleted when the
update ends; one left behind by a crash is deleted when the agent starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import libtorrent as lt

from peerpipe.logs import fields
from signing import ReleaseManifest

from .chunk_source import ChunkRequest, chunk_matches
from .errors import ChunkUnavailable

log = logging.getLogger("peerpipe.peer.updates.swarm")

SCRATCH_PREFIX = ".swarm-"
_WANTED = 7  # libtorrent's top piece priority
_SKIPPED = 0


def swarm_scratch_dir(game_dir: Path, release: int) -> Path:
    return game_dir / f"{SCRATCH_PREFIX}{int(release)}"


def discard_swarm_scratch(game_dir: Path) -> None:
    """Delete whatever scratch an update's swarm download left behind (a crash)."""
    for scratch in game_dir.glob(f"{SCRATCH_PREFIX}*"):
        shutil.rmtree(scratch, ignore_errors=True)


class SwarmSession(Protocol):
    """The agent's libtorrent session as an update uses it (``peer.swarm.Swarms``)."""

    def join(
        self,
        manifest: Any,
        save_path: Path,
        announce_url: str | None,
        resume_data: bytes | None = None,
    ) -> Any: ...

    async def remove_and_wait(self, handle: Any, deadline: float = 10.0) -> None: ...


@dataclass(frozen=True)
class SwarmAccess:
    """What an update needs to join a release's swarm: the session and our announce URL."""

    session: SwarmSession
    announce_url: str


@dataclass(frozen=True)
class SwarmPatience:
    """How long peers get before the CDN takes over."""

    answer_seconds: float = 5.0  # for the tracker's first answer
    stall_seconds: float = 5.0  # without a payload byte from any peer
    poll_seconds: float = 0.05
    # A piece is fetched from peers only if the update needs this share of it; ranges in
    # pieces it needs less of are the CDN's (it serves exact byte ranges).
    min_piece_use: float = 0.5


class PieceMap:
    """Which pieces of a release's torrent hold a byte range of one of its files, and how
    many of a piece's bytes are file data (the last piece of a file is padded out in the
    platform's hybrid torrents)."""

    def __init__(self, torrent_data: bytes) -> None:
        info = lt.torrent_info(torrent_data)
        self._info = info
        files = info.layout()
        self._files = files
        self.num_pieces = int(info.num_pieces())
        self.piece_length = int(info.piece_length())
        self._index: dict[str, int] = {}
        for index in range(files.num_files()):
            if files.file_flags(index) & files.flag_pad_file:
                continue
            # "<release>/<path>" in the torrent, with the platform's separator
            parts = Path(files.file_path(index)).parts[1:]
            self._index["/".join(parts)] = index

    def pieces(self, path: str, offset: int, size: int) -> range:
        index = self._index.get(path)
        if index is None or size <= 0:
            return range(0)
        first = self._info.map_file(index, offset, 1).piece
        last = self._info.map_file(index, offset + size - 1, 1).piece
        return range(int(first), int(last) + 1)

    def overlaps(self, path: str, offset: int, size: int) -> list[tuple[int, int]]:
        """``(piece, bytes of the range in it)`` for every piece the range touches."""
        index = self._index.get(path)
        if index is None or size <= 0:
            return []
        start = self._info.map_file(index, offset, 1)
        piece, inside, left = int(start.piece), int(start.start), size
        found = []
        while left > 0:
            taken = min(left, self.piece_length - inside)
            found.append((piece, taken))
            piece, inside, left = piece + 1, 0, left - taken
        return found

    def payload(self, piece: int) -> int:
        """The file bytes in ``piece`` (pad bytes are never transferred)."""
        size = int(self._info.piece_size(piece))
        slices = self._info.map_block(piece, 0, size)
        return sum(
            int(part.size)
            for part in slices
            if not self._files.file_flags(part.file_index) & self._files.flag_pad_file
        )

    def worth_fetching(self, ranges: Iterable[tuple[str, int, int]], min_use: float) -> set[int]:
        """Pieces at least ``min_use`` of whose file bytes the ranges (path, offset, size)
        need: a 4 KiB edit does not cost a whole piece from the swarm."""
        used: dict[int, int] = {}
        for path, offset, size in ranges:
            for piece, count in self.overlaps(path, offset, size):
                used[piece] = used.get(piece, 0) + count
        return {piece for piece, count in used.items() if count >= min_use * self.payload(piece)}


class SwarmChunkSource:
    """Chunk ranges of ``manifest``'s release cut from pieces its swarm delivers.

    ``expect`` (called by the applier with every range it will fetch) joins the swarm;
    ``close`` leaves it and deletes the scratch directory."""

    def __init__(
        self,
        session: SwarmSession,
        manifest: ReleaseManifest,
        scratch: Path,
        announce_url: str,
        patience: SwarmPatience | None = None,
        local: frozenset[str] = frozenset(),
    ) -> None:
        self._session = session
        self._local = local  # chunks the agent holds already (a preload): not from peers
        self._manifest = manifest
        self._scratch = scratch
        self._announce_url = announce_url
        self._patience = patience or SwarmPatience()
        self._pieces = PieceMap(manifest.torrent.data)
        self._handle: Any = None
        self._wanted: set[int] = set()
        self._have: set[int] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self.gave_up: str | None = None  # why the swarm stopped being asked
        self.peer_bytes = 0  # payload from peers: whole pieces, failed ones included
        self.delivered_bytes = 0  # chunk bytes cut out of pieces and handed on

    async def expect(self, requests: Sequence[ChunkRequest]) -> None:
        if self._handle is not None or self.gave_up is not None:
            return
        ranges = [
            (request.path, request.offset, request.size)
            for request in requests
            if request.sha256 not in self._local
        ]
        worth = self._pieces.worth_fetching(ranges, self._patience.min_piece_use)
        for path, offset, size in ranges:
            pieces = self._pieces.pieces(path, offset, size)
            if worth.issuperset(pieces):  # a range the swarm cannot complete is the CDN's
                self._wanted.update(pieces)
        if not self._wanted:
            self.gave_up = "nothing to fetch"
            return
        await asyncio.to_thread(self._scratch.mkdir, parents=True, exist_ok=True)
        try:
            handle = self._session.join(self._manifest, self._scratch, self._announce_url)
        except Exception as exc:  # a session refusing the torrent leaves the CDN to serve
            self.gave_up = f"cannot join the swarm: {exc}"
            log.warning("swarm not joined", extra=fields(error=str(exc)))
            return
        priorities = [_SKIPPED] * self._pieces.num_pieces
        for piece in self._wanted:
            priorities[piece] = _WANTED
        handle.prioritize_pieces(priorities)
        # pieces in plan order: the applier consumes them in that order
        handle.set_flags(lt.torrent_flags.sequential_download)
        self._handle = handle
        self._watcher = asyncio.create_task(self._watch(), name="update-swarm")
        log.info(
            "update swarm joined",
            extra=fields(
                game_id=self._manifest.game_id,
                release=self._manifest.release,
                pieces=len(self._wanted),
            ),
        )

    async def fetch(self, request: ChunkRequest) -> bytes:
        pieces = self._pieces.pieces(request.path, request.offset, request.size)
        if not pieces:
            raise ChunkUnavailable(f"{request.path} is not in the release's torrent")
        async with self._changed:
            await self._changed.wait_for(lambda: self._settled(pieces))
        if not self._have.issuperset(pieces):
            why = self.gave_up or "left to the CDN"
            raise ChunkUnavailable(f"the swarm did not deliver {request.path}: {why}")
        target = self._scratch / str(self._manifest.release) / request.path
        data = await asyncio.to_thread(_read, target, request.offset, request.size)
        if data is None or not chunk_matches(data, request):
            raise ChunkUnavailable(f"swarm bytes of {request.path} do not match the chunk")
        self.delivered_bytes += len(data)
        return data

    def _settled(self, pieces: range) -> bool:
        """Every piece is here, or will not come: given up on, or never asked for."""
        if self._have.issuperset(pieces):
            return True
        return self.gave_up is not None or not self._wanted.issuperset(pieces)

    async def _watch(self) -> None:
        try:
            await self._follow_swarm()
        except Exception as exc:  # the session went away (agent stopping): the CDN serves
            await self._give_up(f"the swarm download stopped: {exc}")

    async def _follow_swarm(self) -> None:
        patience = self._patience
        started = progress_at = time.monotonic()
        answered = False
        while True:
            status = self._handle.status()
            now = time.monotonic()
            payload = int(status.total_payload_download)
            if payload > self.peer_bytes:
                self.peer_bytes, progress_at = payload, now
            if not answered and (int(status.num_complete) >= 0 or status.current_tracker):
                answered, progress_at = True, now  # peers get their time from the answer on
            have = {piece for piece in self._wanted - self._have if status.pieces[piece]}
            if have:
                async with self._changed:
                    self._have |= have
                    self._changed.notify_all()
            if self._have >= self._wanted:
                return
            reason = _reason_to_give_up(
                status, answered, now - started, now - progress_at, patience
            )
            if reason is not None:
                await self._give_up(reason)
                return
            await asyncio.sleep(patience.poll_seconds)

    async def _give_up(self, reason: str) -> None:
        async with self._changed:
            self.gave_up = reason
            self._changed.notify_all()
        with contextlib.suppress(RuntimeError):
            self._handle.prioritize_pieces([_SKIPPED] * self._pieces.num_pieces)
        log.info(
            "update swarm given up: the CDN serves the rest",
            extra=fields(
                game_id=self._manifest.game_id,
                reason=reason,
                pieces=len(self._have),
                wanted=len(self._wanted),
            ),
        )

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        async with self._changed:
            self.gave_up = self.gave_up or "the update ended"
            self._changed.notify_all()
        if self._handle is not None:
            with contextlib.suppress(RuntimeError):
                payload = int(self._handle.status().total_payload_download)
                self.peer_bytes = max(self.peer_bytes, payload)
            try:
                await self._session.remove_and_wait(self._handle)
            except (TimeoutError, RuntimeError) as exc:
                log.warning("update swarm not left cleanly", extra=fields(error=str(exc)))
            self._handle = None
        await asyncio.to_thread(shutil.rmtree, self._scratch, True)


def _reason_to_give_up(
    status: Any, answered: bool, waited: float, idle: float, patience: SwarmPatience
) -> str | None:
    if not answered:
        if waited >= patience.answer_seconds:
            return f"the tracker did not answer within {patience.answer_seconds:.0f}s"
        return None
    holders = max(0, int(status.num_complete)) + int(status.num_seeds)
    if holders == 0 and int(status.num_peers) == 0:
        return "no player holds the release yet"
    if idle >= patience.stall_seconds:
        return f"no bytes from peers for {patience.stall_seconds:.0f}s"
    return None


def _read(path: Path, offset: int, size: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)
