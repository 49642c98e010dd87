"""Bencode (BEP 3): canonical round trips, and every non-canonical or hostile input refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker import BencodeError, decode, encode

values = st.recursive(
    st.integers() | st.binary(max_size=40),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.binary(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@given(values)
def test_decode_inverts_encode(value: object) -> None:
    assert decode(encode(value)) == value  # type: ignore[arg-type]


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_only_when_canonical(data: bytes) -> None:
    try:
        value = decode(data)
    except BencodeError:
        return
    assert encode(value) == data


@given(values, st.data())
def test_damaged_encodings_are_refused_or_still_canonical(
    value: object, data: st.DataObject
) -> None:
    encoded = bytearray(encode(value))  # type: ignore[arg-type]
    at = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    encoded[at] = data.draw(st.sampled_from(b"0123456789-:ilde\x00"))
    try:
        damaged = decode(bytes(encoded))
    except BencodeError:
        return
    assert encode(damaged) == bytes(encoded)


@given(st.dictionaries(st.text(max_size=8), st.integers(), max_size=8))
def test_dict_keys_are_sorted_by_raw_bytes(value: dict[str, int]) -> None:
    encoded = encode(value)
    decoded = decode(encoded)
    assert isinstance(decoded, dict)
    assert list(decoded) == sorted(key.encode() for key in value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"i0e"),
        (-42, b"i-42e"),
        (b"spam", b"4:spam"),
        ("é", b"2:\xc3\xa9"),
        ([b"a", 1], b"l1:ai1ee"),
        ({"b": 1, "a": b""}, b"d1:a0:1:bi1ee"),
        ({}, b"de"),
    ],
)
def test_known_encodings(value: object, expected: bytes) -> None:
    assert encode(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"", "empty"),
        (b"i-0e", "not canonical"),
        (b"i03e", "not canonical"),
        (b"ie", "not a decimal"),
        (b"i1.5e", "not a decimal"),
        (b"i12", "unterminated"),
        (b"i" + b"9" * 100 + b"e", "too long"),
        (b"03:abc", "leading zeros"),
        (b"5:abc", "past the end"),
        (b"99999999999999:x", "too long"),
        (b"d1:b0:1:a0:e", "out of order"),
        (b"d1:a0:1:a0:e", "duplicated"),
        (b"di1ei2ee", "not a byte string"),
        (b"l1:a", "unterminated"),
        (b"d1:a", "ends early"),
        (b"i1ei2e", "after the bencoded value"),
        (b"x", "unexpected byte"),
        (b"l" * 100 + b"e" * 100, "deeper"),
    ],
)
def test_bad_input_is_refused_with_a_reason(data: bytes, complaint: str) -> None:
    with pytest.raises(BencodeError, match=complaint):
        decode(data)


def test_size_is_bounded() -> None:
    with pytest.raises(BencodeError, match="more than"):
        decode(b"0:" * 10, max_size=8)


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        (True, "booleans"),
        (1.5, "float"),
        ({1: b"x"}, "keys must be strings"),
        ({"a": 1, b"a": 2}, "appears twice"),
        (None, "NoneType"),
    ],
)
def test_unencodable_values_are_refused(value: object, complaint: str) -> None:
    with pytest.raises(BencodeError, match=complaint):
        encode(value)  # type: ignore[arg-type]


def test_encoding_depth_is_bounded() -> None:
    nested: list[object] = []
    for _ in range(100):
        nested = [nested]
    with pytest.raises(BencodeError, match="too deeply"):
        encode(nested)  # type: ignore[arg-type]
