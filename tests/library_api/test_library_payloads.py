"""Request parsing never fails with anything but InvalidRequest (property tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from library_api import payloads
from library_api.access import is_passkey
from library_api.errors import InvalidRequest

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=10,
)
field_names = st.sampled_from(
    ["user_id", "game_id", "acquisition_type", "installation_status", "hidden", "favorite",
     "title", "publisher", "metadata", "other"]
)  # fmt: skip
bodies = st.dictionaries(field_names, json_values | st.sampled_from(["installed", "gift", "g1"]))


@given(bodies)
def test_grant_parsing_accepts_or_explains(body: dict[str, Any]) -> None:
    try:
        grant = payloads.ownership_grant(body)
    except InvalidRequest as error:
        assert error.code and str(error)
    else:
        assert grant.user_id == body["user_id"] and grant.game_id == body["game_id"]


@given(bodies)
def test_patch_parsing_accepts_or_explains(body: dict[str, Any]) -> None:
    try:
        payloads.entry_changes(body)
    except InvalidRequest as error:
        assert error.code and str(error)


@given(bodies)
def test_catalog_parsing_accepts_or_explains(body: dict[str, Any]) -> None:
    try:
        title, _, _ = payloads.catalog_fields(body)
    except InvalidRequest as error:
        assert error.code and str(error)
    else:
        assert title.strip()


@given(st.text())
def test_accepted_game_ids_are_path_safe(text: str) -> None:
    try:
        game = payloads.game_id(text)
    except InvalidRequest:
        return
    assert "/" not in game and not game.startswith(".") and game.isascii()


@given(st.binary(min_size=16, max_size=16))
def test_any_sixteen_bytes_in_hex_is_a_passkey(raw: bytes) -> None:
    assert is_passkey(raw.hex())
    assert not is_passkey(raw.hex().upper()) or raw.hex() == raw.hex().upper()
