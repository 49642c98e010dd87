"""The UDP tracker endpoint: an asyncio datagram protocol around :mod:`tracker.udp_protocol`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from peerpipe.logs import fields
from tracker.announce import peer_address
from tracker.gate import Refusal, answer_announce
from tracker.state import TrackerState
from tracker.udp_protocol import (
    AnnounceRequest,
    ConnectRequest,
    UdpRequestError,
    connection_id,
    connection_valid,
    encode_announce_reply,
    encode_connect_reply,
    encode_error,
    parse_request,
)

log = logging.getLogger("tracker.udp")

# Datagrams being answered at once; beyond this new ones are dropped (memory bound).
MAX_IN_FLIGHT = 10_000


def connection_secret(platform_key: str) -> bytes:
    """Shared by every instance holding the platform key, so any of them accepts an id."""
    return hashlib.sha256(b"peerpipe tracker udp connection id|" + platform_key.encode()).digest()


class UdpTracker(asyncio.DatagramProtocol):
    def __init__(self, state: TrackerState) -> None:
        self._state = state
        self._secret = connection_secret(state.config.platform_key)
        self._transport: asyncio.DatagramTransport | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            return
        task = asyncio.ensure_future(self._answer(data, str(addr[0]), int(addr[1])))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def _send(self, payload: bytes, host: str, port: int) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(payload, (host, port))

    async def _answer(self, data: bytes, host: str, port: int) -> None:
        state = self._state
        started = time.perf_counter()
        try:
            request = parse_request(data, state.config.tracker.max_numwant)
        except UdpRequestError as exc:
            state.metrics.announces.record("invalid", "udp")
            if exc.transaction_id is not None:
                self._send(encode_error(exc.transaction_id, str(exc)), host, port)
            return
        if isinstance(request, ConnectRequest):
            issued = connection_id(self._secret, int(time.time()), host)
            self._send(encode_connect_reply(request.transaction_id, issued), host, port)
            return
        if not connection_valid(self._secret, request.connection_id, int(time.time()), host):
            self._send(
                encode_error(request.transaction_id, "connection id expired; connect again"),
                host,
                port,
            )
            return
        if not isinstance(request, AnnounceRequest):
            state.metrics.scrapes.labels("refused", "udp").inc()
            reason = "scrape over UDP carries no passkey; scrape over HTTP instead"
            self._send(encode_error(request.transaction_id, reason), host, port)
            return
        payload, result = await self._announce(request, host)
        self._send(payload, host, port)
        state.metrics.announces.record(result, "udp", time.perf_counter() - started)

    async def _announce(self, request: AnnounceRequest, host: str) -> tuple[bytes, str]:
        transaction_id = request.transaction_id
        passkey = request.passkey
        if passkey is None:
            reason = "this is a private tracker: announce to udp://<host>:<port>/<passkey>/announce"
            return encode_error(transaction_id, reason), "invalid"
        ip = str(peer_address(host))
        try:
            reply = await answer_announce(self._state, passkey, request.announce, ip)
        except Refusal as refusal:
            return encode_error(transaction_id, refusal.reason), refusal.result
        except Exception:
            log.exception("udp announce failed", extra=fields(ip=ip))
            return encode_error(transaction_id, "internal tracker error; try again later"), "error"
        return encode_announce_reply(transaction_id, reply, ipv6=":" in ip), "ok"


async def start_udp_tracker(state: TrackerState, host: str, port: int) -> asyncio.DatagramTransport:
    """Listen for UDP tracker requests on ``host:port``."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: UdpTracker(state),
        local_addr=(host, port),
        # Connection ids are keyed by the platform key, so any worker accepts any (BEP 15).
        reuse_port=state.options.reuse_port or None,
    )
    log.info("udp tracker listening", extra=fields(host=host, port=port))
    return transport
