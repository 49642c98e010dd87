"""HTTP announce and scrape as aiohttp routes, for connections the lean listener hands over.

:mod:`tracker.http_server` answers announces itself; these routes answer the same requests
identically (through :mod:`tracker.http_answers`) when they arrive on a connection aiohttp
serves, e.g. after an admin call on the same keep-alive connection, or when the app is served
by plain aiohttp.
"""

from __future__ import annotations

from aiohttp import web

from tracker.http_answers import (
    Answer,
    announce_answer,
    missing_passkey_answer,
    scrape_answer,
)
from tracker.state import STATE

_HEADERS = {"Cache-Control": "no-store"}


async def _bencoded(answer: Answer) -> web.Response:
    body = answer if isinstance(answer, bytes) else await answer
    return web.Response(body=body, content_type="text/plain", headers=_HEADERS)


async def announce(request: web.Request) -> web.Response:
    return await _bencoded(
        announce_answer(
            request.app[STATE],
            request.match_info["passkey"],
            request.rel_url.raw_query_string,
            request.remote or "",
            request.headers.get("X-Forwarded-For"),
        )
    )


async def scrape(request: web.Request) -> web.Response:
    return await _bencoded(
        scrape_answer(
            request.app[STATE],
            request.match_info["passkey"],
            request.rel_url.raw_query_string,
            request.remote or "",
            request.headers.get("X-Forwarded-For"),
        )
    )


async def missing_passkey(request: web.Request) -> web.Response:
    return await _bencoded(missing_passkey_answer(request.app[STATE]))
