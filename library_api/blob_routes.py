"""The local save store behind HMAC-signed URLs (no bearer token: the signature is the grant)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from library_api.activity_models import Savegame
from library_api.errors import Conflict, NotFound, Refused
from library_api.save_storage import BLOB_PATH, LocalSaveStorage
from library_api.state import STORE
from peerpipe.problems import Problem

LOCAL_STORE = web.AppKey("library_local_saves", LocalSaveStorage)


def _verified(request: web.Request, operation: str) -> str:
    key = request.match_info["save_id"]
    query = request.query
    if query.get("op") != operation or not request.app[LOCAL_STORE].signer.valid(
        operation, key, query.get("expires", ""), query.get("sig", "")
    ):
        raise Refused("INVALID_SIGNATURE", "the URL's signature is wrong or has expired")
    return key


async def put_blob(request: web.Request) -> web.Response:
    key = _verified(request, "put")
    async with request.app[STORE].transaction() as repos:
        row = (
            await repos.session.execute(select(Savegame).where(Savegame.save_id == key))
        ).scalar_one_or_none()
        if row is None:
            raise NotFound("SAVEGAME_NOT_FOUND", f"no savegame {key}")
        if row.state != "pending":
            raise Conflict("SAVEGAME_CONFIRMED", "a confirmed save cannot be overwritten")
        limit = row.size
    written = await request.app[LOCAL_STORE].receive(
        key, request.content.iter_chunked(1 << 16), limit
    )
    if written < 0:
        raise Problem(413, "Content Too Large", f"this upload may hold at most {limit} bytes",
                      code="SAVEGAME_TOO_LARGE")  # fmt: skip
    return web.Response(status=201)


async def get_blob(request: web.Request) -> web.StreamResponse:
    key = _verified(request, "get")
    path = request.app[LOCAL_STORE].path(key)
    if not path.is_file():
        raise NotFound("SAVEGAME_NOT_FOUND", "nothing stored under this URL")
    return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})


def add_routes(app: web.Application, storage: LocalSaveStorage) -> None:
    app[LOCAL_STORE] = storage
    app.router.add_put(f"{BLOB_PATH}/{{save_id}}", put_blob)
    app.router.add_get(f"{BLOB_PATH}/{{save_id}}", get_blob)
