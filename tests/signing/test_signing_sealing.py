"""Sealed chunks: they open only with their key, for their game, release and chunk; any
changed byte is refused; the sealed bytes hold no plaintext."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signing.sealing import (
    MAGIC,
    OVERHEAD,
    SealError,
    key_check,
    key_matches,
    new_release_key,
    open_chunk,
    seal_chunk,
)

keys = st.binary(min_size=32, max_size=32)
plaintexts = st.binary(min_size=1, max_size=4096)


@given(keys, plaintexts, st.integers(1, 1 << 31))
def test_a_sealed_chunk_opens_with_its_key(key: bytes, plain: bytes, release: int) -> None:
    sealed = seal_chunk(key, "space-miner", release, plain)
    sha = hashlib.sha256(plain).hexdigest()
    assert sealed.startswith(MAGIC) and len(sealed) == len(plain) + OVERHEAD
    assert seal_chunk(key, "space-miner", release, plain) == sealed  # deterministic
    assert open_chunk(key, "space-miner", release, sha, sealed) == plain


@given(keys, keys, plaintexts)
def test_a_wrong_key_is_refused(key: bytes, other: bytes, plain: bytes) -> None:
    if key == other:
        return
    sealed = seal_chunk(key, "g", 1, plain)
    with pytest.raises(SealError):
        open_chunk(other, "g", 1, hashlib.sha256(plain).hexdigest(), sealed)
    assert key_matches(key, key_check(key)) and not key_matches(other, key_check(key))


@settings(max_examples=200)
@given(keys, plaintexts, st.data())
def test_any_changed_byte_is_refused(key: bytes, plain: bytes, data: st.DataObject) -> None:
    sealed = bytearray(seal_chunk(key, "g", 1, plain))
    at = data.draw(st.integers(0, len(sealed) - 1))
    sealed[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SealError):
        open_chunk(key, "g", 1, hashlib.sha256(plain).hexdigest(), bytes(sealed))


def test_a_chunk_cannot_pass_for_another_game_release_or_chunk() -> None:
    key = new_release_key()
    plain, other = b"level data " * 100, b"other level " * 100
    sealed = seal_chunk(key, "space-miner", 2, plain)
    sha = hashlib.sha256(plain).hexdigest()
    for game, release, claimed in (
        ("other-game", 2, sha),
        ("space-miner", 3, sha),
        ("space-miner", 2, hashlib.sha256(other).hexdigest()),
    ):
        with pytest.raises(SealError):
            open_chunk(key, game, release, claimed, sealed)
    with pytest.raises(SealError):
        open_chunk(key, "space-miner", 2, sha, sealed[:10])
    with pytest.raises(SealError):
        open_chunk(b"short", "space-miner", 2, sha, sealed)


def test_sealed_bytes_hold_no_plaintext() -> None:
    key = new_release_key()
    plain = b"SECRET-ENDING-" * 1000
    sealed = seal_chunk(key, "g", 1, plain)
    assert b"SECRET-ENDING-" not in sealed
    assert key.hex() not in key_check(key)
