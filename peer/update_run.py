"""What the agent's API shows of a game's update: the run started through it, or the preload
the preloader holds for a release still locked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .preloader import PreloadRun
from .updates import UpdateProgress, UpdateResult

PRELOAD_STATES = ("preloading", "preloaded")


@dataclass(frozen=True)
class UpdateRun:
    """An update started through the API: ``running``, then ``updated`` or ``failed``; for a
    release still locked, ``preloading`` or ``preloaded`` (the preloader has it)."""

    state: str
    to_release: int
    progress: UpdateProgress | None = None
    result: UpdateResult | None = None
    error: str | None = None
    peer_bytes: int = 0  # payload from other players (whole pieces)
    cdn_bytes: int = 0  # chunk bytes from CDN nodes
    unlock_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        progress, result = self.progress, self.result
        fetched = progress.fetched_bytes if progress else 0
        return {
            "state": self.state,
            "to_release": self.to_release,
            "phase": progress.phase if progress else None,
            "done_bytes": progress.done_bytes if progress else 0,
            "total_bytes": progress.total_bytes if progress else 0,
            "fetched_bytes": result.fetched_bytes if result else fetched,
            "reused_bytes": result.reused_bytes if result else None,
            "peer_bytes": self.peer_bytes,
            "cdn_bytes": self.cdn_bytes,
            "transferred_bytes": self.peer_bytes + self.cdn_bytes,
            "unlock_at": self.unlock_at,
            "error": self.error,
        }


def with_preload(run: UpdateRun | None, preload: PreloadRun | None) -> UpdateRun | None:
    """``run``, or the preload as it stands now when there is no run or the run is that
    preload (started by ``download``): a preload started through ``/preload``, or by an
    earlier run of the agent, shows as the game's update too."""
    if preload is None or preload.state not in PRELOAD_STATES:
        return run
    release = preload.manifest.release
    if run is None or (run.state in PRELOAD_STATES and run.to_release == release):
        return UpdateRun(preload.state, release, unlock_at=preload.manifest.unlock_at)
    return run
