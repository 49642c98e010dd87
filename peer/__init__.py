"""The player's peer agent: hybrid P2P + CDN installs behind a local API."""

from .accounting import ByteLedger, ByteSplit, ConnectionSample, Source
from .app import ENGINE, create_app, load_or_create_api_token
from .engine import Engine, check_disk_space
from .errors import (
    AccessRefused,
    AgentError,
    LibraryUnavailable,
    NotEnoughDiskSpace,
    ReleaseUnavailable,
    TorrentError,
    VerificationFailed,
)
from .model import Download, DownloadState
from .release import Manifest, ManifestEntry, ManifestTorrent, ReleaseSource
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
    "DownloadState",
    "DownloadStore",
    "Engine",
    "FileMismatch",
    "LibraryUnavailable",
    "Manifest",
    "ManifestEntry",
    "ManifestTorrent",
    "NotEnoughDiskSpace",
    "ReleaseSource",
    "ReleaseUnavailable",
    "Source",
    "TorrentError",
    "VerificationFailed",
    "check_disk_space",
    "create_app",
    "load_or_create_api_token",
    "verify_files",
]
