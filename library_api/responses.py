"""JSON answers encoded with orjson: a page of games encodes several times faster than with
the standard library, and catalog metadata can pass through as the database's own text."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_reply(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")
