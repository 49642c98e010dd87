"""Library pages of several players in one PostgreSQL statement, answered as the API's JSON.

The filters, sort orders and keyset cursors are those of ``listing_repository`` (the
SQLAlchemy path that SQLite uses); tests compare the two on PostgreSQL. Requests asking for
the same kind of page (:class:`ListingShape`) share one statement: their parameters travel as
arrays, one element per request, and a LATERAL join runs the per-player query for each.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from library_api.listing import LibraryQuery, SortKey, encode_cursor

EPOCH = "'1970-01-01 00:00:00+00'::timestamptz"
MICROSECONDS = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
# What each order sorts on (in a player's page), what the cursor takes from a page's last
# row, and the SQL type of a cursor's value. Times go to the cursor as text: decoding a
# datetime costs more than the rest of the row. Never-played games sort as if last played at
# the epoch (as listing_repository does).
SORT_COLUMNS = {
    SortKey.NAME: ("c.title", "p.title", "text"),
    SortKey.ADDED: ("e.acquired_at", MICROSECONDS.format("p.acquired_at"), "timestamptz"),
    SortKey.PLAYTIME: ("e.playtime_seconds", "p.playtime_seconds", "integer"),
    SortKey.LAST_PLAYED: (
        f"coalesce(e.last_played_at, {EPOCH})",
        MICROSECONDS.format(f"coalesce(p.last_played_at, {EPOCH})"),
        "timestamptz",
    ),
}

# Categories: one scan of the player's shelf entries, in code point order (COLLATE "C"), as
# Python's sorted() gives on SQLite.
PLAYER_PAGE = """
SELECT e.game_id, c.title, c.publisher, c.metadata, e.acquisition_type, e.acquired_at,
       e.installation_status, e.hidden, e.favorite, e.notes, e.playtime_seconds,
       e.last_played_at, k.categories,
       row_number() OVER (ORDER BY {sort} {direction}, e.game_id {direction}) AS place
FROM library_entries e
JOIN catalog c ON c.game_id = e.game_id
LEFT JOIN (SELECT game_id, array_agg(category ORDER BY category COLLATE "C") AS categories
           FROM entry_categories WHERE user_id = q.user_id GROUP BY game_id) k
       ON k.game_id = e.game_id
WHERE {conditions}
ORDER BY {sort} {direction}, e.game_id {direction}
LIMIT {limit}
"""


# Times as domain.timestamp writes them, by PostgreSQL (for the page's rows only, after the
# LIMIT): several times cheaper there than decoding and formatting datetimes in Python.
UTC_MILLISECONDS = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
PAGE_COLUMNS = ", ".join(
    (
        "p.game_id, p.title, p.publisher, p.metadata, p.acquisition_type",
        UTC_MILLISECONDS.format("p.acquired_at"),
        "p.installation_status, p.hidden, p.favorite, p.notes, p.playtime_seconds",
        UTC_MILLISECONDS.format("p.last_played_at"),
        "p.categories",
    )
)


class ListingShape(NamedTuple):
    """What decides a listing statement's text; the rest are its parameters."""

    sort: SortKey
    descending: bool
    installed: bool | None
    hidden: bool | None
    favorite: bool | None
    by_category: bool
    by_acquisition: bool
    by_platform: bool
    after: bool
    limit: int

    @classmethod
    def of(cls, query: LibraryQuery) -> ListingShape:
        return cls(
            query.sort,
            query.descending,
            query.installed,
            query.hidden,
            query.favorite,
            query.category is not None,
            query.acquisition_type is not None,
            query.platform is not None,
            query.after is not None,
            query.limit,
        )


def _truth(value: bool) -> str:
    return "true" if value else "false"


