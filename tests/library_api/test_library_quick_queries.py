"""The PostgreSQL quick queries (asyncpg, batched) answer exactly as the SQLAlchemy path does.

Heartbeats and library pages run on PostgreSQL straight on an asyncpg pool, many requests to a
statement; SQLite keeps the SQLAlchemy path. Here both run against one PostgreSQL database
filled through the API, and every listing (each sort, order, filter and page size, followed
cursor by cursor) and a batch of heartbeats breaking each rule must come out the same.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import orjson
import pytest
from library_support import (
    SERVICE,
    TEST_OPTIONS,
    Library,
    asyncpg_dsn,
    bearer,
    empty_tables,
    library_config,
)
from sqlalchemy.ext.asyncio import async_sessionmaker

from library_api import create_app
from library_api.database import create_engine
from library_api.domain import AcquisitionType
from library_api.listing import SortKey, library_query
from library_api.playtime import SessionRules
from library_api.postgres_quick_queries import AsyncpgQuickQueries
from library_api.quick_queries import QuickQueries, SqlAlchemyQuickQueries
from peerpipe.service import start_app

BASE = "/api/v1/library"
# Titles that tie, and that sort differently by code point than by dictionary order.
CATALOG = {
    "g-01": ("Zeta", ["windows"]),
    "g-02": ("alpha", ["linux", "windows"]),
    "g-03": ("Alpha", ["linux"]),
    "g-04": ("Ödland", ["mac"]),
    "g-05": ("Zeta", []),
    "g-06": ("beta_1", ["windows", "linux"]),
    "g-07": ("beta%", ["windows"]),
    "g-08": ("Gamma", ["linux"]),
}


@pytest.fixture
async def postgres_url(postgres_template: str) -> str:
    await empty_tables(postgres_template)
    return postgres_template


@pytest.fixture
async def library(tmp_path: Path, postgres_url: str) -> AsyncIterator[Library]:
    running = await start_app(create_app(library_config(tmp_path, postgres_url), TEST_OPTIONS))
    try:
        async with aiohttp.ClientSession() as http:
            yield Library(url=running.url, http=http, config=library_config(tmp_path, postgres_url))
    finally:
        await running.stop()


@pytest.fixture
async def both_paths(postgres_url: str) -> AsyncIterator[tuple[QuickQueries, QuickQueries]]:
    """The SQLAlchemy path and the asyncpg path over the same PostgreSQL database."""
    engine = create_engine(postgres_url)
    fast = await AsyncpgQuickQueries.connect(postgres_url)
    try:
        yield SqlAlchemyQuickQueries(engine, async_sessionmaker(engine)), fast
    finally:
        await fast.close()
        await engine.dispose()


async def _ok(library: Library, method: str, path: str, user: str, **body: Any) -> Any:
    headers = SERVICE if user == "service" else bearer(user)
    status, answer, _ = await library.call(method, f"{BASE}{path}", headers, json=body or None)
    assert status in (200, 201, 204), (path, status, answer)
    return answer


async def _fill(library: Library) -> None:
    """Two players' shelves with every kind of entry the listing can filter and sort on."""
    for game, (title, platforms) in CATALOG.items():
        await _ok(library, "PUT", f"/internal/catalog/{game}", "service", title=title,
                  publisher="P", metadata={"platforms": platforms, "rating": {"pegi": 12}})  # fmt: skip
    kinds = itertools.cycle(str(kind) for kind in AcquisitionType)
    for user in ("alice", "bob"):
        for game in CATALOG:
            await library.grant(user, game, next(kinds))
    await _ok(library, "PATCH", "/g-01", "alice", favorite=True, notes="ünïcode ✓",
              categories=["rpg", "Backlog", "älter"])  # fmt: skip
    await _ok(library, "PATCH", "/g-02", "alice", hidden=True, categories=["rpg"])
    await _ok(library, "PATCH", "/g-03", "alice", installation_status="installed")
    await _ok(library, "PATCH", "/g-04", "alice", installation_status="installing", favorite=True)
    await _ok(library, "DELETE", "/internal/ownership/alice/g-08", "service")
    for game, seconds in (("g-05", 3.5), ("g-06", 1.25), ("g-03", 1.25)):
        start = (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
        session = await _ok(library, "POST", "/playtime/start", "alice", game_id=game,
                            device_id=game, at=start)  # fmt: skip
        await _ok(library, "POST", "/playtime/end", "alice", session_id=session["session_id"])


def _queries() -> list[dict[str, str]]:
    filters: list[dict[str, str]] = [
        {}, {"installed": "true"}, {"installed": "false"}, {"hidden": "false"},
        {"hidden": "true", "favorite": "false"}, {"favorite": "true"}, {"category": "rpg"},
        {"acquisition_type": "gift"}, {"platform": "Linux"}, {"platform": "_"},
        {"category": "none"}, {"installed": "false", "platform": "windows", "hidden": "false"},
    ]  # fmt: skip
    return [
        {**chosen, "sort": str(sort), "order": order, "limit": limit}
        for chosen in filters
        for sort in SortKey
        for order in ("asc", "desc")
        for limit in ("2", "50")
    ]


async def _walk(quick: QuickQueries, user: str, raw: dict[str, str]) -> list[Any]:
    """Every page of one listing, following the cursors, as JSON would carry them."""
    pages, cursor = [], None
    for _ in range(10):
        query = library_query({**raw, **({"cursor": cursor} if cursor else {})}, 100)
        page = orjson.loads(orjson.dumps(await quick.library_page(user, query)))
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError(f"more than 10 pages for {raw}")


async def test_asyncpg_pages_match_the_sqlalchemy_pages(
    library: Library, both_paths: tuple[QuickQueries, QuickQueries]
) -> None:
    await _fill(library)
    orm, fast = both_paths
    for raw in _queries():
        expected = await _walk(orm, "alice", raw)
        assert await _walk(fast, "alice", raw) == expected, raw
    seen = {item["game_id"] for item in (await _walk(fast, "alice", {"limit": "50"}))[0]["items"]}
    assert seen == set(CATALOG) - {"g-08"}


async def test_concurrent_pages_of_every_kind_share_statements_correctly(
    library: Library, both_paths: tuple[QuickQueries, QuickQueries]
) -> None:
    await _fill(library)
    orm, fast = both_paths
    asks = [(user, library_query(raw, 100)) for raw in _queries() for user in ("alice", "bob")]
    answers = await asyncio.gather(*(fast.library_page(user, query) for user, query in asks))
    for (user, query), answer in zip(asks, answers, strict=True):
        assert orjson.loads(orjson.dumps(answer)) == orjson.loads(
            orjson.dumps(await orm.library_page(user, query))
        ), (user, query)


async def test_a_change_shows_in_the_next_page(library: Library) -> None:
    await _fill(library)
    await _ok(library, "PATCH", "/g-05", "alice", favorite=True, categories=["new"])
    _, page, _ = await library.call("GET", f"{BASE}/", bearer("alice"), params={"favorite": "true"})
    favorites = {item["game_id"]: item["categories"] for item in page["items"]}
    assert favorites == {"g-01": ["Backlog", "rpg", "älter"], "g-04": [], "g-05": ["new"]}


# A heartbeat may come 30 s after the last at the earliest, and 15 minutes after it at the latest.
HEARTBEAT_RULES = SessionRules.of(
    replace(TEST_OPTIONS, min_heartbeat_interval_seconds=30.0, afk_limit_seconds=900.0)
)


async def _session(connection: asyncpg.Connection, sid: str, user: str, at: datetime) -> None:
    await connection.execute(
        "INSERT INTO playtime_sessions (session_id, user_id, game_id, device_id, owner_id,"
        " started_at, last_heartbeat_at) VALUES ($1, $2, 'g-01', $1, $2, $3, $3)",
        sid,
        user,
        at,
    )


async def test_a_batch_of_heartbeats_is_judged_as_one_after_another(
    library: Library, postgres_url: str, both_paths: tuple[QuickQueries, QuickQueries]
) -> None:
    await _fill(library)
    _, fast = both_paths
    now = datetime.now(UTC)
    connection = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        for sid, user, silent in (("live", "alice", 60), ("twice", "alice", 60),
                                  ("bobs", "bob", 60), ("stale", "alice", 3600),
                                  ("recent", "alice", 10), ("closed", "alice", 60)):  # fmt: skip
            await _session(connection, sid, user, now - timedelta(seconds=silent))
        await connection.execute("UPDATE playtime_sessions SET ended_at = $1 WHERE "
                                  "session_id = 'closed'", now)  # fmt: skip
        calls = [("live", "alice"), ("twice", "alice"), ("twice", "alice"), ("bobs", "alice"),
                 ("stale", "alice"), ("recent", "alice"), ("closed", "alice"),
                 ("missing", "alice"), ("bobs", "bob")]  # fmt: skip
        answers = await asyncio.gather(
            *(fast.heartbeat(user, sid, now, now, HEARTBEAT_RULES) for sid, user in calls)
        )
        beaten = [None if answer is None else answer.session_id for answer in answers]
        # The second "twice" comes 0 s after the first: too fast, as it would be alone.
        assert beaten == ["live", "twice", None, None, None, None, None, None, "bobs"]
        stored = dict(await connection.fetch(
            "SELECT session_id, last_heartbeat_at FROM playtime_sessions"))  # fmt: skip
    finally:
        await connection.close()
    assert {sid for sid, at in stored.items() if at == now} == {"live", "twice", "bobs"}
    assert answers[0] is not None and answers[0].last_heartbeat_at == now


async def _deadlocks(connection: asyncpg.Connection) -> int:
    await connection.execute("SELECT pg_stat_clear_snapshot()")
    count = await connection.fetchval(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(count)


async def test_a_batch_picked_as_a_deadlock_victim_is_run_again(
    library: Library, postgres_url: str, both_paths: tuple[QuickQueries, QuickQueries]
) -> None:
    await _fill(library)
    _, fast = both_paths
    now = datetime.now(UTC)
    other = await asyncpg.connect(asyncpg_dsn(postgres_url))
    observer = await asyncpg.connect(asyncpg_dsn(postgres_url))
    try:
        for sid in ("s1", "s2"):
            await _session(other, sid, "alice", now - timedelta(seconds=60))
        deadlocks_before = await _deadlocks(observer)
        # Another writer holds s2 and, once the batch holds s1 and waits for s2, asks for s1:
        # a deadlock. This side waits longer before looking for one, so PostgreSQL cancels
        # the batch's statement, not this one.
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SET LOCAL deadlock_timeout = '10s'")
        await other.execute("UPDATE playtime_sessions SET device_id = 'x' WHERE session_id = 's2'")
        batch = asyncio.gather(
            *(fast.heartbeat("alice", sid, now, now, HEARTBEAT_RULES) for sid in ("s1", "s2"))
        )
        deadline = time.monotonic() + 10
        while not await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ):
            assert time.monotonic() < deadline, "the batch never waited for s2"
            await asyncio.sleep(0.01)
        with pytest.raises(asyncpg.LockNotAvailableError):  # the batch holds s1
            await observer.execute(
                "SELECT 1 FROM playtime_sessions WHERE session_id = 's1' FOR UPDATE NOWAIT"
            )
        await other.execute("UPDATE playtime_sessions SET device_id = 'y' WHERE session_id = 's1'")
        await transaction.commit()
        answers = await asyncio.wait_for(batch, 30)
        # PostgreSQL saw the deadlock (its statistics arrive within a second or so).
        deadline = time.monotonic() + 10
        while await _deadlocks(observer) == deadlocks_before:
            assert time.monotonic() < deadline, "no deadlock happened"
            await asyncio.sleep(0.05)
        stored = dict(await observer.fetch(
            "SELECT session_id, last_heartbeat_at FROM playtime_sessions"
            " WHERE session_id IN ('s1', 's2')"))  # fmt: skip
    finally:
        await other.close()
        await observer.close()
    # Both heartbeats count: the batch ran again once the other writer was through.
    assert [answer.session_id if answer else None for answer in answers] == ["s1", "s2"]
    assert stored == {"s1": now, "s2": now}


@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_cursor_pages_over_equal_times_skip_and_repeat_nothing(
    library: Library, order: str
) -> None:
    """Games never played tie at the epoch under last_played: the game id breaks the tie."""
    for game in CATALOG:
        await library.grant("carol", game)
    seen: list[str] = []
    query: dict[str, str] = {"sort": "last_played", "order": order, "limit": "3"}
    for _ in range(5):
        _, body, _ = await library.call("GET", f"{BASE}/", bearer("carol"), params=query)
        seen += [item["game_id"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        query["cursor"] = body["next_cursor"]
    assert seen == sorted(CATALOG, reverse=order == "desc")
