"""PeerPipe's private BitTorrent tracker: HTTP and UDP announce/scrape, swarms, admin API."""

# First: it decides whether the compiled modules or their sources are imported below.
import tracker.native  # noqa: F401

# isort: split
from tracker.access import AccessChecker
from tracker.access_cache import AccessDecision
from tracker.announce import (
    Announce,
    AnnounceReply,
    Event,
    Peer,
    PeerList,
    SwarmStats,
    encode_announce_reply,
    encode_failure,
    parse_announce,
)
from tracker.app import create_app
from tracker.bans import Ban, BanKind, BanList, InvalidBan
from tracker.bencode import decode, encode
from tracker.errors import (
    AccessUnavailable,
    AnnounceError,
    BencodeError,
    SwarmConflict,
    SwarmFull,
    TrackerError,
    UnknownSwarm,
)
from tracker.memory_store import MemorySwarmStore
from tracker.options import TrackerOptions
from tracker.redis_store import RedisSwarmStore
from tracker.scrape import encode_scrape_reply, parse_scrape
from tracker.serving import RunningTracker, start_tracker
from tracker.swarm_store import PeerView, StoreTotals, Swarm, SwarmReport, SwarmStore

__all__ = [
    "AccessChecker",
    "AccessDecision",
    "AccessUnavailable",
    "Announce",
    "AnnounceError",
    "AnnounceReply",
    "Ban",
    "BanKind",
    "BanList",
    "BencodeError",
    "Event",
    "InvalidBan",
    "MemorySwarmStore",
    "Peer",
    "PeerList",
    "PeerView",
    "RedisSwarmStore",
    "RunningTracker",
    "StoreTotals",
    "Swarm",
    "SwarmConflict",
    "SwarmFull",
    "SwarmReport",
    "SwarmStats",
    "SwarmStore",
    "TrackerError",
    "TrackerOptions",
    "UnknownSwarm",
    "create_app",
    "decode",
    "encode",
    "encode_announce_reply",
    "encode_failure",
    "encode_scrape_reply",
    "parse_announce",
    "parse_scrape",
    "start_tracker",
]
