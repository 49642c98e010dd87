"""HTTP/1.1 request heads in and response heads out, for the lean announce listener.

Heads are parsed by httptools (llhttp); only the request line and a few fields matter here.
"""

from __future__ import annotations

import email.utils
import time

import httptools

CLOSE_AFTER = b"Connection: close\r\n"
KEEP_ALIVE = b"Connection: keep-alive\r\n"
_REASONS = {400: b"Bad Request", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


class _Date:
    """The ``Date`` header (RFC 9110 asks origin servers for it), formatted once a second."""

    def __init__(self) -> None:
        self._second = 0
        self._value = b""

    def header(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = b"Date: %s\r\n" % email.utils.formatdate(now, usegmt=True).encode()
        return self._value


DATE = _Date()


# The start of every answer to an announce or scrape; its Content-Length value follows.
OK_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nContent-Length: "
)


def response(body: bytes, connection: bytes = b"", status: int = 200) -> bytes:
    """A whole response carrying ``body`` (bencoded), ``connection`` a Connection header line."""
    reason = b"OK" if status == 200 else _REASONS[status]
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n"
            b"Content-Length: %d\r\n" % (status, reason, len(body)),
            DATE.header(),
            connection,
            b"\r\n",
            body,
        )
    )


class HeadRefused(Exception):
    """A request head the tracker will not read further: its status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class HeadReader:
    """httptools, fed one complete request head at a time, for all of a listener's connections.

    A parser per connection would be built and thrown away with each connection, and clients
    announce on a fresh connection each time. Fed only whole heads, the parser is back at the
    start of a request after each one, so one serves every connection; its keep-alive leniency
    lets it go on after a ``Connection: close`` head (that connection itself is closed). After a
    head it could not finish (a body follows, or an upgrade) or could not read, it is replaced.
    """

    def __init__(self) -> None:
        self._parser = self._new_parser()
        self.url = b""
        self.complete = False
        self.keep_alive = False
        self.forwarded_for: str | None = None

    def _new_parser(self) -> httptools.HttpRequestParser:
        parser = httptools.HttpRequestParser(self)
        parser.set_dangerous_leniencies(lenient_keep_alive=True)
        return parser

    def read(self, head: bytes) -> None:
        """Parse ``head`` (request line, headers, blank line) into this reader's fields."""
        self.url, self.complete, self.forwarded_for = b"", False, None
        try:
            self._parser.feed_data(head)
        except httptools.HttpParserUpgrade:
            self.complete = False  # aiohttp takes upgrades
        except httptools.HttpParserError:
            self._parser = self._new_parser()
            raise HeadRefused(400, "malformed HTTP request") from None
        if not self.complete:
            self._parser = self._new_parser()

    # httptools callbacks

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        self.complete = True
        # Read here: the parser forgets it once it is ready for the next request.
        self.keep_alive = self._parser.should_keep_alive()


class ProxiedHeadReader(HeadReader):
    """For connections from a trusted proxy: its X-Forwarded-For is read too."""

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-forwarded-for":
            self.forwarded_for = value.decode("latin-1")
