"""Passkeys, grants, refunds and the access check the tracker relies on."""

from __future__ import annotations

import asyncio
import re

from library_support import PLATFORM_KEY, SERVICE, Library, bearer

from tracker import AccessChecker


async def test_passkey_is_created_on_first_call_and_then_kept(library: Library) -> None:
    first = await library.passkey("alice")
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert await library.passkey("alice") == first
    assert await library.passkey("bob") != first


async def test_rotation_gives_a_new_passkey_and_retires_the_old(library: Library) -> None:
    old = await library.passkey("alice")
    await library.grant("alice", "space-game")
    status, body, _ = await library.call("POST", "/api/v1/library/passkey/rotate", bearer("alice"))
    assert status == 200
    new = body["passkey"]
    assert new != old and re.fullmatch(r"[0-9a-f]{32}", new)
    assert await library.passkey("alice") == new
    refused = await library.access(passkey=old, game_id="space-game")
    assert refused["allowed"] is False
    allowed = await library.access(passkey=new, game_id="space-game")
    assert allowed == {
        "allowed": True,
        "user_id": "alice",
        "reason": "user alice owns game space-game (purchase)",
    }


async def test_granted_game_is_allowed_by_passkey_and_by_user(library: Library) -> None:
    passkey = await library.passkey("alice")
    await library.grant("alice", "space-game", "gift")
    by_passkey = await library.access(passkey=passkey, game_id="space-game")
    by_user = await library.access(user_id="alice", game_id="space-game")
    assert by_passkey["allowed"] is True and by_passkey["user_id"] == "alice"
    assert by_user["allowed"] is True


async def test_grant_is_idempotent(library: Library) -> None:
    await library.grant("alice", "space-game")
    await library.grant("alice", "space-game", "free")
    status, body, _ = await library.call("GET", "/api/v1/library/", bearer("alice"))
    assert status == 200
    assert [item["game_id"] for item in body["items"]] == ["space-game"]
    assert body["items"][0]["acquisition_type"] == "purchase"


async def test_revoked_game_is_refused_and_leaves_the_library(library: Library) -> None:
    passkey = await library.passkey("alice")
    await library.grant("alice", "space-game")
    status, _, _ = await library.call(
        "DELETE", "/api/v1/library/internal/ownership/alice/space-game", SERVICE
    )
    assert status == 204
    decision = await library.access(passkey=passkey, game_id="space-game")
    assert decision == {
        "allowed": False,
        "user_id": "alice",
        "reason": "game space-game was refunded",
    }
    status, body, _ = await library.call("GET", "/api/v1/library/space-game", bearer("alice"))
    assert status == 404 and body["code"] == "GAME_NOT_IN_LIBRARY"
    _, listing, _ = await library.call("GET", "/api/v1/library/", bearer("alice"))
    assert listing["items"] == []


async def test_regrant_after_refund_restores_access(library: Library) -> None:
    await library.grant("alice", "space-game")
    await library.call("DELETE", "/api/v1/library/internal/ownership/alice/space-game", SERVICE)
    await library.grant("alice", "space-game", "subscription")
    decision = await library.access(user_id="alice", game_id="space-game")
    assert decision["allowed"] is True
    assert decision["reason"].endswith("(subscription)")


async def test_revoking_a_game_never_owned_is_not_found(library: Library) -> None:
    status, body, content_type = await library.call(
        "DELETE", "/api/v1/library/internal/ownership/alice/nothing", SERVICE
    )
    assert status == 404 and body["code"] == "GAME_NOT_IN_LIBRARY"
    assert content_type == "application/problem+json"


async def test_unknown_and_malformed_passkeys_are_refused(library: Library) -> None:
    await library.grant("alice", "space-game")
    for passkey in ("0" * 32, "not-a-passkey", ""):
        decision = await library.access(passkey=passkey, game_id="space-game")
        assert decision == {"allowed": False, "user_id": None, "reason": "unknown passkey"}


async def test_a_game_not_owned_is_refused_with_the_reason(library: Library) -> None:
    passkey = await library.passkey("bob")
    await library.grant("alice", "space-game")
    decision = await library.access(passkey=passkey, game_id="space-game")
    assert decision == {
        "allowed": False,
        "user_id": "bob",
        "reason": "user bob does not own game space-game",
    }


