"""The download record the agent keeps and serves (``GET /api/v1/downloads/<id>``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any


class DownloadState(enum.StrEnum):
    QUEUED = "queued"
    CHECKING = "checking"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    INSTALLED = "installed"
    PAUSED = "paused"
    FAILED = "failed"
    REFUSED = "refused"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


FINISHED_STATES = frozenset(
    {DownloadState.INSTALLED, DownloadState.FAILED, DownloadState.REFUSED, DownloadState.CANCELLED}
)
# waiting for a slot or working: these take part in the queue
ACTIVE_STATES = frozenset(
    {
        DownloadState.QUEUED,
        DownloadState.CHECKING,
        DownloadState.DOWNLOADING,
        DownloadState.VERIFYING,
    }
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Download:
    id: str
    game_id: str
    release: int | None
    state: DownloadState = DownloadState.QUEUED
    error: str | None = None
    total_bytes: int = 0
    downloaded_bytes: int = 0
    peer_bytes: int = 0
    cdn_bytes: int = 0
    download_rate: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float = 0.0
    verified: bool = False
    priority: int = 0
    position: int = 0
    download_rate_limit: int = 0
    upload_rate_limit: int = 0
    upload_rate: int = 0

    def evolve(self, **changes: Any) -> Download:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "game_id": self.game_id,
            "release": self.release,
            "state": str(self.state),
            "error": self.error,
            "total_bytes": self.total_bytes,
            "downloaded_bytes": self.downloaded_bytes,
            "peer_bytes": self.peer_bytes,
            "cdn_bytes": self.cdn_bytes,
            "download_rate": self.download_rate,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
            "verified": self.verified,
            "priority": self.priority,
            "position": self.position,
            "download_rate_limit": self.download_rate_limit,
            "upload_rate_limit": self.upload_rate_limit,
            "upload_rate": self.upload_rate,
        }

    def progress_json(self) -> dict[str, Any]:
        """The live figures of ``GET /downloads/<id>/progress`` and the WebSocket stream."""
        left = max(0, self.total_bytes - self.downloaded_bytes)
        eta = round(left / self.download_rate, 1) if self.download_rate and left else None
        return {
            "id": self.id,
            "game_id": self.game_id,
            "state": str(self.state),
            "total_bytes": self.total_bytes,
            "downloaded_bytes": self.downloaded_bytes,
            "fraction": round(self.downloaded_bytes / self.total_bytes, 4)
            if self.total_bytes
            else 0.0,
            "peer_bytes": self.peer_bytes,
            "cdn_bytes": self.cdn_bytes,
            "download_rate": self.download_rate,
            "upload_rate": self.upload_rate,
            "eta_seconds": eta,
        }
