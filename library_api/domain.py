"""The library's data model: frozen values passed between storage, rules and handlers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class AcquisitionType(enum.StrEnum):
    PURCHASE = "purchase"
    GIFT = "gift"
    SUBSCRIPTION = "subscription"
    FREE = "free"


class InstallationStatus(enum.StrEnum):
    NONE = "none"
    INSTALLING = "installing"
    INSTALLED = "installed"
    FAILED = "failed"
    UNINSTALLED = "uninstalled"


def timestamp(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z``, the one way times leave this service."""
    if moment is None:
        return None
    # Positional arguments: measurably faster than timespec=…, and pages hold many times.
    return moment.isoformat("T", "milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class CatalogGame:
    game_id: str
    title: str
    publisher: str
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "game_id": self.game_id,
            "title": self.title,
            "publisher": self.publisher,
            "metadata": self.details,
        }


@dataclass(frozen=True)
class LibraryItem:
    """One game in one user's library, with what the catalog says about it."""

    user_id: str
    game_id: str
    title: str
    publisher: str
    acquisition_type: AcquisitionType
    acquired_at: datetime
    revoked_at: datetime | None
    installation_status: InstallationStatus
    hidden: bool
    favorite: bool
    notes: str = ""
    categories: tuple[str, ...] = ()
    playtime_seconds: int = 0
    last_played_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def owned(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        """What the owner sees (never another user's id)."""
        return {
            "game_id": self.game_id,
            "title": self.title,
            "publisher": self.publisher,
            "metadata": self.details,
            "acquisition_type": str(self.acquisition_type),
            "acquired_at": timestamp(self.acquired_at),
            "installation_status": str(self.installation_status),
            "hidden": self.hidden,
            "favorite": self.favorite,
            "notes": self.notes,
            "categories": list(self.categories),
            "playtime_seconds": self.playtime_seconds,
            "last_played_at": timestamp(self.last_played_at),
        }

    def to_internal_json(self) -> dict[str, Any]:
        """What services see: the owner and the revocation too."""
        return {
            **self.to_json(),
            "user_id": self.user_id,
            "revoked_at": timestamp(self.revoked_at),
        }


@dataclass(frozen=True)
class EntryChanges:
    """A user's edit of one library entry; ``None`` leaves a field as it is."""

    installation_status: InstallationStatus | None = None
    hidden: bool | None = None
    favorite: bool | None = None
    notes: str | None = None
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class OwnershipGrant:
    user_id: str
    game_id: str
    acquisition_type: AcquisitionType


@dataclass(frozen=True)
class PasskeyHolder:
    """Whose passkey this is, and whether it was replaced by a newer one."""

    user_id: str
    revoked: bool


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    user_id: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "user_id": self.user_id, "reason": self.reason}
