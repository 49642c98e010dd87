"""Streaming a file from disk as an HTTP response: Range, If-Range, conditional GET, throttle.

Without a rate limit the kernel sends the file (sendfile(2)); with one, the file is read in
blocks in a worker thread and written as the throttle allows. Either way a multi-GiB release
file never sits in memory, and the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from email.utils import formatdate
from pathlib import Path
from typing import BinaryIO, Protocol

from aiohttp import web

from peerpipe.logs import fields
from peerpipe.problems import Problem, problem_response
from seeder.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    etag_matches,
    if_range_allows,
    parse_range,
)
from seeder.throttle import ServingThrottle

log = logging.getLogger("peerpipe.seeder.http")

READ_BLOCK = 256 * 1024
OCTET_STREAM = "application/octet-stream"


class Body(Protocol):
    """What a response is made of: a local file or an object in the S3 origin."""

    size: int
    etag: str
    mtime: float

    def blocks(self, offset: int, count: int, block_size: int) -> AsyncIterator[bytes]:
        """The bytes ``offset .. offset + count - 1``, in blocks of about ``block_size``."""
        ...

    @property
    def sendfile_source(self) -> BinaryIO | None:
        """An open local file the kernel can send from, if the body is one."""
        ...


class FileBody:
    """A local regular file, open for the duration of one response."""

    def __init__(self, handle: BinaryIO, etag: str | None) -> None:
        info = os.fstat(handle.fileno())
        self._handle = handle
        self.size = info.st_size
        self.mtime = info.st_mtime
        self.etag = etag or f'"{info.st_mtime_ns:x}-{self.size:x}"'

    @property
    def sendfile_source(self) -> BinaryIO | None:
        return self._handle

    async def blocks(self, offset: int, count: int, block_size: int) -> AsyncIterator[bytes]:
        remaining = count
        while remaining > 0:
            data = await asyncio.to_thread(
                os.pread, self._handle.fileno(), min(block_size, remaining), offset
            )
            if not data:
                raise ConnectionError("file shrank while it was being served")
            yield data
            offset += len(data)
            remaining -= len(data)


async def serve_file(
    request: web.Request,
    path: Path,
    throttle: ServingThrottle,
    on_sent: Callable[[int], None],
    etag: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Answer ``request`` with the regular file at ``path`` (already checked to be safe)."""
    try:
        handle = await asyncio.to_thread(path.open, "rb")
    except OSError:
        raise Problem(404, "Not Found", "no such file", code="NOT_FOUND") from None
    try:
        return await serve_body(request, FileBody(handle, etag), throttle, on_sent, headers)
    finally:
        handle.close()


