"""Who delivered the bytes: peers or the CDN (sans-IO).

libtorrent reports, per live connection, the payload bytes received on it. Connections come
and go, so the ledger remembers the last value seen for each one and banks it when the
connection disappears (or restarts from zero under the same endpoint).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Source(enum.StrEnum):
    PEER = "peer"
    CDN = "cdn"


@dataclass(frozen=True)
class ConnectionSample:
    """One live connection as seen in one poll."""

    key: tuple[str, str, int]
    source: Source
    total_download: int


@dataclass(frozen=True)
class ByteSplit:
    peer: int
    cdn: int

    @property
    def total(self) -> int:
        return self.peer + self.cdn


class ByteLedger:
    """Accumulates per-source payload bytes across polls of the connection list."""

    def __init__(self) -> None:
        self._live: dict[tuple[str, str, int], ConnectionSample] = {}
        self._banked = {Source.PEER: 0, Source.CDN: 0}

    def observe(self, samples: Iterable[ConnectionSample]) -> None:
        seen: dict[tuple[str, str, int], ConnectionSample] = {}
        for sample in samples:
            previous = self._live.get(sample.key)
            if previous is not None and sample.total_download < previous.total_download:
                # the counter went backwards: a new connection reusing the endpoint
                self._bank(previous)
            seen[sample.key] = sample
        for key, previous in self._live.items():
            if key not in seen:
                self._bank(previous)
        self._live = seen

    def _bank(self, sample: ConnectionSample) -> None:
        self._banked[sample.source] += sample.total_download

    def observed(self) -> ByteSplit:
        """Bytes seen so far, by source, without reconciliation."""
        totals = dict(self._banked)
        for sample in self._live.values():
            totals[sample.source] += sample.total_download
        return ByteSplit(peer=totals[Source.PEER], cdn=totals[Source.CDN])

    def reconciled(self, total_payload: int) -> ByteSplit:
        """The observed split scaled so that ``peer + cdn == total_payload``.

        Polls miss the last bytes of connections that close between two polls (seeds hang up
        as soon as the download completes), so the torrent's own payload counter is the
        truth for the sum and the observed ratio decides the split. With nothing observed
        the bytes are counted as CDN bytes: the CDN is the source of last resort.
        """
        observed = self.observed()
        if total_payload <= 0:
            return ByteSplit(0, 0)
        if observed.total == 0:
            return ByteSplit(peer=0, cdn=total_payload)
        peer = round(observed.peer * total_payload / observed.total)
        return ByteSplit(peer=peer, cdn=total_payload - peer)