@functools.lru_cache(maxsize=256)
def listing_statement(shape: ListingShape) -> tuple[str, tuple[str, ...]]:
    """The statement for pages of ``shape``, and the names of its array parameters in order.

    Its rows: ``n`` (the request's place in the arrays, from 1) and ``place`` (the game's
    place in that request's page, from 1; rows come in no promised order), then the game; one
    more row than the page holds when another page follows. The page's last row also carries
    the value it is sorted on, for the cursor.
    """
    columns: list[tuple[str, str]] = [("user_id", "text")]

    def per_request(name: str, sql_type: str) -> str:
        columns.append((name, sql_type))
        return f"q.{name}"

    conditions = ["e.user_id = q.user_id", "e.revoked_at IS NULL"]
    if shape.installed is not None:
        conditions.append(f"e.installation_status {'=' if shape.installed else '<>'} 'installed'")
    if shape.hidden is not None:
        conditions.append(f"e.hidden IS {_truth(shape.hidden)}")
    if shape.favorite is not None:
        conditions.append(f"e.favorite IS {_truth(shape.favorite)}")
    if shape.by_acquisition:
        conditions.append(f"e.acquisition_type = {per_request('acquisition_type', 'text')}")
    if shape.by_platform:
        conditions.append(f"strpos(c.platforms, {per_request('platform', 'text')}) > 0")
    if shape.by_category:
        category = per_request("category", "text")
        conditions.append(
            "EXISTS (SELECT 1 FROM entry_categories f WHERE f.user_id = e.user_id"
            f" AND f.game_id = e.game_id AND f.category = {category})"
        )
    sort, cursor_value, sort_type = SORT_COLUMNS[shape.sort]
    direction, beyond = ("DESC", "<") if shape.descending else ("ASC", ">")
    if shape.after:
        value = per_request("after_value", sort_type)
        game = per_request("after_game", "text")
        conditions.append(
            f"({sort} {beyond} {value} OR ({sort} = {value} AND e.game_id {beyond} {game}))"
        )
    player_page = PLAYER_PAGE.format(
        sort=sort,
        conditions=" AND ".join(conditions),
        direction=direction,
        limit=shape.limit + 1,
    )
    arrays = ", ".join(f"${place}::{kind}[]" for place, (_, kind) in enumerate(columns, 1))
    names = tuple(name for name, _ in columns)
    statement = (
        f"SELECT q.n, p.place, {PAGE_COLUMNS},"
        f" CASE WHEN p.place = {shape.limit} THEN {cursor_value} END AS sort_value"
        f" FROM unnest({arrays}) WITH ORDINALITY AS q({', '.join(names)}, n)"
        f" CROSS JOIN LATERAL ({player_page}) p"
    )
    return statement, names


@dataclass(frozen=True)
class PageRequest:
    user_id: str
    query: LibraryQuery

    def parameter(self, name: str) -> Any:
        """This request's element of the statement's array parameter ``name``."""
        query = self.query
        if name == "user_id":
            return self.user_id
        if name == "acquisition_type":
            return str(query.acquisition_type)
        if name == "platform":
            return f",{(query.platform or '').lower()},"
        if name == "category":
            return query.category
        assert query.after is not None, f"{name} belongs to a page after a cursor"
        if name == "after_game":
            return query.after.game_id
        if query.sort in (SortKey.ADDED, SortKey.LAST_PLAYED):
            return datetime.fromisoformat(str(query.after.value))
        return query.after.value


def statement_arguments(shape_requests: Sequence[PageRequest], names: tuple[str, ...]) -> list[Any]:
    return [[request.parameter(name) for request in shape_requests] for name in names]


# Where each column sits in a row of the statement.
(N, PLACE, GAME_ID, TITLE, PUBLISHER, METADATA, ACQUISITION_TYPE, ACQUIRED_AT, INSTALLATION_STATUS,
 HIDDEN, FAVORITE, NOTES, PLAYTIME_SECONDS, LAST_PLAYED_AT, CATEGORIES, SORT_VALUE) = range(16)  # fmt: skip


def _item(row: Any) -> dict[str, Any]:
    """The row as ``LibraryItem.to_json`` answers it (by position: a page has many rows)."""
    return {
        "game_id": row[GAME_ID],
        "title": row[TITLE],
        "publisher": row[PUBLISHER],
        "metadata": orjson.Fragment(row[METADATA]),
        "acquisition_type": row[ACQUISITION_TYPE],
        "acquired_at": row[ACQUIRED_AT],
        "installation_status": row[INSTALLATION_STATUS],
        "hidden": row[HIDDEN],
        "favorite": row[FAVORITE],
        "notes": row[NOTES],
        "categories": row[CATEGORIES] or [],
        "playtime_seconds": row[PLAYTIME_SECONDS],
        "last_played_at": row[LAST_PLAYED_AT],
    }


def page_json(query: LibraryQuery, rows: Sequence[Any]) -> dict[str, Any]:
    """``items`` and ``next_cursor`` from one request's rows (one more than a page when
    another page follows)."""
    page = rows[: query.limit]
    cursor = None
    if len(rows) > query.limit and page:
        last = page[-1]
        value = last[SORT_VALUE]
        if query.sort in (SortKey.ADDED, SortKey.LAST_PLAYED):
            # In the form listing.sort_value gives (no fraction when it is zero).
            value = datetime.fromisoformat(value).isoformat()
        cursor = encode_cursor(query, value, last[GAME_ID])
    return {"items": [_item(row) for row in page], "next_cursor": cursor}
