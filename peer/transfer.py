"""One download's time in the swarm: CDN node choice, offload control, progress figures.

The loop polls libtorrent, splits delivered bytes between peers and the CDN, lets the
offload controller switch the best CDN node's web seed on or off, and fails over to the next
node when a web seed fails.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from peerpipe.logs import fields

from .accounting import ByteLedger, Source
from .cdn import CdnNode, CdnNodes, web_seed_url
from .errors import ContentRejected, TorrentError
from .offload import (
    OffloadController,
    OffloadPolicy,
    SwarmSample,
    cdn_intake_limit,
    unavailable_pieces,
    useful_sources,
)
from .swarm import ConnectionPoll, Swarms, torrent_failure

log = logging.getLogger("peerpipe.peer.transfer")
_CONTROL_SECONDS = 1.0
_QUICK_POLL_SECONDS = 0.01
_TRACKER_ANSWER_SECONDS = 2.0  # how long quick polls wait for the tracker's first answer
_PERSIST_SECONDS = 2.0
# With bytes already rejected by the piece hashes, this long without one valid byte means no
# source left is honest: hostile peers are banned on their second bad piece and honest ones
# keep the download moving, so a stall after failures is the CDN itself serving bad content.
REJECTED_CONTENT_STALL_SECONDS = 10.0
# Once other players hold every piece a download lacks, the CDN sends it at most this share
# of the target rate (see offload.cdn_intake_limit).
_CDN_SHARE = 0.6

Update = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class TransferPlan:
    download_id: str
    game_id: str
    p2p_enabled: bool
    target_rate: int
    preferred_region: str
    base_peer_bytes: int  # delivered before this run (earlier runs, before a restart)
    base_cdn_bytes: int


class Transfer:
    """Drives one libtorrent handle until its release is complete."""

    def __init__(
        self,
        swarms: Swarms,
        nodes: CdnNodes,
        handle: Any,
        plan: TransferPlan,
        poll_interval: float,
    ) -> None:
        self._swarms = swarms
        self._nodes = nodes
        self._handle = handle
        self._plan = plan
        self._poll = poll_interval
        self._web_seed_node: str | None = None
        now = self._started_at = time.monotonic()
        self._controller = OffloadController(
            OffloadPolicy(target_rate=plan.target_rate), now, plan.p2p_enabled
        )
        self._controlled_at = 0.0
        self._cdn_endpoints = {n.bt_endpoint for n in nodes.all() if n.bt_endpoint}
        # bytes from BitTorrent sources, for the swarm's rate (libtorrent's per-peer rates
        # lag by seconds, far too slow for a controller deciding every second)
        self._swarm_ledger = ByteLedger()
        self._swarm_bytes_at: tuple[float, int] | None = None
        self._peer_ledger = ByteLedger()  # other players only
        self._peer_bytes_at: tuple[float, int] | None = None
        self._shared_hosts: set[str] = set()  # CDN addresses that peers use too
        self._alone = False  # no other player in the swarm (see _watch_company)

    def web_seed_failed(self, url: str) -> None:
        """A web seed answered with an error: forget it; the next node takes over."""
        for node in self._nodes.all():
            if url.startswith(node.url.rstrip("/")):
                self._nodes.observe_failure(node.url, time.monotonic())
        if self._web_seed_node and url.startswith(self._web_seed_node.rstrip("/")):
            self._web_seed_node = None
            self._swarms.set_web_seeds(self._handle, [])

    async def run(self, update: Update) -> None:
        plan = self._plan
        cdn_endpoints = self._cdn_endpoints
        self._own_cdn_hosts()  # before connecting: classes are given when connections open
        self._connect_cdn_seed()
        ledger = ByteLedger()
        payload_at_start = useful_payload(self._handle.status())
        persisted_at = time.monotonic()
        watch = ContentWatch(time.monotonic())
        while True:
            status = self._handle.status()
            failure = torrent_failure(status)
            if failure:
                raise TorrentError(failure)
            watch.observe(
                time.monotonic(), int(status.total_wanted_done), int(status.total_failed_bytes)
            )
            checking = str(status.state).startswith("checking")
            poll = self._swarms.poll(self._handle, cdn_endpoints)
            ledger.observe(poll.samples)
            self._swarm_ledger.observe(poll.swarm_samples)
            self._peer_ledger.observe(s for s in poll.samples if s.source is Source.PEER)
            if not checking:
                self._watch_company(status, poll)
                self._control(status, poll)
            split = ledger.reconciled(useful_payload(status) - payload_at_start)
            done = bool(status.is_finished or status.is_seeding) and not checking
            persist = done or time.monotonic() - persisted_at >= _PERSIST_SECONDS
            persisted_at = time.monotonic() if persist else persisted_at
            await update(
                plan.download_id,
                persist=persist,
                downloaded_bytes=int(status.total_wanted_done),
                peer_bytes=plan.base_peer_bytes + split.peer,
                cdn_bytes=plan.base_cdn_bytes + split.cdn,
                download_rate=int(status.download_payload_rate),
                upload_rate=int(status.upload_payload_rate),
            )
            if done:
                self._swarms.set_web_seeds(self._handle, [])
                self._swarms.set_cdn_download_limit(0)
                return
            await asyncio.sleep(self._next_poll(status))

    def _next_poll(self, status: Any) -> float:
        """A poll interval, or less while the tracker has not answered yet (alone, the
        download takes the faster path as soon as it knows, see ``_watch_company``) or when
        the download should end sooner (the install goes on to its file check as soon as the
        last piece is in)."""
        unknown = self._plan.p2p_enabled and int(status.num_complete) < 0
        if unknown and time.monotonic() - self._started_at < _TRACKER_ANSWER_SECONDS:
            return min(self._poll, _QUICK_POLL_SECONDS)
        left = int(status.total_wanted) - int(status.total_wanted_done)
        rate = int(status.download_payload_rate)
        if rate <= 0:
            return self._poll
        return min(self._poll, max(_QUICK_POLL_SECONDS, left / rate))

    def _watch_company(self, status: Any, poll: ConnectionPoll) -> None:
        """Alone in the swarm (no other player connected or counted by the tracker), every
        byte comes from the CDN whatever the download does, so it takes them the fastest
        way: the web seed joins the node's BitTorrent seed at once (more streams from the
        node; bench/agent.py, scenario 1) and pieces come in order (the install's file check
        then hashes each file as it completes rather than all of them at the end). Among
        players, pieces go rarest first (in order, they would all want the same ones) and
        the offload controller alone decides on web seeds."""
        company = bool(poll.peer_hosts) or (
            self._plan.p2p_enabled and not tracker_counts_only_us(status)
        )
        if self._alone == (not company):
            return
        self._alone = not company
        self._swarms.set_sequential(self._handle, self._alone)
        self._switch_web_seed(self._alone or self._controller.web_seeds_on, alone=self._alone)

    def _connect_cdn_seed(self) -> None:
        ranked = self._ranked()
        for node in ranked[:1]:
            if node.healthy and node.bt_endpoint:
                self._swarms.connect(self._handle, [node.bt_endpoint])

    def _ranked(self) -> list[CdnNode]:
        return self._nodes.ranked(self._plan.preferred_region, time.monotonic())

    def _control(self, status: Any, poll: ConnectionPoll) -> None:
        now = time.monotonic()
        if now - self._controlled_at < _CONTROL_SECONDS:
            return
        self._controlled_at = now
        have = list(status.pieces)
        swarm_rate = self._rate(now, self._swarm_ledger.observed().total, "_swarm_bytes_at")
        peer_rate = self._rate(now, self._peer_ledger.observed().total, "_peer_bytes_at")
        self._limit_cdn_intake(poll, peer_rate, have)
        sample = SwarmSample(
            at=now,
            swarm_rate=swarm_rate,
            swarm_sources=useful_sources(have, poll.swarm_bitfields),
            unavailable_pieces=unavailable_pieces(have, poll.swarm_bitfields),
            waiting_sources=sum(1 for pieces in poll.swarm_bitfields if not any(pieces)),
        )
        if self._web_seed_node and poll.web_seed_rate:
            self._nodes.observe_throughput(self._web_seed_node, poll.web_seed_rate)
        wanted = self._controller.observe(sample) or self._alone
        self._switch_web_seed(
            wanted,
            swarm_rate=sample.swarm_rate,
            swarm_sources=sample.swarm_sources,
            unavailable_pieces=sample.unavailable_pieces,
            waiting_sources=sample.waiting_sources,
        )

    def _switch_web_seed(self, on: bool, **why: Any) -> None:
        """The best healthy node's web seed on, or every web seed off."""
        if on and self._web_seed_node is None:
            usable = [node for node in self._ranked() if node.healthy]
            if not usable:
                self._nodes.probe_wanted = True
            else:
                self._web_seed_node = usable[0].url
                seed = web_seed_url(usable[0].url, self._plan.game_id)
                self._swarms.set_web_seeds(self._handle, [seed])
                self._log_switch("web seed on", usable[0].url, why)
        elif not on and self._web_seed_node is not None:
            self._log_switch("web seed off", self._web_seed_node, why)
            self._web_seed_node = None
            self._swarms.set_web_seeds(self._handle, [])

    def _rate(self, now: float, total: int, memory: str) -> int:
        """Bytes/s since the last control tick (libtorrent's own per-peer rates lag by
        seconds, far too slow for a controller deciding every second)."""
        before: tuple[float, int] = getattr(self, memory) or (now, total)
        setattr(self, memory, (now, total))
        elapsed = now - before[0]
        return int((total - before[1]) / elapsed) if elapsed > 0 else 0

    def _limit_cdn_intake(self, poll: ConnectionPoll, peer_rate: int, have: list[bool]) -> None:
        """Throttle the CDN while other players hold every piece we lack and deliver the
        target rate. Only CDN nodes with addresses of their own can be told apart from
        players."""
        self._shared_hosts |= poll.peer_hosts
        own = self._own_cdn_hosts()
        limit = 0
        if self._plan.p2p_enabled and own:
            fresh = unavailable_pieces(have, poll.peer_bitfields)
            limit = cdn_intake_limit(fresh, peer_rate, self._plan.target_rate, _CDN_SHARE)
        self._swarms.set_cdn_download_limit(limit)

    def _own_cdn_hosts(self) -> frozenset[str]:
        """CDN addresses no player uses (our own address is shared by players on this host);
        connections to them join libtorrent's CDN peer class."""
        hosts = {endpoint[0] for endpoint in self._cdn_endpoints}
        own = frozenset(hosts - self._shared_hosts - {self._swarms.listen_host})
        self._swarms.mark_cdn_hosts(own)
        return own

    def _log_switch(self, what: str, node: str, why: dict[str, Any]) -> None:
        log.info(what, extra=fields(download=self._plan.download_id, cdn=node, **why))


