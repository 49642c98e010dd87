"""The player's peer agent: hybrid P2P + CDN installs behind a local API."""

from .accounting import ByteLedger, ByteSplit, ConnectionSample, Source
from .app import create_app, load_or_create_api_token
from .engine import Engine
from .errors import (
    AccessRefused,
    AgentError,
    DownloadConflict,
    DownloadNotFound,
    LibraryUnavailable,
    NotEnoughDiskSpace,
    ReleaseUnavailable,
    SettingsInvalid,
    TorrentError,
    VerificationFailed,
)
from .model import Download, DownloadState
from .offload import OffloadController, OffloadPolicy, SwarmSample
from .pipeline import check_disk_space
from .queue import plan, queue_order
from .release import Manifest, ManifestEntry, ManifestTorrent, ReleaseSource
from .routes import ENGINE
from .settings import ScheduleWindow, Settings
from .state import DownloadStore
from .verify import FileMismatch, verify_files

__all__ = [
    "ENGINE",
    "AccessRefused",
    "AgentError",
    "ByteLedger",
    "ByteSplit",
    "ConnectionSample",
    "Download",
    "DownloadConflict",
    "DownloadNotFound",
    "DownloadState",
    "DownloadStore",
    "Engine",
    "FileMismatch",
    "LibraryUnavailable",
    "Manifest",
    "ManifestEntry",
    "ManifestTorrent",
    "NotEnoughDiskSpace",
    "OffloadController",
    "OffloadPolicy",
    "ReleaseSource",
    "ReleaseUnavailable",
    "ScheduleWindow",
    "Settings",
    "SettingsInvalid",
    "Source",
    "SwarmSample",
    "TorrentError",
    "VerificationFailed",
    "check_disk_space",
    "create_app",
    "load_or_create_api_token",
    "plan",
    "queue_order",
    "verify_files",
]
