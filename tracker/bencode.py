"""Bencode (BEP 3), strict and sans-IO.

Decoding accepts only the canonical form: integers without leading zeros or ``-0``, string
lengths without leading zeros, dictionary keys as byte strings in strictly ascending order and
nothing after the value. Depth and size are bounded so hostile input cannot exhaust the stack
or memory. Encoding always produces the canonical form (keys sorted by their raw bytes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

from tracker.errors import BencodeError

Bencoded: TypeAlias = "int | bytes | list[Bencoded] | dict[bytes, Bencoded]"
Bencodable: TypeAlias = "int | bytes | str | Sequence[Bencodable] | Mapping[bytes, Bencodable] | Mapping[str, Bencodable]"

MAX_DEPTH = 64
MAX_SIZE = 4 * 1024 * 1024
# Integers longer than this are never meaningful in tracker traffic and cost quadratic time.
_MAX_INTEGER_DIGITS = 64
_DIGITS = frozenset(b"0123456789")


def encode(value: Bencodable, max_depth: int = MAX_DEPTH) -> bytes:
    """The canonical bencoding of ``value`` (str is encoded as UTF-8 bytes)."""
    out = bytearray()
    _encode_into(out, value, max_depth)
    return bytes(out)


def _encode_into(out: bytearray, value: Bencodable, depth: int) -> None:
    if depth < 0:
        raise BencodeError("value is nested too deeply to bencode")
    if isinstance(value, bool):
        raise BencodeError("booleans have no bencoding; use 0 or 1")
    if isinstance(value, int):
        out += b"i%de" % value
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out += b"%d:" % len(raw) + raw
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out += b"%d:" % len(raw) + raw
    elif isinstance(value, Mapping):
        _encode_dict(out, value, depth)
    elif isinstance(value, Sequence):
        out += b"l"
        for item in value:
            _encode_into(out, item, depth - 1)
        out += b"e"
    else:
        raise BencodeError(f"cannot bencode a value of type {type(value).__name__}")


def _encode_dict(
    out: bytearray, value: Mapping[bytes, Bencodable] | Mapping[str, Bencodable], depth: int
) -> None:
    items: dict[bytes, Bencodable] = {}
    for key, item in value.items():
        if isinstance(key, str):
            raw_key = key.encode("utf-8")
        elif isinstance(key, bytes):
            raw_key = key
        else:
            raise BencodeError(f"dictionary keys must be strings, got {type(key).__name__}")
        if raw_key in items:
            raise BencodeError(f"dictionary key {raw_key!r} appears twice")
        items[raw_key] = item
    out += b"d"
    for raw_key in sorted(items):
        out += b"%d:" % len(raw_key) + raw_key
        _encode_into(out, items[raw_key], depth - 1)
    out += b"e"


def decode(data: bytes, max_depth: int = MAX_DEPTH, max_size: int = MAX_SIZE) -> Bencoded:
    """The value bencoded in ``data``; :class:`BencodeError` unless it is canonical and whole."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BencodeError(f"bencode input must be bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) > max_size:
        raise BencodeError(f"bencoded data is {len(raw)} bytes, more than the {max_size} allowed")
    if not raw:
        raise BencodeError("bencoded data is empty")
    value, end = _Decoder(raw, max_depth).value(0, 0)
    if end != len(raw):
        raise BencodeError(f"unexpected data after the bencoded value at offset {end}")
    return value


class _Decoder:
    def __init__(self, data: bytes, max_depth: int) -> None:
        self._data = data
        self._max_depth = max_depth

    def value(self, at: int, depth: int) -> tuple[Bencoded, int]:
        if depth > self._max_depth:
            raise BencodeError(f"bencoded data nests deeper than {self._max_depth} levels")
        if at >= len(self._data):
            raise BencodeError(f"bencoded data ends early at offset {at}")
        lead = self._data[at]
        if lead == ord("i"):
            return self._integer(at)
        if lead == ord("l"):
            return self._list(at, depth)
        if lead == ord("d"):
            return self._dict(at, depth)
        if lead in _DIGITS:
            return self._string(at)
        raise BencodeError(f"unexpected byte {bytes([lead])!r} at offset {at}")

    def _integer(self, at: int) -> tuple[int, int]:
        end = self._data.find(b"e", at + 1, at + 2 + _MAX_INTEGER_DIGITS + 1)
        if end < 0:
            raise BencodeError(f"integer at offset {at} is unterminated or too long")
        text = self._data[at + 1 : end]
        digits = text[1:] if text.startswith(b"-") else text
        if not digits or not set(digits) <= _DIGITS:
            raise BencodeError(f"integer at offset {at} is not a decimal number: {text!r}")
        if digits.startswith(b"0") and (len(digits) > 1 or text.startswith(b"-")):
            raise BencodeError(f"integer at offset {at} is not canonical: {text!r}")
        return int(text), end + 1

    def _string(self, at: int) -> tuple[bytes, int]:
        colon = self._data.find(b":", at, at + 12)
        if colon < 0:
            raise BencodeError(f"string length at offset {at} is unterminated or too long")
        length_text = self._data[at:colon]
        if not set(length_text) <= _DIGITS:
            raise BencodeError(f"string length at offset {at} is not a number: {length_text!r}")
        if length_text.startswith(b"0") and len(length_text) > 1:
            raise BencodeError(f"string length at offset {at} has leading zeros")
        start = colon + 1
        end = start + int(length_text)
        if end > len(self._data):
            raise BencodeError(f"string at offset {at} runs past the end of the data")
        return self._data[start:end], end

    def _list(self, at: int, depth: int) -> tuple[list[Bencoded], int]:
        items: list[Bencoded] = []
        at += 1
        while True:
            if at >= len(self._data):
                raise BencodeError("list is unterminated")
            if self._data[at] == ord("e"):
                return items, at + 1
            item, at = self.value(at, depth + 1)
            items.append(item)

    def _dict(self, at: int, depth: int) -> tuple[dict[bytes, Bencoded], int]:
        items: dict[bytes, Bencoded] = {}
        previous: bytes | None = None
        at += 1
        while True:
            if at >= len(self._data):
                raise BencodeError("dictionary is unterminated")
            if self._data[at] == ord("e"):
                return items, at + 1
            if self._data[at] not in _DIGITS:
                raise BencodeError(f"dictionary key at offset {at} is not a byte string")
            key, at = self._string(at)
            if previous is not None and key <= previous:
                raise BencodeError(f"dictionary key {key!r} is duplicated or out of order")
            previous = key
            items[key], at = self.value(at, depth + 1)
