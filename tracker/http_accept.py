"""Accepting the tracker's HTTP connections, and answering a one-announce connection at once.

BitTorrent clients announce on a fresh connection each time and close it after the answer, so
a tracker spends as much on each connection as on each announce. An event loop's transport
for a connection costs ten system calls and a dozen objects before the first byte is read
(registering the socket, asking its addresses, setting options, callbacks scheduled for its
start and end). :class:`Acceptor` does what opentracker does instead: it accepts from the
listening socket itself, reads the request the client has already sent (``TCP_DEFER_ACCEPT``
holds a connection back until its request arrives), answers it and closes: accept, read,
write, close. The peer address comes with the accept.

Anything else becomes an ordinary :class:`AnnounceProtocol` connection on the event loop,
from where it stood: a head not all there yet, more than one request, a request the lean
listener does not serve (it goes on to aiohttp), a client that keeps the connection open (after
its first answer), an answer the socket could not take at once.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from peerpipe.logs import fields
from tracker.http_heads import HeadRefused
from tracker.http_server import (
    AnnounceProtocol,
    Listener,
    heads_for,
    ok_response,
    read_request,
    refusal_response,
)

log = logging.getLogger("tracker.http")

# Connections accepted per wake-up of the listening socket before other callbacks get a turn.
ACCEPTS_PER_WAKEUP = 64
# What is read of a new connection at first; a head longer than this is read by a transport.
FIRST_READ = 8192
# Seconds a client may take to send its request before the connection is handed over anyway
# (TCP_DEFER_ACCEPT; Linux rounds it to its SYN-ACK retransmission schedule).
DEFER_ACCEPT_SECONDS = 1
# Out of file descriptors or memory: accepting again after this many seconds (as asyncio does).
ACCEPT_RETRY_SECONDS = 1.0
# After close(), how long hand-overs and answers in flight may take to end before a stop
# gives up on them: a stop that waits on one connection forever never stops.
CLOSE_WAIT_SECONDS = 5.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_SEND_FLAGS = socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL


def listening_sockets(host: str, port: int, reuse_port: bool, backlog: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for ``host:port`` (port 0: one free port)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                # Every address on the port the first one was given.
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            defer_accept = getattr(socket, "TCP_DEFER_ACCEPT", None)
            if defer_accept is not None:
                sock.setsockopt(socket.IPPROTO_TCP, defer_accept, DEFER_ACCEPT_SECONDS)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Acceptor:
    """Accepts on the listening ``sockets`` and answers what it can without a transport."""

    def __init__(self, listener: Listener, sockets: list[socket.socket]) -> None:
        self._listener = listener
        self._sockets = sockets
        self._loop = asyncio.get_running_loop()
        # Answers that needed I/O, by the connection waiting for each.
        self._answering: dict[asyncio.Future[bytes], _socket.socket] = {}
        self._taking_over: set[asyncio.Future[None]] = set()
        # By listening socket: its C-level accept, and its family, type and protocol.
        self._accepting: dict[int, tuple[Callable[[], tuple[int, Any]], int, int, int]] = {}
        self._closed = False

    def start(self) -> None:
        for sock in self._sockets:
            # socket.accept() wraps each connection in a socket.socket, converting its family
            # and type to enums on the way (in Python): a quarter of the accept's cost. The
            # C-level accept it calls and the C socket type do the same job.
            accept: Callable[[], tuple[int, Any]] = sock._accept  # type: ignore[attr-defined]
            self._accepting[sock.fileno()] = (accept, int(sock.family), int(sock.type), sock.proto)
        for sock in self._sockets:
            self._loop.add_reader(sock.fileno(), self._accept_from, sock)

    def close(self) -> None:
        """Stop accepting; connections waiting for an answer are closed without one."""
        if self._closed:
            return
        self._closed = True
        for sock in self._sockets:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        for answer in list(self._answering):
            answer.cancel()

    async def wait_closed(self, grace_seconds: float = CLOSE_WAIT_SECONDS) -> None:
        """After :meth:`close`: until every connection being handed over has its transport
        and every answer in flight has ended; what is left after ``grace_seconds`` is cancelled
        and left behind, with a warning."""
        deadline = self._loop.time() + grace_seconds
        while True:
            in_flight: list[asyncio.Future[Any]] = [*self._taking_over, *self._answering]
            pending = {future for future in in_flight if not future.done()}
            if not pending:
                return
            left = deadline - self._loop.time()
            if left <= 0:
                log.warning(
                    "connections still pending when the tracker stopped",
                    extra=fields(
                        handing_over=len(self._taking_over), answering=len(self._answering)
                    ),
                )
                for future in pending:
                    future.cancel()
                return
            await asyncio.wait(pending, timeout=left)

    # Accepting

    def _accept_from(self, sock: socket.socket) -> None:
        accept, family, kind, proto = self._accepting[sock.fileno()]
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                descriptor, address = accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                log.error("cannot accept connections", extra=fields(error=repr(exc)))
                self._loop.remove_reader(sock.fileno())
                self._loop.call_later(ACCEPT_RETRY_SECONDS, self._accept_again, sock)
                return
            connection = _socket.socket(family, kind, proto, descriptor)
            try:
                self._answer_first(connection, str(address[0]))
            except Exception:
                # A fault in answering one connection is that connection's alone.
                log.exception("answering a connection failed", extra=fields(remote=address[0]))
                connection.close()

    def _accept_again(self, sock: socket.socket) -> None:
        if not self._closed:
            self._loop.add_reader(sock.fileno(), self._accept_from, sock)

    def _answer_first(self, connection: _socket.socket, remote: str) -> None:
        """Answer the connection's first request if it is all there and nothing else is."""
        try:
            received = connection.recv(FIRST_READ, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            self._hand_over(connection, remote)  # connected without sending yet
            return
        except OSError:
            connection.close()
            return
        if not received:
            connection.close()  # gone before asking anything
            return
        end = received.find(b"\r\n\r\n")
        if end < 0 or end + 4 != len(received):
            self._hand_over(connection, remote, received)
            return
        heads = heads_for(self._listener, remote)
        try:
            answer, is_http_1_0 = read_request(self._listener, received, heads, remote)
        except HeadRefused as refused:
            self._send(connection, remote, refusal_response(refused), keep_alive=False)
            return
        if answer is None:
            self._hand_over(connection, remote, received)
            return
        keep_alive = heads.keep_alive
        http_1_0 = keep_alive and is_http_1_0
        if isinstance(answer, bytes):
            self._send(connection, remote, ok_response(answer, keep_alive, http_1_0), keep_alive)
        else:
            self._wait_for(connection, remote, answer, keep_alive, http_1_0)

    def _send(
        self, connection: _socket.socket, remote: str, response: bytes, keep_alive: bool
    ) -> None:
        try:
            sent = connection.send(response, _SEND_FLAGS)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            connection.close()
            return
        if sent == len(response) and not keep_alive:
            connection.close()
            return
        self._hand_over(
            connection, remote, unsent=response[sent:], close_after_unsent=not keep_alive
        )

    def _wait_for(
        self,
        connection: _socket.socket,
        remote: str,
        answer: Awaitable[bytes],
        keep_alive: bool,
        http_1_0: bool,
    ) -> None:
        pending = asyncio.ensure_future(answer)
        self._answering[pending] = connection

        def answered(done: asyncio.Future[bytes]) -> None:
            self._answering.pop(done, None)
            if done.cancelled() or self._closed:
                connection.close()
                return
            response = ok_response(done.result(), keep_alive, http_1_0)
            self._send(connection, remote, response, keep_alive)

        pending.add_done_callback(answered)

    # Handing over to the event loop

    def _hand_over(
        self,
        connection: _socket.socket,
        remote: str,
        received: bytes = b"",
        unsent: bytes = b"",
        close_after_unsent: bool = False,
    ) -> None:
        """The connection goes on as an :class:`AnnounceProtocol` transport on the loop."""
        if self._closed:
            connection.close()
            return
        protocol = AnnounceProtocol(self._listener, remote, received, unsent, close_after_unsent)
        family, kind, proto = connection.family, connection.type, connection.proto
        stream = socket.socket(family, kind, proto, connection.detach())
        stream.setblocking(False)
        # As the loop's own accept does: a keep-alive client's answers are not held back
        # waiting for acknowledgements (Nagle).
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        taking_over = asyncio.ensure_future(self._take_over(stream, protocol))
        self._taking_over.add(taking_over)
        taking_over.add_done_callback(self._taking_over.discard)

    async def _take_over(self, connection: socket.socket, protocol: AnnounceProtocol) -> None:
        try:
            await self._loop.connect_accepted_socket(lambda: protocol, connection)
        except OSError as exc:
            log.info("connection lost on hand-over", extra=fields(error=repr(exc)))
            connection.close()