async def test_access_check_needs_exactly_one_of_passkey_or_user(library: Library) -> None:
    for query in ({"game_id": "g"}, {"passkey": "a" * 32, "user_id": "u", "game_id": "g"}, {}):
        status, body, content_type = await library.call(
            "GET", "/api/v1/library/internal/access", SERVICE, params=query
        )
        assert status == 400 and content_type == "application/problem+json"
        assert body["code"] == "MISSING_FIELD"


async def test_concurrent_first_calls_agree_on_one_passkey(library: Library) -> None:
    passkeys = await asyncio.gather(*(library.passkey("carol") for _ in range(8)))
    assert len(set(passkeys)) == 1


async def test_concurrent_grants_of_one_game_all_succeed(library: Library) -> None:
    await asyncio.gather(*(library.grant("carol", "space-game") for _ in range(8)))
    decision = await library.access(user_id="carol", game_id="space-game")
    assert decision["allowed"] is True


async def test_a_batch_of_access_questions_gets_the_single_answers_in_order(
    library: Library,
) -> None:
    alice, bob = await library.passkey("alice"), await library.passkey("bob")
    await library.grant("alice", "space-game")
    questions = [
        {"passkey": alice, "game_id": "space-game"},
        {"passkey": bob, "game_id": "space-game"},
        {"passkey": "0" * 32, "game_id": "space-game"},
        {"user_id": "alice", "game_id": "other-game"},
        {"passkey": alice.upper(), "game_id": "space-game"},
    ]
    status, body, _ = await library.call(
        "POST", "/api/v1/library/internal/access/batch", SERVICE, json={"questions": questions}
    )
    assert status == 200
    singles = [await library.access(**question) for question in questions]
    assert body == {"answers": singles}
    assert [answer["allowed"] for answer in body["answers"]] == [True, False, False, False, True]


async def test_a_bad_access_batch_is_refused_whole_with_the_reason(library: Library) -> None:
    cases = [
        ({}, "MISSING_FIELD", "questions must be a non-empty list"),
        ({"questions": []}, "MISSING_FIELD", "questions must be a non-empty list"),
        ({"questions": [{"game_id": "g"}]}, "MISSING_FIELD", "give exactly one of"),
        ({"questions": [{"passkey": "a" * 32}]}, "MISSING_FIELD", "game_id is required"),
        ({"questions": ["x"]}, "INVALID_FIELD", "questions[0] must be an object"),
        ({"questions": [{"game_id": 1, "user_id": "u"}]}, "INVALID_FIELD", "must be strings"),
        (
            {"questions": [{"game_id": "g", "user_id": "u"}] * 501},
            "INVALID_FIELD",
            "at most 500 questions",
        ),
    ]
    for body, code, detail in cases:
        status, problem, content_type = await library.call(
            "POST", "/api/v1/library/internal/access/batch", SERVICE, json=body
        )
        assert (status, content_type, problem["code"]) == (
            400,
            "application/problem+json",
            code,
        ), body
        assert detail in problem["detail"], problem


async def test_the_trackers_batched_refresh_learns_of_a_refund(library: Library) -> None:
    passkey = await library.passkey("alice")
    await library.grant("alice", "space-game")
    now = [1000.0]
    checker = AccessChecker(library.http, library.url, PLATFORM_KEY, ttl=10, clock=lambda: now[0])
    try:
        assert (await checker.check(passkey, "space-game")).allowed
        status, _, _ = await library.call(
            "DELETE", "/api/v1/library/internal/ownership/alice/space-game", SERVICE
        )
        assert status == 204
        now[0] += 9.5  # past its refresh point: still answered, and asked again in a batch
        decision = checker.cached(passkey, "space-game")
        assert decision is not None and decision.allowed
        deadline = asyncio.get_running_loop().time() + 10
        while (answer := checker.cached(passkey, "space-game")) is None or answer.allowed:
            assert asyncio.get_running_loop().time() < deadline, "never refreshed"
            await asyncio.sleep(0.01)
        assert answer.reason == "game space-game was refunded"
    finally:
        await checker.close()
