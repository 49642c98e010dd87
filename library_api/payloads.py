"""Reading request bodies and queries into domain values (pure; raises InvalidRequest)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from library_api.domain import AcquisitionType, EntryChanges, InstallationStatus, OwnershipGrant
from library_api.errors import InvalidRequest

# Game ids become URL segments and paths (games/<game_id>/…) in other packages.
GAME_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Fixed routes under /api/v1/library/ that a game id would shadow.
RESERVED_GAME_IDS = frozenset(
    {"passkey", "internal", "categories", "playtime", "achievements", "savegames", "wishlist",
     "settings", "family", "ws", "events", "openapi.json"}
)  # fmt: skip
CATEGORY_PATTERN = re.compile(r"[^\x00-\x1f/]{1,64}")
MAX_NOTES = 4096
MAX_USER_ID = 128
MAX_TEXT = 256
SETTABLE_STATUSES = tuple(s for s in InstallationStatus if s is not InstallationStatus.NONE)


def game_id(value: Any) -> str:
    if not isinstance(value, str) or GAME_ID_PATTERN.fullmatch(value) is None:
        raise InvalidRequest(
            "INVALID_GAME_ID",
            "game_id must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit",
        )
    if value.lower() in RESERVED_GAME_IDS:
        raise InvalidRequest("INVALID_GAME_ID", f"game_id {value!r} is reserved")
    return value


def device_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 128:
        raise InvalidRequest("INVALID_FIELD", "device_id must be a string of 1 to 128 characters")
    return value


def user_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_USER_ID:
        raise InvalidRequest("INVALID_USER_ID", "user_id must be a string of 1 to 128 characters")
    return value


def text_field(body: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if value is None:
        raise InvalidRequest("MISSING_FIELD", f"{name} is required")
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InvalidRequest("INVALID_FIELD", f"{name} must be a string of at most 256 characters")
    return value


def reject_unknown(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest("UNKNOWN_FIELD", f"unknown field(s): {', '.join(unknown)}")


def ownership_grant(body: Mapping[str, Any]) -> OwnershipGrant:
    reject_unknown(body, {"user_id", "game_id", "acquisition_type"})
    if "user_id" not in body or "game_id" not in body:
        raise InvalidRequest("MISSING_FIELD", "user_id and game_id are required")
    raw_type = body.get("acquisition_type", str(AcquisitionType.PURCHASE))
    try:
        acquisition = AcquisitionType(raw_type)
    except ValueError:
        choices = "|".join(AcquisitionType)
        raise InvalidRequest(
            "INVALID_ACQUISITION_TYPE", f"acquisition_type must be one of {choices}"
        ) from None
    return OwnershipGrant(user_id(body["user_id"]), game_id(body["game_id"]), acquisition)


def category(value: Any) -> str:
    if not isinstance(value, str) or CATEGORY_PATTERN.fullmatch(value) is None or not value.strip():
        raise InvalidRequest(
            "INVALID_CATEGORY", "a category is 1 to 64 characters, no '/' or control characters"
        )
    return value


def notes(body: Mapping[str, Any], name: str = "notes") -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NOTES:
        raise InvalidRequest("INVALID_FIELD", f"{name} must be a string of at most 4096 characters")
    return value


def _categories(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    value = body.get("categories")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 50:
        raise InvalidRequest("INVALID_FIELD", "categories must be a list of at most 50 names")
    return tuple(category(name) for name in value)


def entry_changes(body: Mapping[str, Any]) -> EntryChanges:
    reject_unknown(body, {"installation_status", "hidden", "favorite", "notes", "categories"})
    if not body:
        raise InvalidRequest("MISSING_FIELD", "nothing to change")
    status = body.get("installation_status")
    if status is not None and status not in SETTABLE_STATUSES:
        choices = "|".join(SETTABLE_STATUSES)
        raise InvalidRequest(
            "INVALID_INSTALLATION_STATUS", f"installation_status must be one of {choices}"
        )
    for flag in ("hidden", "favorite"):
        if flag in body and not isinstance(body[flag], bool):
            raise InvalidRequest("INVALID_FIELD", f"{flag} must be true or false")
    return EntryChanges(
        installation_status=InstallationStatus(status) if status is not None else None,
        hidden=body.get("hidden"),
        favorite=body.get("favorite"),
        notes=notes(body),
        categories=_categories(body),
    )


def catalog_fields(body: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Title, publisher and free-form metadata of a catalog PUT."""
    reject_unknown(body, {"title", "publisher", "metadata"})
    title = text_field(body, "title")
    if not title.strip():
        raise InvalidRequest("INVALID_FIELD", "title must not be empty")
    details = body.get("metadata", {})
    if not isinstance(details, dict):
        raise InvalidRequest("INVALID_FIELD", "metadata must be a JSON object")
    return title, text_field(body, "publisher", ""), details
