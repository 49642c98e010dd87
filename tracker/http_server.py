"""The tracker's HTTP listener: announces and scrapes on a lean protocol, the rest on aiohttp.

Announces are nearly all a tracker serves, and aiohttp's request objects, router and
middlewares cost several times the work of answering one. So every connection starts on
:class:`AnnounceProtocol`: httptools parses each request head, and ``GET /<passkey>/announce``,
``GET /<passkey>/scrape`` (and the bare ``/announce`` and ``/scrape``) are answered right there,
most of them without a task or an await (:mod:`tracker.http_answers`). The first request that
is anything else (``/health``, ``/metrics``, the admin API, a request with a body, an upgrade)
hands the connection, from that request on, to the app's aiohttp server, which answers it and
everything after it on that connection; its announce routes answer the same way.

Requests are answered in order, pipelined or not; keep-alive follows HTTP/1.1 (and HTTP/1.0's
``Connection: keep-alive``). A request line longer than ``max_request_line``, a header longer
than ``max_header_size``, more than ``max_headers`` headers or a head that is not HTTP is
answered with 414, 431 or 400 and a bencoded failure reason, and the connection is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import unquote_to_bytes

from aiohttp import web

from tracker.announce import encode_failure
from tracker.gate import Refusal
from tracker.http_answers import (
    Answer,
    announce_answer,
    canonical_ip,
    is_trusted_proxy,
    missing_passkey_answer,
    scrape_answer,
)
from tracker.http_heads import (
    CLOSE_AFTER,
    DATE,
    KEEP_ALIVE,
    OK_HEAD,
    HeadReader,
    HeadRefused,
    ProxiedHeadReader,
    response,
)
from tracker.options import TrackerOptions
from tracker.state import TrackerState


@dataclass
class Listener:
    """What every connection of one listening socket shares."""

    state: TrackerState
    options: TrackerOptions
    aiohttp_server: web.Server
    connections: set[AnnounceProtocol] = field(default_factory=set)
    # Anyone else's headers are skipped (the head's size and header count are checked whole).
    heads: HeadReader = field(default_factory=HeadReader)
    proxied_heads: ProxiedHeadReader = field(default_factory=ProxiedHeadReader)

    @property
    def max_head(self) -> int:
        options = self.options
        return options.max_request_line + 4 + options.max_headers * (options.max_header_size + 4)


class AnnounceProtocol(asyncio.Protocol):
    """One client connection, until it asks for something other than an announce or scrape."""

    def __init__(
        self,
        listener: Listener,
        remote: str | None = None,
        received: bytes = b"",
        unsent: bytes = b"",
        close_after_unsent: bool = False,
    ) -> None:
        """``remote`` and the rest for a connection taken over from :mod:`tracker.http_accept`:
        its address, requests received and not yet answered, and an answer not yet all sent
        (and whether the connection closes once it is)."""
        self._listener = listener
        self._state = listener.state
        self._transport: asyncio.Transport | None = None
        self._heads = listener.heads
        # Received and not yet answered: requests from ``_at`` on.
        self._buffer = b""
        self._at = 0
        self._known_remote = remote
        self._remote = remote or ""
        self._received = received
        self._unsent = unsent
        self._close_after_unsent = close_after_unsent
        # An answer that needed I/O; requests after it wait in the buffer.
        self._pending: asyncio.Future[bytes] | None = None
        self._writing_paused = False
        self._eof = False
        self.activity = 0
        self.idle_checked = -1

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        if self._known_remote is None:
            peer = transport.get_extra_info("peername")
            self._remote = str(peer[0]) if peer else ""
        self._heads = heads_for(self._listener, self._remote)
        self._listener.connections.add(self)
        if self._unsent:
            self._transport.write(self._unsent)
            self._unsent = b""
            if self._close_after_unsent:
                self._close()
                return
        if self._received:
            received, self._received = self._received, b""
            self.data_received(received)

    def data_received(self, data: bytes) -> None:
        self.activity += 1
        if self._at < len(self._buffer):
            self._buffer = self._buffer[self._at :] + data
        else:
            self._buffer = data
        self._at = 0
        self._serve()

    def eof_received(self) -> bool:
        # Answer what was asked before the client stopped sending, then close.
        self._eof = True
        if self._pending is None:
            self._serve()
            self._close()
        return True

    def pause_writing(self) -> None:
        # The client is not reading its answers: stop reading its requests.
        self._writing_paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._transport is not None and self._pending is None:
            self._transport.resume_reading()
            self._serve()

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.connections.discard(self)
        if self._pending is not None:
            self._pending.cancel()
        self._transport = None

    def close(self) -> None:
        """Close once the answer in hand, if any, is written (the server is stopping)."""
        if self._pending is None:
            self._close()
        else:
            self._eof = True

    # Serving

    def _serve(self) -> None:
        """Answer every complete request in the buffer, in order, as far as possible."""
        buffer = self._buffer
        heads = self._heads
        while (
            self._at < len(buffer)
            and self._pending is None
            and not self._writing_paused
            and self._transport is not None
            and not self._transport.is_closing()
        ):
            at = self._at
            end = buffer.find(b"\r\n\r\n", at)
            if end < 0:
                self._incomplete_head(buffer[at:])
                return
            head = buffer[at : end + 4] if at or end + 4 < len(buffer) else buffer
            try:
                answer, is_http_1_0 = read_request(self._listener, head, heads, self._remote)
            except HeadRefused as refused:
                self._refuse(refused)
                return
            if answer is None:
                self._hand_over(buffer[at:])
                return
            self._at = end + 4
            keep_alive = heads.keep_alive and not self._eof
            # HTTP/1.0 keeps a connection open only when asked to, and is told it was.
            http_1_0 = keep_alive and is_http_1_0
            if isinstance(answer, bytes):
                self._send(answer, keep_alive, http_1_0)
            else:
                self._wait_for(answer, keep_alive, http_1_0)
        if self._at >= len(buffer):
            self._buffer, self._at = b"", 0

    def _incomplete_head(self, buffer: bytes) -> None:
        options = self._listener.options
        line = buffer.find(b"\r\n")
        if (line < 0 and len(buffer) > options.max_request_line + 2) or (
            line > options.max_request_line
        ):
            self._refuse(
                HeadRefused(414, f"request line is longer than {options.max_request_line} bytes")
            )
        elif len(buffer) > self._listener.max_head:
            self._refuse(HeadRefused(431, "request headers are too large"))
        elif b"\n\n" in buffer:
            # Bare line feeds: not HTTP as this server reads it.
            self._refuse(HeadRefused(400, "malformed HTTP request"))

    def _send(self, body: bytes, keep_alive: bool, http_1_0: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        transport.write(ok_response(body, keep_alive, http_1_0))
        if not keep_alive:
            self._close()

    def _wait_for(self, answer: Awaitable[bytes], keep_alive: bool, http_1_0: bool) -> None:
        self._pending = pending = asyncio.ensure_future(answer)
        if self._transport is not None:
            self._transport.pause_reading()

        def answered(done: asyncio.Future[bytes]) -> None:
            self._pending = None
            if done.cancelled():
                return
            self._send(done.result(), keep_alive, http_1_0)
            if self._transport is None or self._transport.is_closing():
                return
            if self._eof:
                self._serve()
                self._close()
                return
            if not self._writing_paused:
                self._transport.resume_reading()
                self._serve()

        pending.add_done_callback(answered)

    def _refuse(self, refused: HeadRefused) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(refusal_response(refused))
        self._close()

    def _close(self) -> None:
        self._buffer, self._at = b"", 0
        if self._transport is not None:
            self._transport.close()

    def _hand_over(self, data: bytes) -> None:
        """aiohttp serves this connection from the request at the start of ``data`` on."""
        transport = self._transport
        if transport is None:
            return
        self._listener.connections.discard(self)
        self._buffer, self._at = b"", 0
        handler = self._listener.aiohttp_server()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if data:
            handler.data_received(data)
        if self._eof:
            handler.eof_received()


def heads_for(listener: Listener, remote: str) -> HeadReader:
    """The head reader for a connection from ``remote``: a trusted proxy's X-Forwarded-For
    is read, anyone else's is not."""
    state = listener.state
    if state.trusted_proxies and _trusted(state, remote):
        return listener.proxied_heads
    return listener.heads


