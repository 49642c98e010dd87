"""Where an update gets the chunks it does not have: ``GET <cdn>/chunks/<sha256>``, whole or
as a byte range (``Range: bytes=a-b``) covering adjacent parts of the chunk.

Every chunk (every part of a range) is checked against its SHA-256 before anyone writes it,
so a CDN node serving wrong bytes costs a retry on the next node, never a corrupt file.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import quote

import aiohttp

from peerpipe.logs import fields
from signing import PartRef

from .errors import ChunkUnavailable
from .pacing import RatePacer

log = logging.getLogger("peerpipe.peer.updates.chunks")

_PACED_READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class ChunkRequest:
    """A chunk the update needs, and where it goes in the new release (a swarm source maps
    that place to BitTorrent pieces; the CDN needs only the hash).

    With ``parts``, only bytes ``chunk_offset``..``chunk_offset + size`` of the chunk are
    wanted: those parts, end to end, each verified by its own SHA-256."""

    sha256: str
    size: int
    path: str
    offset: int
    parts: tuple[PartRef, ...] = ()
    chunk_offset: int = 0

    @property
    def is_range(self) -> bool:
        return bool(self.parts)

    def range_header(self) -> dict[str, str]:
        """The ``Range`` header asking ``/chunks/<sha256>`` for these bytes."""
        last = self.chunk_offset + self.size - 1
        return {"Range": f"bytes={self.chunk_offset}-{last}"}


class ChunkSource(Protocol):
    async def fetch(self, request: ChunkRequest) -> bytes:
        """The chunk's bytes, already checked against its SHA-256; ChunkUnavailable if none."""
        ...


@runtime_checkable
class ExpectingSource(Protocol):
    """A source that prepares for the requests to come (a swarm picks its pieces)."""

    async def expect(self, requests: Sequence[ChunkRequest]) -> None: ...


async def expect_requests(source: ChunkSource, requests: Sequence[ChunkRequest]) -> None:
    """Tell ``source`` (and the sources it tries) every request an update will make."""
    if isinstance(source, ExpectingSource):
        await source.expect(requests)


def chunk_matches(data: bytes, request: ChunkRequest) -> bool:
    """Whether ``data`` is exactly what ``request`` asked for: the chunk, or its parts."""
    if len(data) != request.size:
        return False
    if not request.parts:
        return hashlib.sha256(data).hexdigest() == request.sha256
    view, at = memoryview(data), 0
    for part in request.parts:
        if hashlib.sha256(view[at : at + part.size]).hexdigest() != part.sha256:
            return False
        at += part.size
    return at == len(data)


class HttpChunkSource:
    """Fetches chunks from CDN nodes, failing over in order and sticking to the node that
    answered last."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        cdn_urls: Sequence[str],
        rounds: int = 2,
        pacer: RatePacer | None = None,
    ) -> None:
        if not cdn_urls:
            raise ValueError("at least one CDN URL is needed")
        self._session = session
        self._urls = [url.rstrip("/") for url in cdn_urls]
        self._rounds = rounds
        self._pacer = pacer
        self._preferred = 0
        self.fetched_bytes = 0
        self.failures = 0

    async def fetch(self, request: ChunkRequest) -> bytes:
        problems: list[str] = []
        count = len(self._urls)
        for attempt in range(count * self._rounds):
            index = (self._preferred + attempt) % count
            url = f"{self._urls[index]}/chunks/{request.sha256}"
            headers, status = (request.range_header(), 206) if request.is_range else (None, 200)
            data, problem = await _get_verified(
                self._session, url, request, headers, status, self._pacer
            )
            if data is not None:
                self._preferred = index
                self.fetched_bytes += len(data)
                return data
            self.failures += 1
            problems.append(f"{self._urls[index]}: {problem}")
            log.warning("chunk fetch failed", extra=fields(url=url, error=problem))
        raise ChunkUnavailable(
            f"chunk {request.sha256} of {request.path} could not be fetched: "
            + "; ".join(problems[-count:])
        )


class ReleaseFileChunkSource:
    """Fetches a chunk as a byte range of the new release's file on a web seed
    (``GET <cdn>/files/<game>/<release>/<path>`` with ``Range``): for nodes without a chunk
    store, and the same HTTP path BitTorrent web seeds use."""

    def __init__(
        self, session: aiohttp.ClientSession, cdn_urls: Sequence[str], game_id: str, release: int
    ) -> None:
        if not cdn_urls:
            raise ValueError("at least one CDN URL is needed")
        self._session = session
        self._bases = [f"{url.rstrip('/')}/files/{game_id}/{int(release)}" for url in cdn_urls]
        self.fetched_bytes = 0
        self.failures = 0

    async def fetch(self, request: ChunkRequest) -> bytes:
        problems = []
        last = request.offset + request.size - 1
        for base in self._bases:
            url = f"{base}/{quote(request.path)}"
            range_header = {"Range": f"bytes={request.offset}-{last}"}
            data, problem = await _get_verified(self._session, url, request, range_header, 206)
            if data is not None:
                self.fetched_bytes += len(data)
                return data
            self.failures += 1
            problems.append(f"{base}: {problem}")
        raise ChunkUnavailable(f"chunk {request.sha256} of {request.path}: " + "; ".join(problems))


class FirstAvailable:
    """Tries chunk sources in order (say, peers before CDN nodes); the first answer wins."""

    def __init__(self, sources: Sequence[ChunkSource]) -> None:
        if not sources:
            raise ValueError("at least one chunk source is needed")
        self._sources = list(sources)

    async def expect(self, requests: Sequence[ChunkRequest]) -> None:
        for source in self._sources:
            await expect_requests(source, requests)

    async def fetch(self, request: ChunkRequest) -> bytes:
        problems = []
        for source in self._sources:
            try:
                return await source.fetch(request)
            except ChunkUnavailable as exc:
                problems.append(str(exc))
        raise ChunkUnavailable(" / ".join(problems))


async def _get_verified(
    session: aiohttp.ClientSession,
    url: str,
    request: ChunkRequest,
    headers: dict[str, str] | None = None,
    expected_status: int = 200,
    pacer: RatePacer | None = None,
) -> tuple[bytes | None, str]:
    """The chunk's bytes from ``url`` if they match its SHA-256, else None and why."""
    try:
        async with session.get(url, headers=headers) as response:
            if response.status != expected_status:
                return None, f"HTTP {response.status}"
            # One byte more than the chunk tells an oversized answer from a right one
            # without buffering whatever a broken node sends.
            data = await _read_at_most(response.content, request.size + 1, pacer)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if not chunk_matches(data, request):
        return None, "bytes do not match the chunk's SHA-256"
    return data, ""


async def _read_at_most(
    stream: aiohttp.StreamReader, limit: int, pacer: RatePacer | None = None
) -> bytes:
    data = bytearray()
    # paced reads stay small: what the socket holds beyond them waits there, and TCP slows
    # the node down
    most = _PACED_READ_BYTES if pacer is not None else limit
    while len(data) < limit:
        part = await stream.read(min(most, limit - len(data)))
        if not part:
            break
        data += part
        if pacer is not None:
            await pacer.take(len(part))
    return bytes(data)
