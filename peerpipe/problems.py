"""RFC 9457 problem details for every HTTP service, and the middleware that guarantees them.

Handlers raise :class:`Problem`; anything else that escapes becomes a 500 problem without a
traceback on the wire (the traceback goes to the log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

PROBLEM_CONTENT_TYPE = "application/problem+json"
log = logging.getLogger("peerpipe.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Problem(Exception):
    """An error answered as ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        code: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code
        self.extensions = extensions

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://peerpipe.dev/problems/{(self.code or self.title).lower()}".replace(
                " ", "-"
            ),
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.code:
            body["code"] = self.code
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


def problem_response(problem: Problem, instance: str | None = None) -> web.Response:
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.to_dict(instance)),
        content_type=PROBLEM_CONTENT_TYPE,
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(problem, request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        title = exc.reason or "error"
        return problem_response(Problem(exc.status, title, exc.text or ""), request.path)
    except Exception:
        log.exception("unhandled error", extra={"fields": {"path": request.path}})
        return problem_response(
            Problem(500, "Internal Server Error", "the server failed to handle this request"),
            request.path,
        )


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 problem saying what is wrong with it."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Problem(400, "Bad Request", "request body must be valid JSON") from None
    if not isinstance(body, dict):
        raise Problem(400, "Bad Request", "request body must be a JSON object")
    return body
