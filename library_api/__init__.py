"""Library API: ownership, playtime, achievements, cloud saves, wishlist, settings and family
sharing behind ``/api/v1/library`` (see ``openapi.document()``)."""

from library_api.app import create_app
from library_api.database import database_url, migrate
from library_api.domain import AccessDecision, AcquisitionType, InstallationStatus, LibraryItem
from library_api.errors import (
    Conflict,
    GameNotInLibrary,
    InvalidRequest,
    InvalidSessionOperation,
    LibraryConfigError,
    LibraryError,
    NotFound,
    QuotaExceeded,
    Refused,
    StoreUnavailable,
    Unprocessable,
)
from library_api.events import (
    ACHIEVEMENT_UNLOCKED,
    GAME_ADDED,
    GAME_REVOKED,
    PLAYTIME_UPDATED,
    PURCHASE_COMPLETED,
    SAVEGAME_SYNCHRONIZED,
    WISHLIST_UPDATED,
    CloudEvent,
    EventBus,
    InProcessEventBus,
)
from library_api.openapi import document as openapi_document
from library_api.options import LibraryOptions, S3Settings
from library_api.redis_events import RedisStreamEventBus
from library_api.store import LibraryStore

__all__ = [
    "ACHIEVEMENT_UNLOCKED",
    "GAME_ADDED",
    "GAME_REVOKED",
    "PLAYTIME_UPDATED",
    "PURCHASE_COMPLETED",
    "SAVEGAME_SYNCHRONIZED",
    "WISHLIST_UPDATED",
    "AccessDecision",
    "AcquisitionType",
    "CloudEvent",
    "Conflict",
    "EventBus",
    "GameNotInLibrary",
    "InProcessEventBus",
    "InstallationStatus",
    "InvalidRequest",
    "InvalidSessionOperation",
    "LibraryConfigError",
    "LibraryError",
    "LibraryItem",
    "LibraryOptions",
    "LibraryStore",
    "NotFound",
    "QuotaExceeded",
    "RedisStreamEventBus",
    "Refused",
    "S3Settings",
    "StoreUnavailable",
    "Unprocessable",
    "create_app",
    "database_url",
    "migrate",
    "openapi_document",
]