async def serve_body(
    request: web.Request,
    body: Body,
    throttle: ServingThrottle,
    on_sent: Callable[[int], None],
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Answer ``request`` with ``body``: conditional GET, Range and If-Range, throttled."""
    common = {
        "ETag": body.etag,
        "Last-Modified": formatdate(body.mtime, usegmt=True),
        "Accept-Ranges": "bytes",
        **(headers or {}),
    }
    if etag_matches(request.headers.get("If-None-Match"), body.etag):
        return web.Response(status=304, headers=common)
    ranges = _requested_ranges(request, body.size, body.etag, body.mtime)
    if isinstance(ranges, web.Response):
        ranges.headers.update(common)
        return ranges
    sender = _Sender(request, body, throttle, on_sent)
    try:
        if ranges is None:
            return await sender.whole(body.size, common)
        if len(ranges) == 1:
            return await sender.single(ranges[0], body.size, common)
        return await sender.multipart(ranges, body.size, common)
    except ConnectionError:
        # Clients hang up mid-transfer all the time (a web seed cancelling a request,
        # a player pausing); that ends this response, it is not a server error.
        log.debug("client went away", extra=fields(path=request.path))
        if sender.response is None:
            raise
        return sender.response


def _requested_ranges(
    request: web.Request, size: int, etag: str, mtime: float
) -> list[ByteRange] | web.Response | None:
    header = request.headers.get("Range")
    if header is None or request.method not in ("GET", "HEAD"):
        return None
    if not if_range_allows(request.headers.get("If-Range"), etag, mtime):
        return None
    try:
        return parse_range(header, size)
    except RangeNotSatisfiable as exc:
        response = problem_response(
            Problem(416, "Range Not Satisfiable", str(exc), code="RANGE_NOT_SATISFIABLE"),
            request.path,
        )
        response.headers["Content-Range"] = f"bytes */{size}"
        return response


class _Sender:
    def __init__(
        self,
        request: web.Request,
        body: Body,
        throttle: ServingThrottle,
        on_sent: Callable[[int], None],
    ) -> None:
        self._request = request
        self._body = body
        self._throttle = throttle
        self._on_sent = on_sent
        self._head = request.method == "HEAD"
        self.response: web.StreamResponse | None = None

    async def whole(self, size: int, headers: Mapping[str, str]) -> web.StreamResponse:
        response = self._response(200, size, headers, OCTET_STREAM)
        await response.prepare(self._request)
        await self._copy(response, 0, size)
        await response.write_eof()
        return response

    async def single(
        self, chosen: ByteRange, size: int, headers: Mapping[str, str]
    ) -> web.StreamResponse:
        response = self._response(206, chosen.length, headers, OCTET_STREAM)
        response.headers["Content-Range"] = chosen.content_range(size)
        await response.prepare(self._request)
        await self._copy(response, chosen.start, chosen.length)
        await response.write_eof()
        return response

    async def multipart(
        self, ranges: list[ByteRange], size: int, headers: Mapping[str, str]
    ) -> web.StreamResponse:
        boundary = secrets.token_hex(16)
        heads = [
            (
                f"--{boundary}\r\nContent-Type: {OCTET_STREAM}\r\n"
                f"Content-Range: {chosen.content_range(size)}\r\n\r\n"
            ).encode()
            for chosen in ranges
        ]
        tail = f"--{boundary}--\r\n".encode()
        length = sum(
            len(head) + chosen.length + 2 for head, chosen in zip(heads, ranges, strict=True)
        )
        content_type = f"multipart/byteranges; boundary={boundary}"
        response = self._response(206, length + len(tail), headers, content_type)
        await response.prepare(self._request)
        for head, chosen in zip(heads, ranges, strict=True):
            await self._write(response, head)
            await self._copy(response, chosen.start, chosen.length)
            await self._write(response, b"\r\n")
        await self._write(response, tail)
        await response.write_eof()
        return response

    def _response(
        self, status: int, length: int, headers: Mapping[str, str], content_type: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = length
        response.headers["Content-Type"] = content_type
        self.response = response
        return response

    async def _write(self, response: web.StreamResponse, data: bytes) -> None:
        if self._head:
            return
        await self._throttle.take(len(data))
        await response.write(data)
        self._on_sent(len(data))

    async def _copy(self, response: web.StreamResponse, offset: int, count: int) -> None:
        if self._head or count == 0:
            return
        source = self._body.sendfile_source
        if source is not None and not self._throttle.limited:
            await self._sendfile(source, offset, count)
            return
        async for data in self._body.blocks(offset, count, self._throttle.block_size(READ_BLOCK)):
            await self._write(response, data)

    async def _sendfile(self, source: BinaryIO, offset: int, count: int) -> None:
        # Without a rate limit the kernel copies the file to the socket itself (sendfile(2)):
        # no bytes pass through Python. asyncio falls back to reading when it cannot.
        transport = self._request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client went away")
        loop = asyncio.get_running_loop()
        sent = await loop.sendfile(transport, source, offset, count)
        self._on_sent(sent)
        if sent != count:
            raise ConnectionError("file shrank while it was being served")
