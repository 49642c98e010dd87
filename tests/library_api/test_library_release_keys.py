"""Locked releases' keys: deposited by the publish pipeline, handed to owners (and family
borrowers) only from the unlock time, never stored in plaintext (on both engines)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from library_support import SERVICE, Library, bearer, moment
from sqlalchemy import text

from library_api.database import create_engine
from library_api.release_keys import KeyUnwrapError, KeyWrapper
from peerpipe.tokens import Role
from signing.sealing import key_check, new_release_key

BASE = "/api/v1/library"


def _deposit_path(game: str, release: int) -> str:
    return f"{BASE}/internal/release-keys/{game}/{release}"


def _key_path(game: str, release: int) -> str:
    return f"{BASE}/{game}/releases/{release}/key"


async def _deposit(
    library: Library, game: str, release: int, key: bytes, unlock_at: str, check: str | None = None
) -> tuple[int, Any]:
    body = {"key": key.hex(), "unlock_at": unlock_at, "key_check": check or key_check(key)}
    status, answer, _ = await library.call("PUT", _deposit_path(game, release), SERVICE, json=body)
    return status, answer


async def _fetch(library: Library, user: str, game: str, release: int) -> tuple[int, Any]:
    status, body, _ = await library.call("GET", _key_path(game, release), bearer(user))
    return status, body


async def test_an_owner_gets_the_key_only_from_the_unlock_time(library: Library) -> None:
    await library.grant("alice", "space-game")
    key, unlock_at = new_release_key(), moment(3600)
    status, stored = await _deposit(library, "space-game", 2, key, unlock_at)
    assert status == 201 and "key" not in stored and stored["key_check"] == key_check(key)
    async with library.http.get(
        f"{library.url}{_key_path('space-game', 2)}", headers=bearer("alice")
    ) as response:
        problem = await response.json(content_type=None)
        assert response.status == 425
        assert response.content_type == "application/problem+json"
        assert 3500 <= int(response.headers["Retry-After"]) <= 3600
    assert problem["code"] == "RELEASE_LOCKED" and "key" not in problem
    assert datetime.fromisoformat(problem["unlock_at"]) == datetime.fromisoformat(unlock_at)
    # The same key again is idempotent; here it also moves the unlock into the past.
    status, _ = await _deposit(library, "space-game", 2, key, moment(-1))
    assert status == 200
    async with library.http.get(
        f"{library.url}{_key_path('space-game', 2)}", headers=bearer("alice")
    ) as response:
        body = await response.json()
        assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert body["key"] == key.hex() and body["alg"] == "AES-256-GCM"
    assert datetime.fromisoformat(body["unlock_at"]) <= datetime.fromisoformat(moment(0))


async def test_non_owners_never_get_a_key_nor_learn_that_one_exists(library: Library) -> None:
    await library.grant("alice", "space-game")
    await library.grant("bob", "other-game")
    await _deposit(library, "space-game", 1, new_release_key(), moment(-60))
    with_key = await _fetch(library, "bob", "space-game", 1)
    without_key = await _fetch(library, "bob", "space-game", 7)
    assert with_key[0] == without_key[0] == 403
    assert with_key[1]["code"] == without_key[1]["code"] == "NOT_OWNER"
    del with_key[1]["instance"], without_key[1]["instance"]
    assert with_key[1] == without_key[1]
    # Naming the owner changes nothing: keys are only ever the caller's own.
    status, body, _ = await library.call(
        "GET", _key_path("space-game", 1), bearer("bob"), params={"user_id": "alice"}
    )
    assert status == 403 and body["code"] == "NOT_OWNER"
    status, body, _ = await library.call(
        "GET", _key_path("space-game", 1), bearer("support", Role.SUPPORT)
    )
    assert status == 403 and body["code"] == "NOT_OWNER"
    status, _, _ = await library.call("GET", _key_path("space-game", 1))
    assert status == 401
    assert (await _fetch(library, "alice", "space-game", 7))[0] == 404


async def test_a_refunded_game_gives_no_key_but_a_family_borrower_gets_it(
    library: Library,
) -> None:
    await library.grant("olivia", "space-game")
    await library.grant("rick", "space-game")
    key = new_release_key()
    await _deposit(library, "space-game", 1, key, moment(-60))
    status, _, _ = await library.call(
        "POST", f"{BASE}/family/members", bearer("olivia"), json={"user_id": "max"}
    )
    assert status == 201
    status, body = await _fetch(library, "max", "space-game", 1)
    assert status == 200 and body["key"] == key.hex()
    status, _, _ = await library.call(
        "DELETE", f"{BASE}/internal/ownership/rick/space-game", SERVICE
    )
    assert status == 204
    status, body = await _fetch(library, "rick", "space-game", 1)
    assert status == 403 and body["code"] == "NOT_OWNER"


async def test_a_wrong_or_malformed_key_is_refused_and_not_stored(library: Library) -> None:
    await library.grant("alice", "space-game")
    key, other = new_release_key(), new_release_key()
    status, body = await _deposit(library, "space-game", 1, key, moment(-1), key_check(other))
    assert status == 422 and body["code"] == "KEY_CHECK_MISMATCH"
    assert (await _fetch(library, "alice", "space-game", 1))[0] == 404
    cases: list[tuple[dict[str, Any], str]] = [
        ({"key": "ab" * 16, "unlock_at": moment(0), "key_check": key_check(key)}, "INVALID_KEY"),
        ({"key": key.hex(), "unlock_at": "2027-01-01T00:00", "key_check": key_check(key)},
         "INVALID_UNLOCK_AT"),
        ({"key": key.hex(), "unlock_at": moment(0), "key_check": "zz"}, "INVALID_KEY_CHECK"),
        ({"key": key.hex(), "unlock_at": moment(0), "key_check": key_check(key), "x": 1},
         "UNKNOWN_FIELD"),
    ]  # fmt: skip
    for sent, code in cases:
        status, body, _ = await library.call(
            "PUT", _deposit_path("space-game", 1), SERVICE, json=sent
        )
        assert (status, body["code"]) == (400, code)
    status, body, _ = await library.call(
        "PUT", _deposit_path("space-game", 0), SERVICE, json=cases[0][0]
    )
    assert (status, body["code"]) == (400, "INVALID_RELEASE")


async def test_a_different_key_for_a_release_is_a_conflict(library: Library) -> None:
    await library.grant("alice", "space-game")
    key = new_release_key()
    assert (await _deposit(library, "space-game", 3, key, moment(-1)))[0] == 201
    status, body = await _deposit(library, "space-game", 3, new_release_key(), moment(-1))
    assert status == 409 and body["code"] == "RELEASE_KEY_CONFLICT"
    assert (await _fetch(library, "alice", "space-game", 3))[1]["key"] == key.hex()
    assert (await _deposit(library, "space-game", 4, new_release_key(), moment(-1)))[0] == 201


async def test_only_services_and_admins_deposit_keys(library: Library) -> None:
    key = new_release_key()
    body = {"key": key.hex(), "unlock_at": moment(0), "key_check": key_check(key)}
    for who, expected in ((bearer("alice"), 403), ({}, 401), (bearer("ops", Role.ADMIN), 201)):
        status, _, _ = await library.call("PUT", _deposit_path("space-game", 1), who, json=body)
        assert status == expected


async def test_the_stored_row_holds_no_plaintext_key(library: Library) -> None:
    key = new_release_key()
    await _deposit(library, "space-game", 1, key, moment(60))
    url = library.config.library.database_url
    assert url is not None
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT * FROM release_keys"))).all()
    finally:
        await engine.dispose()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0]).lower()  # any hex case
    assert key.hex() not in stored and repr(key) not in stored


@given(st.binary(min_size=32, max_size=32), st.integers(1, 2**31 - 1))
def test_wrapped_keys_open_only_for_their_release_and_platform_key(
    key: bytes, release: int
) -> None:
    wrapper = KeyWrapper("platform-key-one")
    wrapped = wrapper.wrap("g", release, key)
    assert key.hex() not in wrapped
    assert wrapper.unwrap("g", release, wrapped) == key
    for other_wrapper, game, other_release in (
        (KeyWrapper("platform-key-two"), "g", release),
        (wrapper, "h", release),
        (wrapper, "g", release + 1),
    ):
        try:
            other_wrapper.unwrap(game, other_release, wrapped)
        except KeyUnwrapError:
            continue
        raise AssertionError("a wrapped key opened for another release or platform key")
