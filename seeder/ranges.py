"""HTTP Range requests (RFC 9110 §14), sans-IO: header text in, byte ranges out.

Malformed byte ranges are refused with 416, as aiohttp's own static file serving does; a
range unit other than ``bytes`` is ignored (the whole representation is served), as the RFC
requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

MAX_RANGES = 64  # more parts than any real client asks for; refuse to amplify tiny requests
_SPEC = re.compile(r"^(\d*)-(\d*)$", re.ASCII)


class RangeNotSatisfiable(ValueError):
    """The Range header is malformed or selects no byte of the representation."""


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive, as HTTP counts them."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> list[ByteRange] | None:
    """The ranges a ``Range`` header selects in ``size`` bytes; ``None``: serve it all.

    Raises :class:`RangeNotSatisfiable` for a malformed ``bytes`` range or one that selects
    nothing.
    """
    if header is None:
        return None
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        if equals and unit.strip().isalnum():
            return None  # another unit: RFC 9110 §14.2 says to ignore the header
        raise RangeNotSatisfiable(f"malformed Range header {header!r}")
    parts = [part.strip() for part in spec.split(",")]
    parts = [part for part in parts if part]
    if not parts:
        raise RangeNotSatisfiable("Range header names no byte range")
    if len(parts) > MAX_RANGES:
        raise RangeNotSatisfiable(f"more than {MAX_RANGES} ranges requested")
    ranges = [chosen for part in parts if (chosen := _one_range(part, size)) is not None]
    if not ranges:
        raise RangeNotSatisfiable(f"no range of {header!r} overlaps the {size} bytes")
    return ranges


def _one_range(spec: str, size: int) -> ByteRange | None:
    match = _SPEC.match(spec)
    if not match or match.group(1) == match.group(2) == "":
        raise RangeNotSatisfiable(f"malformed byte range {spec!r}")
    first, last = match.group(1), match.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return None
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        raise RangeNotSatisfiable(f"byte range {spec!r} ends before it starts")
    if start >= size:
        return None
    end = min(int(last), size - 1) if last else size - 1
    return ByteRange(start, end)


def if_range_allows(if_range: str | None, etag: str, last_modified: float) -> bool:
    """Whether an ``If-Range`` precondition lets the Range header apply (RFC 9110 §13.1.5)."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith(('"', "W/")):
        # Only a strong comparison counts: a weak tag never matches for ranges.
        return not value.startswith("W/") and value == etag
    try:
        since = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return int(last_modified) <= since.timestamp()


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as RFC 9110 §13.1.2 says)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))