class ContentWatch:
    """Tells a download whose only remaining sources serve content failing the signed hashes."""

    def __init__(self, now: float, stall_seconds: float = REJECTED_CONTENT_STALL_SECONDS) -> None:
        self._stall = stall_seconds
        self._progress_at = now
        self._done = -1

    def observe(self, now: float, done_bytes: int, failed_bytes: int) -> None:
        if done_bytes > self._done:
            self._done, self._progress_at = done_bytes, now
            return
        if failed_bytes > 0 and now - self._progress_at >= self._stall:
            raise ContentRejected(
                f"ArbitrarySoftware: arbitrary software attack: {failed_bytes} bytes served for "
                "this release failed its signed piece hashes and no source has sent valid data "
                f"for {self._stall:.0f}s; nothing was installed"
            )


def tracker_counts_only_us(status: Any) -> bool:
    """Whether the tracker has answered and counts nobody in the swarm but us (before its
    first answer libtorrent reports -1 for both counts)."""
    seeds, others = int(status.num_complete), int(status.num_incomplete)
    return seeds >= 0 and others >= 0 and seeds + others <= 1


def useful_payload(status: Any) -> int:
    """Payload bytes that ended up in the release: end-game duplicates (web seeds fetch whole
    ranges) and pieces that failed their hash check are not delivered bytes."""
    received = int(status.total_payload_download)
    return max(0, received - int(status.total_redundant_bytes) - int(status.total_failed_bytes))
