"""Scrape requests and replies (BEP 48), sans-IO."""

from __future__ import annotations

from collections.abc import Mapping

from tracker.announce import SwarmStats, parse_info_hash, query_pairs
from tracker.bencode import Bencodable, encode
from tracker.errors import AnnounceError

MAX_SCRAPE_HASHES = 64


def parse_scrape(raw_query: str | bytes) -> tuple[bytes, ...]:
    """The info-hashes a scrape asks about, in order and without repeats.

    A scrape naming no info-hash asks for every swarm, which a private tracker refuses.
    """
    hashes: dict[bytes, None] = {}
    for name, value in query_pairs(raw_query):
        if name == "info_hash":
            hashes[parse_info_hash(value)] = None
    if not hashes:
        raise AnnounceError("scrape must name at least one info_hash; scraping all is refused")
    if len(hashes) > MAX_SCRAPE_HASHES:
        raise AnnounceError(f"scrape may name at most {MAX_SCRAPE_HASHES} info-hashes")
    return tuple(hashes)


def encode_scrape_reply(files: Mapping[bytes, SwarmStats]) -> bytes:
    body: dict[bytes, Bencodable] = {
        info_hash: {
            "complete": stats.complete,
            "downloaded": stats.downloaded,
            "incomplete": stats.incomplete,
        }
        for info_hash, stats in files.items()
    }
    return encode({"files": body})
