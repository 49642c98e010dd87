"""Where a CDN node reads release files and chunks from: the local origin directory, or an
S3-compatible bucket (streamed, each HTTP range passed through as a ranged GET).

Both hand the HTTP layer a :class:`~seeder.file_serving.Body`; Range, If-Range and
conditional requests are decided once, in :mod:`seeder.file_serving`, whatever the store.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from peerpipe.problems import Problem
from seeder.errors import OriginError
from seeder.file_serving import Body, FileBody
from seeder.origin import LocalOrigin
from seeder.s3_origin import ObjectInfo, S3Bucket, chunk_key, file_key
from seeder.safe_paths import check_relative, resolve_inside

KNOWN_OBJECTS = 65536  # S3 object sizes and ETags remembered by a node


class NodeContent(abc.ABC):
    """The release files and chunks a CDN node serves."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Open connections (called when the node starts)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Close them (called when the node stops)."""

    @abc.abstractmethod
    def release_file(
        self, game_id: str, release: int, relative: str
    ) -> contextlib.AbstractAsyncContextManager[Body]:
        """The file ``relative`` of a release; a 400/404 :class:`Problem` if unsafe or absent."""

    @abc.abstractmethod
    def chunk(self, sha256: str) -> contextlib.AbstractAsyncContextManager[Body]:
        """The chunk ``sha256`` (already checked to be 64 hex digits); 404 if absent."""


class LocalContent(NodeContent):
    def __init__(self, origin: LocalOrigin) -> None:
        self.origin = origin

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def release_file(
        self, game_id: str, release: int, relative: str
    ) -> contextlib.AbstractAsyncContextManager[Body]:
        return _open_file(resolve_inside(self.origin.release_dir(game_id, release), relative))

    def chunk(self, sha256: str) -> contextlib.AbstractAsyncContextManager[Body]:
        path = resolve_inside(self.origin.root / "chunks", f"{sha256[:2]}/{sha256}")
        return _open_file(path, etag=f'"{sha256}"')


@contextlib.asynccontextmanager
async def _open_file(path: Path, etag: str | None = None) -> AsyncIterator[Body]:
    try:
        handle: BinaryIO = await asyncio.to_thread(path.open, "rb")
    except OSError:
        raise _not_found() from None
    try:
        yield FileBody(handle, etag)
    finally:
        handle.close()


class S3Content(NodeContent):
    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket
        # Published files and chunks never change, so their size and ETag are remembered and
        # a request costs one ranged GET instead of a HEAD and a GET. Absent keys are not
        # remembered: they may be published a moment later.
        self._known: OrderedDict[str, ObjectInfo] = OrderedDict()

    async def start(self) -> None:
        await self.bucket.__aenter__()

    async def stop(self) -> None:
        await self.bucket.__aexit__()

    def release_file(
        self, game_id: str, release: int, relative: str
    ) -> contextlib.AbstractAsyncContextManager[Body]:
        return self._object(file_key(game_id, release, check_relative(relative)))

    def chunk(self, sha256: str) -> contextlib.AbstractAsyncContextManager[Body]:
        return self._object(chunk_key(sha256), etag=f'"{sha256}"')

    @contextlib.asynccontextmanager
    async def _object(self, key: str, etag: str | None = None) -> AsyncIterator[Body]:
        info = await self._info(key)
        yield S3Body(self.bucket, key, info, etag)

    async def _info(self, key: str) -> ObjectInfo:
        info = self._known.get(key)
        if info is not None:
            self._known.move_to_end(key)
            return info
        try:
            info = await self.bucket.head(key)
        except OriginError as exc:
            raise Problem(502, "Bad Gateway", str(exc), code="ORIGIN_UNAVAILABLE") from None
        if info is None:
            raise _not_found()
        self._known[key] = info
        if len(self._known) > KNOWN_OBJECTS:
            self._known.popitem(last=False)
        return info


class S3Body:
    """An object of the S3 origin; each range is one ranged GET, streamed through."""

    sendfile_source: BinaryIO | None = None

    def __init__(self, bucket: S3Bucket, key: str, info: ObjectInfo, etag: str | None) -> None:
        self._bucket = bucket
        self._key = key
        self.size = info.size
        self.mtime = info.mtime
        self.etag = etag or info.etag

    async def blocks(self, offset: int, count: int, block_size: int) -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for block in self._bucket.read_range(self._key, offset, count):
                for start in range(0, len(block), block_size):
                    piece = block[start : start + block_size]
                    sent += len(piece)
                    yield piece
        except OriginError as exc:
            # Headers are gone already: all that is left is to cut the response short.
            raise ConnectionError(str(exc)) from None
        if sent != count:
            raise ConnectionError(f"the origin sent {sent} of {count} bytes of {self._key}")


def _not_found() -> Problem:
    return Problem(404, "Not Found", "no such file", code="NOT_FOUND")
