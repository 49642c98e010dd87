"""Strict JSON and field checks shared by the release manifest and the latest pointer.

Sans-IO. Every refusal is a :class:`ManifestError` naming the field, so a bad document from
a CDN node reads as what is wrong with it.
"""

from __future__ import annotations

import json
import re
import stat
from datetime import datetime
from decimal import Decimal
from typing import Any

from signing.errors import ManifestError

MAX_VERSION_LENGTH = 128


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, raw UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def load_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Strictly decode a JSON object: UTF-8, no duplicate keys, no floats or NaN."""
    if not isinstance(data, bytes | bytearray):
        raise ManifestError(f"{what} must be bytes")
    try:
        text = bytes(data).decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_float=Decimal,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError:
        raise ManifestError(f"{what} is not UTF-8") from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise ManifestError(f"{what} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ManifestError(f"{what} must be a JSON object")
    return value


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ManifestError(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _reject_constant(name: str) -> Any:
    raise ManifestError(f"{name} is not allowed")


def check_keys(value: Any, expected: set[str], where: str) -> None:
    if type(value) is dict and value.keys() == expected:
        return  # the usual case, in one comparison: a manifest has thousands of objects
    if not isinstance(value, dict):
        raise ManifestError(f"{where} must be a JSON object")
    missing = sorted(expected - value.keys())
    if missing:
        raise ManifestError(f"{where} is missing {', '.join(missing)}")
    unknown = sorted(value.keys() - expected)
    if unknown:
        raise ManifestError(f"{where} has unknown field(s) {', '.join(unknown)}")


def check_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ManifestError(f"{where} must be a JSON array")
    return value


def check_int(value: object, what: str, minimum: int) -> None:
    # bool is an int subclass; True must not pass as a size of 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ManifestError(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise ManifestError(f"{what} must be at least {minimum}, got {value}")


def check_hex(value: object, pattern: re.Pattern[str], what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ManifestError(f"{what} must be lowercase hex, got {value!r}")


def check_text(value: object, what: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_VERSION_LENGTH:
        raise ManifestError(f"{what} must be a string of 1-{MAX_VERSION_LENGTH} characters")
    if not value.isprintable():
        raise ManifestError(f"{what} {value!r} contains control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError(f"{what} is not valid Unicode text") from None


def check_created(value: object, what: str = "created") -> None:
    if not isinstance(value, str):
        raise ManifestError(f"{what} must be an ISO-8601 string, got {value!r}")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ManifestError(f"{what} {value!r} is not an ISO-8601 date and time") from None


def check_mode(path: str, mode: object) -> None:
    check_int(mode, f"mode of {path!r}", minimum=0)
    assert isinstance(mode, int)
    # Permission bits, optionally with the regular-file type bit; no setuid/setgid/sticky,
    # no directories, links or devices.
    if mode & ~0o777 not in (0, stat.S_IFREG):
        raise ManifestError(f"mode {oct(mode)} of {path!r} is not a regular file's permissions")
