"""Request bodies as JSON objects, with a machine-readable code when they are not."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from peerpipe.problems import Problem, json_body


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        return await json_body(request)
    except Problem as problem:
        raise Problem(problem.status, problem.title, problem.detail, code="INVALID_JSON") from None
