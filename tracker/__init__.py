"""PeerPipe's private BitTorrent tracker: HTTP announce/scrape, swarm registry, admin API."""

from tracker.access import AccessChecker, AccessDecision
from tracker.announce import (
    Announce,
    AnnounceReply,
    Event,
    Peer,
    SwarmStats,
    encode_announce_reply,
    encode_failure,
    parse_announce,
)
from tracker.app import create_app, create_store
from tracker.bencode import decode, encode
from tracker.errors import (
    AccessUnavailable,
    AnnounceError,
    BencodeError,
    SwarmConflict,
    TrackerError,
    UnknownSwarm,
)
from tracker.scrape import encode_scrape_reply, parse_scrape
from tracker.swarm_store import MemorySwarmStore, StoreTotals, Swarm, SwarmStore

__all__ = [
    "AccessChecker",
    "AccessDecision",
    "AccessUnavailable",
    "Announce",
    "AnnounceError",
    "AnnounceReply",
    "BencodeError",
    "Event",
    "MemorySwarmStore",
    "Peer",
    "StoreTotals",
    "Swarm",
    "SwarmConflict",
    "SwarmStats",
    "SwarmStore",
    "TrackerError",
    "UnknownSwarm",
    "create_app",
    "create_store",
    "decode",
    "encode",
    "encode_announce_reply",
    "encode_failure",
    "encode_scrape_reply",
    "parse_announce",
    "parse_scrape",
]
