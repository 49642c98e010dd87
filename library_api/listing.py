"""The library listing's query: filters, sort order and opaque keyset cursors (pure)."""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from library_api.domain import AcquisitionType, LibraryItem
from library_api.errors import InvalidRequest

DEFAULT_PAGE_SIZE = 50
NEVER = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


class SortKey(enum.StrEnum):
    NAME = "name"
    ADDED = "added"
    PLAYTIME = "playtime"
    LAST_PLAYED = "last_played"


DEFAULT_ORDER = {
    SortKey.NAME: "asc",
    SortKey.ADDED: "desc",
    SortKey.PLAYTIME: "desc",
    SortKey.LAST_PLAYED: "desc",
}


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last sort value and game id (ties break on id)."""

    value: str | int
    game_id: str


@dataclass(frozen=True)
class LibraryQuery:
    installed: bool | None = None
    hidden: bool | None = None
    favorite: bool | None = None
    category: str | None = None
    acquisition_type: AcquisitionType | None = None
    platform: str | None = None
    sort: SortKey = SortKey.ADDED
    descending: bool = True
    limit: int = DEFAULT_PAGE_SIZE
    after: Cursor | None = None

    def signature(self) -> str:
        """What a cursor is bound to: it is refused under another sort or order."""
        return f"{self.sort}:{'desc' if self.descending else 'asc'}"


def sort_value(
    key: SortKey,
    title: str,
    playtime_seconds: int,
    acquired_at: datetime,
    last_played_at: datetime | None,
) -> str | int:
    """What a game is ordered by under ``key``, as a cursor carries it."""
    if key is SortKey.NAME:
        return title
    if key is SortKey.PLAYTIME:
        return playtime_seconds
    moment = acquired_at if key is SortKey.ADDED else (last_played_at or NEVER)
    return moment.isoformat()


def encode_cursor(query: LibraryQuery, value: str | int, game_id: str) -> str:
    """The cursor of the page after a game sorted at ``value``."""
    raw = orjson.dumps({"q": query.signature(), "v": value, "g": game_id})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def item_cursor(query: LibraryQuery, last: LibraryItem) -> str:
    """The cursor of the page after ``last``."""
    value = sort_value(
        query.sort, last.title, last.playtime_seconds, last.acquired_at, last.last_played_at
    )
    return encode_cursor(query, value, last.game_id)


def decode_cursor(text: str, query: LibraryQuery) -> Cursor:
    bad = InvalidRequest("INVALID_CURSOR", "cursor is not one this listing handed out")
    try:
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(payload, dict) or payload.get("q") != query.signature():
        raise bad
    value, game = payload.get("v"), payload.get("g")
    if not isinstance(game, str) or isinstance(value, bool):
        raise bad
    wants_int = query.sort is SortKey.PLAYTIME
    if (wants_int and not isinstance(value, int)) or (not wants_int and not isinstance(value, str)):
        raise bad
    if isinstance(value, int) and not -(2**31) <= value < 2**31:
        raise bad
    if isinstance(value, str) and ("\x00" in value or "\x00" in game):
        raise bad
    if query.sort in (SortKey.ADDED, SortKey.LAST_PLAYED):
        try:
            moment = datetime.fromisoformat(str(value))
            moment.astimezone(UTC)
        except (ValueError, OverflowError):
            raise bad from None
        if moment.tzinfo is None:
            raise bad
    assert isinstance(value, str | int)
    return Cursor(value=value, game_id=game)


def _flag(query: Mapping[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise InvalidRequest("INVALID_QUERY", f"{name} must be true or false")


def _choice(query: Mapping[str, str], name: str, kind: type[enum.StrEnum]) -> Any:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        choices = "|".join(str(member) for member in kind)
        raise InvalidRequest("INVALID_QUERY", f"{name} must be one of {choices}") from None


def _limit(query: Mapping[str, str], maximum: int) -> int:
    raw = query.get("limit")
    if raw is None:
        return min(DEFAULT_PAGE_SIZE, maximum)
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise InvalidRequest("INVALID_QUERY", f"limit must be a whole number from 1 to {maximum}")
    return int(raw)


def _text(query: Mapping[str, str], name: str) -> str | None:
    raw = query.get(name)
    if raw is not None and not 1 <= len(raw) <= 64:
        raise InvalidRequest("INVALID_QUERY", f"{name} must be 1 to 64 characters")
    return raw


def library_query(query: Mapping[str, str], page_size_max: int) -> LibraryQuery:
    """The listing asked for by ``GET /?installed=…&sort=…&order=…&cursor=…``."""
    sort: SortKey = _choice(query, "sort", SortKey) or SortKey.ADDED
    order = query.get("order", DEFAULT_ORDER[sort])
    if order not in ("asc", "desc"):
        raise InvalidRequest("INVALID_QUERY", "order must be asc or desc")
    parsed = LibraryQuery(
        installed=_flag(query, "installed"),
        hidden=_flag(query, "hidden"),
        favorite=_flag(query, "favorite"),
        category=_text(query, "category"),
        acquisition_type=_choice(query, "acquisition_type", AcquisitionType),
        platform=_text(query, "platform"),
        sort=sort,
        descending=order == "desc",
        limit=_limit(query, page_size_max),
    )
    cursor = query.get("cursor")
    return parsed if not cursor else replace(parsed, after=decode_cursor(cursor, parsed))