def check_size(options: TrackerOptions, head: bytes) -> int:
    """Where the request line of ``head`` ends, or :class:`HeadRefused` if it is too big."""
    line = head.find(b"\r\n")
    if line > options.max_request_line:
        raise HeadRefused(414, f"request line is longer than {options.max_request_line} bytes")
    if head.count(b"\r\n") - 2 > options.max_headers:
        raise HeadRefused(431, f"more than {options.max_headers} request headers")
    if len(head) - line - 4 > options.max_header_size and any(
        len(field) > options.max_header_size for field in head[line:].split(b"\r\n")
    ):
        raise HeadRefused(431, f"a request header is longer than {options.max_header_size} bytes")
    return line


def read_request(
    listener: Listener, head: bytes, heads: HeadReader, remote: str
) -> tuple[Answer | None, bool]:
    """Read one whole request ``head`` into ``heads`` and answer it: the answer (None if aiohttp
    should serve it) and whether the request is HTTP/1.0. :class:`HeadRefused` if the head is
    too big or not HTTP."""
    line = check_size(listener.options, head)
    heads.read(head)
    if not heads.complete:
        return None, False
    return route(listener.state, head, heads, remote), head.endswith(b"HTTP/1.0", 0, line)


def route(state: TrackerState, head: bytes, heads: HeadReader, remote: str) -> Answer | None:
    """The answer to the request ``heads`` has read from ``head``, or None if aiohttp should
    serve it."""
    # The parser has checked the request line: its method is the first word.
    if not head.startswith(b"GET "):
        return None
    path, _, query = heads.url.partition(b"?")
    # One-sided slices only: compiled by mypyc, a slice that starts past its end fails.
    if path.endswith(b"/announce"):
        segment, answer = path.removesuffix(b"/announce")[1:], announce_answer
    elif path.endswith(b"/scrape"):
        segment, answer = path.removesuffix(b"/scrape")[1:], scrape_answer
    else:
        return None
    # find() rather than `in`: bytes.__contains__ first tries its argument as an integer and
    # builds a TypeError message each time, a measurable share of an announce.
    if not path.startswith(b"/") or segment.find(b"/") >= 0:
        return None
    if not segment:
        return missing_passkey_answer(state)
    if segment.find(b"%") >= 0:
        segment = unquote_to_bytes(segment)
    return answer(
        state,
        segment.decode("utf-8", "replace"),
        query.partition(b"#")[0],
        remote,
        heads.forwarded_for,
    )


def ok_response(body: bytes, keep_alive: bool, http_1_0: bool) -> bytes:
    """The whole response to an announce or scrape; HTTP/1.0 is told it was kept open."""
    connection = (KEEP_ALIVE if http_1_0 else b"") if keep_alive else CLOSE_AFTER
    return b"%s%d\r\n%s%s\r\n%s" % (OK_HEAD, len(body), DATE.header(), connection, body)


def refusal_response(refused: HeadRefused) -> bytes:
    """The answer to a head the listener will not read; the connection closes after it."""
    return response(encode_failure(refused.reason), CLOSE_AFTER, refused.status)


def _trusted(state: TrackerState, remote: str) -> bool:
    try:
        return is_trusted_proxy(state, canonical_ip(remote))
    except (Refusal, ValueError):
        return False
