"""Playtime sessions: start, heartbeat, end, stats, and every INVALID_SESSION_OPERATION."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from library_support import TEST_OPTIONS, Library, bearer, moment

from library_api.options import LibraryOptions

BASE = "/api/v1/library/playtime"


async def _start(
    library: Library, user: str, game: str, device: str = "pc", **extra: Any
) -> tuple[int, Any]:
    body = {"game_id": game, "device_id": device, **extra}
    status, answer, _ = await library.call("POST", f"{BASE}/start", bearer(user), json=body)
    return status, answer


async def _post(library: Library, user: str, action: str, **body: Any) -> tuple[int, Any]:
    status, answer, _ = await library.call("POST", f"{BASE}/{action}", bearer(user), json=body)
    return status, answer


async def test_a_session_counts_from_start_to_end(library: Library) -> None:
    await library.grant("alice", "space-game")
    status, session = await _start(library, "alice", "space-game", at=moment(-2.5))
    assert status == 201 and session["ended_at"] is None
    sid = session["session_id"]
    status, beat = await _post(library, "alice", "heartbeat", session_id=sid, at=moment(-1))
    assert status == 200 and beat["seconds"] == 1
    status, ended = await _post(library, "alice", "end", session_id=sid, at=moment(0))
    assert status == 200 and ended["end_reason"] == "ended" and ended["seconds"] == 2
    _, stats, _ = await library.call("GET", f"{BASE}/stats", bearer("alice"))
    assert stats["total_seconds"] == 2 and stats["last_two_weeks_seconds"] == 2
    assert stats["games"][0]["game_id"] == "space-game"
    assert len(stats["daily"]) == 14 and sum(day["seconds"] for day in stats["daily"]) in {1, 2}
    assert stats["daily"][-1]["date"] == datetime.now(UTC).date().isoformat()
    _, entry, _ = await library.call("GET", "/api/v1/library/space-game", bearer("alice"))
    assert entry["playtime_seconds"] == 2 and entry["last_played_at"]
    _, theirs, _ = await library.call("GET", f"{BASE}/stats", bearer("bob"))
    assert theirs["total_seconds"] == 0 and theirs["games"] == []


async def test_library_sorts_by_playtime(library: Library) -> None:
    for game, seconds in (("short", 1), ("long", 2.5)):
        await library.grant("alice", game)
        _, session = await _start(library, "alice", game, device=game, at=moment(-seconds))
        await _post(library, "alice", "end", session_id=session["session_id"])
    _, body, _ = await library.call(
        "GET", "/api/v1/library/", bearer("alice"), params={"sort": "playtime"}
    )
    assert [item["game_id"] for item in body["items"]] == ["long", "short"]


async def test_second_session_on_one_device_is_refused(library: Library) -> None:
    await library.grant("alice", "space-game")
    await library.grant("alice", "other-game")
    assert (await _start(library, "alice", "space-game"))[0] == 201
    status, problem = await _start(library, "alice", "other-game")
    assert status == 400 and problem["code"] == "INVALID_SESSION_OPERATION"
    assert (await _start(library, "alice", "other-game", device="laptop"))[0] == 201


async def test_concurrent_starts_on_one_device_open_one_session(library: Library) -> None:
    await library.grant("alice", "space-game")
    results = await asyncio.gather(*(_start(library, "alice", "space-game") for _ in range(6)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1 and set(statuses[1:]) == {400}


async def test_closed_sessions_take_no_heartbeats(library: Library) -> None:
    await library.grant("alice", "space-game")
    _, session = await _start(library, "alice", "space-game", at=moment(-1))
    sid = session["session_id"]
    assert (await _post(library, "alice", "end", session_id=sid))[0] == 200
    for action in ("heartbeat", "end"):
        status, problem = await _post(library, "alice", action, session_id=sid)
        assert status == 400 and problem["code"] == "INVALID_SESSION_OPERATION"


async def test_future_and_too_fast_times_are_refused(library: Library) -> None:
    await library.grant("alice", "space-game")
    status, problem = await _start(library, "alice", "space-game", at=moment(60))
    assert status == 400 and problem["code"] == "INVALID_SESSION_OPERATION"
    _, session = await _start(library, "alice", "space-game", at=moment(-1))
    sid = session["session_id"]
    for at in (moment(60), moment(-0.95), moment(-2)):
        status, problem = await _post(library, "alice", "heartbeat", session_id=sid, at=at)
        assert status == 400 and problem["code"] == "INVALID_SESSION_OPERATION", at


async def test_sessions_of_other_users_are_unknown(library: Library) -> None:
    await library.grant("alice", "space-game")
    _, session = await _start(library, "alice", "space-game")
    for action in ("heartbeat", "end"):
        status, problem = await _post(library, "bob", action, session_id=session["session_id"])
        assert status == 404 and problem["code"] == "SESSION_NOT_FOUND"
    status, problem = await _start(library, "bob", "space-game")
    assert status == 404 and problem["code"] == "GAME_NOT_IN_LIBRARY"


@pytest.mark.parametrize(
    "body",
    [{}, {"game_id": "g"}, {"game_id": "g", "device_id": ""}, {"game_id": "g", "device_id": "d",
     "at": "yesterday"}, {"game_id": "g", "device_id": "d", "at": "2024-01-01T00:00:00"},
     {"game_id": "g", "device_id": "d", "at": "0001-01-01T00:00:00Z"}],
)  # fmt: skip
async def test_bad_start_bodies_are_400(library: Library, body: dict[str, Any]) -> None:
    await library.grant("alice", "g")
    status, problem, _ = await library.call("POST", f"{BASE}/start", bearer("alice"), json=body)
    assert status == 400 and problem["code"] in {"INVALID_FIELD", "INVALID_GAME_ID"}


class TestAwayFromKeyboard:
    @pytest.fixture
    def library_options(self) -> LibraryOptions:
        return replace(TEST_OPTIONS, afk_limit_seconds=1.5)

    async def test_a_silent_session_closes_at_its_last_heartbeat(self, library: Library) -> None:
        await library.grant("alice", "space-game")
        _, session = await _start(library, "alice", "space-game", at=moment(-1.0))
        sid = session["session_id"]
        _, beat = await _post(library, "alice", "heartbeat", session_id=sid)
        silent_since = datetime.fromisoformat(beat["last_heartbeat_at"].replace("Z", "+00:00"))
        # The condition here is the clock itself: the AFK limit has to pass.
        silent_for = (datetime.now(UTC) - silent_since).total_seconds()
        await asyncio.sleep(max(0.0, 1.6 - silent_for))
        status, problem = await _post(library, "alice", "heartbeat", session_id=sid)
        assert status == 400 and problem["code"] == "INVALID_SESSION_OPERATION"
        status, problem = await _post(library, "alice", "end", session_id=sid)
        assert status == 400 and "afk" in problem["detail"]
        _, stats, _ = await library.call("GET", f"{BASE}/stats", bearer("alice"))
        assert stats["total_seconds"] == 1
        assert (await _start(library, "alice", "space-game"))[0] == 201
