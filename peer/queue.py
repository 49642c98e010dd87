"""Which downloads run: priority first, then queue position, at most N at once (sans-IO)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import DownloadConflict
from .model import ACTIVE_STATES, Download, DownloadState

QUEUE_STATES = ACTIVE_STATES | {DownloadState.PAUSED}


def queue_order(downloads: Iterable[Download]) -> list[Download]:
    """Downloads waiting, working or paused, in the order they get a slot."""
    queued = [item for item in downloads if item.state in QUEUE_STATES]
    return sorted(queued, key=lambda item: (-item.priority, item.position))


@dataclass(frozen=True)
class QueuePlan:
    start: tuple[str, ...]  # should run and do not yet
    stop: tuple[str, ...]  # run and lost their slot to a higher-priority download


def plan(downloads: Iterable[Download], running: set[str], max_concurrent: int) -> QueuePlan:
    ordered = [item for item in queue_order(downloads) if item.state in ACTIVE_STATES]
    wanted = {item.id for item in ordered[: max(1, max_concurrent)]}
    start = tuple(item.id for item in ordered if item.id in wanted and item.id not in running)
    stop = tuple(item.id for item in ordered if item.id in running and item.id not in wanted)
    return QueuePlan(start, stop)


def reordered_positions(downloads: Sequence[Download], order: Sequence[str]) -> dict[str, int]:
    """New queue positions: ``order`` first (in that order), every other queued one after."""
    known = {item.id for item in queue_order(downloads)}
    unknown = [item for item in order if item not in known]
    if unknown:
        raise DownloadConflict(f"not in the queue: {', '.join(unknown)}")
    if len(set(order)) != len(order):
        raise DownloadConflict("the order names a download twice")
    rest = [item.id for item in queue_order(downloads) if item.id not in set(order)]
    return {download_id: index for index, download_id in enumerate([*order, *rest])}
