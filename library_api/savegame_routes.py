"""``/savegames``: list, get upload/download URLs, confirm uploads, delete versions."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from library_api import family, payloads, savegames
from library_api.auth import acting_for
from library_api.errors import Conflict, InvalidRequest, NotFound, Unprocessable
from library_api.events import SAVEGAME_SYNCHRONIZED, library_event
from library_api.request_body import json_object
from library_api.savegames import LocalSave, Resolution, save_json
from library_api.state import BUS, OPTIONS, SAVES, STORE
from peerpipe.logs import fields

SHA256 = re.compile(r"[0-9a-f]{64}")
SLOT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
log = logging.getLogger("library_api.savegames")


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _version(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**31:
        raise InvalidRequest("INVALID_FIELD", f"{name} must be a whole number from 1 to 2^31-1")
    return value


def _local_save(body: dict[str, Any], max_bytes: int) -> LocalSave:
    size, sha256, slot = body.get("size"), body.get("sha256"), body.get("slot", "default")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= max_bytes:
        raise InvalidRequest("INVALID_FIELD", f"size must be a whole number 0 to {max_bytes}")
    if not isinstance(sha256, str) or SHA256.fullmatch(sha256) is None:
        raise InvalidRequest("INVALID_FIELD", "sha256 must be 64 lowercase hex digits")
    if not isinstance(slot, str) or SLOT.fullmatch(slot) is None:
        raise InvalidRequest("INVALID_FIELD", "slot must be 1 to 64 letters, digits, ._-")
    device = body.get("device_id")
    return LocalSave(
        game_id=payloads.game_id(body.get("game_id")),
        slot=slot,
        size=size,
        sha256=sha256,
        based_on_version=_version(body.get("based_on_version"), "based_on_version"),
        device_id=payloads.device_id(device) if device is not None else "",
    )


def _resolution(body: dict[str, Any]) -> Resolution | None:
    raw = body.get("resolution")
    if raw is None:
        return None
    try:
        return Resolution(raw)
    except ValueError:
        choices = "|".join(Resolution)
        raise InvalidRequest("INVALID_FIELD", f"resolution must be one of {choices}") from None


async def _download(request: web.Request, save: dict[str, Any]) -> dict[str, Any]:
    url = await request.app[SAVES].download_url(
        _base_url(request), save["save_id"], request.app[OPTIONS].signed_url_ttl_seconds
    )
    return url.to_json()


async def upload_url(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    body = await json_object(request)
    payloads.reject_unknown(
        body, {"game_id", "slot", "size", "sha256", "based_on_version", "device_id", "resolution"}
    )
    options = request.app[OPTIONS]
    local, resolution = _local_save(body, options.save_max_bytes), _resolution(body)
    async with request.app[STORE].transaction() as repos:
        await family.copy_to_play(repos.session, user, local.game_id)
        abandoned = await savegames.drop_abandoned(
            repos.session, user, local.game_id, options.signed_url_ttl_seconds
        )
        cloud = await savegames.latest(repos.session, user, local.game_id, local.slot)
        if cloud is not None and cloud.sha256 == local.sha256:
            return web.json_response({"status": "up_to_date", "save": save_json(cloud)})
        if cloud is not None and savegames.is_conflict(cloud, local):
            if resolution is None:
                raise savegames.conflict(cloud, local)
            if resolution is Resolution.TAKE_CLOUD:
                cloud_json = save_json(cloud)
                return web.json_response(
                    {"status": "take_cloud", "save": cloud_json,
                     "download": await _download(request, cloud_json)}
                )  # fmt: skip
            local = (
                replace(local, based_on_version=cloud.version)
                if resolution is Resolution.TAKE_LOCAL
                else replace(local, slot=savegames.copy_slot(local.slot), based_on_version=None)
            )
        limits = (options.save_quota_bytes, options.save_quota_files, options.save_versions_kept)
        await savegames.check_quota(repos.session, local, user, limits)
        row = await savegames.add_pending(repos.session, user, local)
        pending = save_json(row)
    for save_id in abandoned:
        await request.app[SAVES].delete(save_id)
    url = await request.app[SAVES].upload_url(
        _base_url(request), pending["save_id"], local.size, options.signed_url_ttl_seconds
    )
    return web.json_response(
        {"status": "upload", "save": pending, "upload": url.to_json()}, status=201
    )


def _save_id(body: dict[str, Any]) -> str:
    value = body.get("save_id")
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise InvalidRequest("MISSING_FIELD", "save_id is required")
    return value


async def _check_upload(request: web.Request, pending: dict[str, Any]) -> None:
    stored = await request.app[SAVES].stat(pending["save_id"])
    if stored is None:
        raise Conflict("SAVEGAME_NOT_UPLOADED", "nothing was uploaded for this save yet")
    if stored.size != pending["size"] or stored.sha256 != pending["sha256"]:
        raise Unprocessable(
            "SAVEGAME_INTEGRITY",
            "the uploaded bytes do not match the size and SHA-256 announced",
            uploaded={"size": stored.size, "sha256": stored.sha256},
        )


async def confirm_upload(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    body = await json_object(request)
    payloads.reject_unknown(body, {"save_id", "resolution"})
    save_id, resolution = _save_id(body), _resolution(body)
    async with request.app[STORE].transaction() as repos:
        pending = save_json(await savegames.find(repos.session, user, save_id))
    if pending["state"] == "confirmed":
        return web.json_response({"status": "confirmed", "save": pending})
    await _check_upload(request, pending)
    try:
        answer, pruned = await _confirm(request, user, save_id, resolution)
    except IntegrityError:
        # Another device confirmed the same version first: this save now conflicts.
        async with request.app[STORE].transaction() as repos:
            row = await savegames.find(repos.session, user, save_id)
            cloud = await savegames.latest(repos.session, user, row.game_id, row.slot)
            assert cloud is not None
            raise savegames.conflict(cloud, savegames.local_of(row), save_id) from None
    for pruned_id in pruned:
        await request.app[SAVES].delete(pruned_id)
    save = answer["save"]
    if answer["status"] == "take_cloud":
        await request.app[SAVES].delete(save_id)
        answer["download"] = await _download(request, save)
    else:
        event = library_event(
            SAVEGAME_SYNCHRONIZED, user, game_id=save["game_id"], slot=save["slot"],
            version=save["version"], save_id=save_id, size=save["size"],
        )  # fmt: skip
        await request.app[BUS].publish(event)
        log.info("save confirmed", extra=fields(user_id=user, save_id=save_id))
    return web.json_response(answer)


async def _confirm(
    request: web.Request, user: str, save_id: str, resolution: Resolution | None
) -> tuple[dict[str, Any], list[str]]:
    async with request.app[STORE].transaction() as repos:
        row = await savegames.find(repos.session, user, save_id)
        local = savegames.local_of(row)
        cloud = await savegames.latest(repos.session, user, row.game_id, row.slot)
        slot, based_on = row.slot, row.based_on_version
        version = (cloud.version or 0) + 1 if cloud is not None else 1
        if cloud is not None and savegames.is_conflict(cloud, local):
            if resolution is None:
                raise savegames.conflict(cloud, local, save_id)
            if resolution is Resolution.TAKE_CLOUD:
                await repos.session.delete(row)
                return {"status": "take_cloud", "save": save_json(cloud)}, []
            if resolution is Resolution.TAKE_LOCAL:
                based_on = cloud.version
            else:
                slot, based_on, version = savegames.copy_slot(slot), None, 1
        await savegames.confirm(repos.session, row, slot, based_on, version)
        kept = request.app[OPTIONS].save_versions_kept
        pruned = await savegames.prune(repos.session, user, row.game_id, slot, kept)
        confirmed = save_json(await savegames.find(repos.session, user, save_id))
    return {"status": "confirmed", "save": confirmed}, pruned


async def download_url(request: web.Request) -> web.Response:
    user = acting_for(request)
    body = await json_object(request)
    payloads.reject_unknown(body, {"save_id", "game_id", "slot", "version"})
    async with request.app[STORE].transaction() as repos:
        if "save_id" in body:
            row = await savegames.find(repos.session, user, _save_id(body))
        else:
            row = await _by_version(repos.session, user, body)
        save = save_json(row)
    if save["state"] != "confirmed":
        raise Conflict("SAVEGAME_NOT_CONFIRMED", "only confirmed saves can be downloaded")
    return web.json_response({"save": save, "download": await _download(request, save)})


async def _by_version(session: Any, user: str, body: dict[str, Any]) -> Any:
    game = payloads.game_id(body.get("game_id"))
    slot = body.get("slot", "default")
    version = _version(body.get("version"), "version")
    for row in await savegames.listing(
        session, user, game, slot if isinstance(slot, str) else "default"
    ):
        if version is None or row.version == version:
            return row
    raise NotFound("SAVEGAME_NOT_FOUND", f"no such save of game {game}")


async def delete_save(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    save_id = request.match_info["save_id"]
    async with request.app[STORE].transaction() as repos:
        row = await savegames.find(repos.session, user, save_id)
        await repos.session.delete(row)
    await request.app[SAVES].delete(save_id)
    return web.Response(status=204)


async def list_saves(request: web.Request) -> web.Response:
    user = acting_for(request)
    game = request.query.get("game_id")
    if game is not None:
        payloads.game_id(game)
    options = request.app[OPTIONS]
    async with request.app[STORE].transaction() as repos:
        rows = await savegames.listing(repos.session, user, game, request.query.get("slot"))
        answer: dict[str, Any] = {"items": [save_json(row) for row in rows]}
        if game is not None:
            used, files = await savegames.usage(repos.session, user, game)
            answer["quota"] = {
                "bytes_used": used, "bytes_limit": options.save_quota_bytes,
                "files_used": files, "files_limit": options.save_quota_files,
            }  # fmt: skip
    return web.json_response(answer)


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_get(f"{base}/savegames", list_saves)
    app.router.add_post(f"{base}/savegames/upload-url", upload_url)
    app.router.add_post(f"{base}/savegames/confirm-upload", confirm_upload)
    app.router.add_post(f"{base}/savegames/download-url", download_url)
    app.router.add_delete(f"{base}/savegames/{{save_id}}", delete_save)
