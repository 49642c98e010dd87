"""Request bodies as JSON objects, with a machine-readable code when they are not."""

from __future__ import annotations

import math
from typing import Any

import orjson
from aiohttp import web

from peerpipe.problems import Problem

MAX_DEPTH = 32


def _storable(value: Any, depth: int = 0) -> bool:
    """Whether both databases can keep the value: no NUL characters, NaN or infinities."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    if isinstance(value, list):
        return all(_storable(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(_storable(k, depth + 1) and _storable(v, depth + 1) for k, v in value.items())
    return True


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object both databases can store, or a 400 problem."""
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise Problem(
            400, "Bad Request", "request body must be valid JSON", code="INVALID_JSON"
        ) from None
    if not isinstance(body, dict):
        raise Problem(400, "Bad Request", "request body must be a JSON object", code="INVALID_JSON")
    if not _storable(body):
        raise Problem(
            400,
            "Bad Request",
            "JSON must not hold NUL characters, NaN, infinities, integers beyond 64 bits or "
            "more than 32 levels of nesting",
            code="INVALID_JSON",
        )
    return body


def refuse_nul(request: web.Request) -> None:
    """Neither database stores NUL characters, so they never get past the door."""
    if (
        "\x00" in request.path
        or "\x00" in request.query_string
        or any("\x00" in value for value in request.query.values())
    ):
        raise Problem(400, "Bad Request", "NUL characters are not allowed", code="INVALID_QUERY")
