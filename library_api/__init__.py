"""Library API: ownership, passkeys and the catalog behind ``/api/v1/library``."""

from library_api.app import create_app
from library_api.database import database_url, migrate
from library_api.domain import AccessDecision, AcquisitionType, InstallationStatus, LibraryItem
from library_api.errors import (
    GameNotInLibrary,
    InvalidRequest,
    LibraryConfigError,
    LibraryError,
    StoreUnavailable,
)
from library_api.store import LibraryStore

__all__ = [
    "AccessDecision",
    "AcquisitionType",
    "GameNotInLibrary",
    "InstallationStatus",
    "InvalidRequest",
    "LibraryConfigError",
    "LibraryError",
    "LibraryItem",
    "LibraryStore",
    "StoreUnavailable",
    "create_app",
    "database_url",
    "migrate",
]
