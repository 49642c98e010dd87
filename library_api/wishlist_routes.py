"""``/wishlist``: games a player wants, ranked (priority 0 first) and annotated.

A game leaves the wishlist when it is bought or given (see ``ownership.grant_game``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from library_api import payloads
from library_api.activity_models import WishlistItem
from library_api.auth import acting_for
from library_api.domain import timestamp
from library_api.errors import Conflict, InvalidRequest, NotFound
from library_api.events import WISHLIST_UPDATED, library_event
from library_api.models import CatalogEntry, utc_now
from library_api.request_body import json_object
from library_api.state import BUS, STORE

MAX_PRIORITY = 10_000


def _priority(body: dict[str, Any]) -> int | None:
    value = body.get("priority")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PRIORITY:
        raise InvalidRequest(
            "INVALID_FIELD", f"priority must be a whole number 0 to {MAX_PRIORITY}"
        )
    return value


def _item_json(item: WishlistItem, title: str) -> dict[str, Any]:
    return {
        "game_id": item.game_id,
        "title": title,
        "priority": item.priority,
        "notes": item.notes,
        "added_at": timestamp(item.added_at),
        "updated_at": timestamp(item.updated_at),
    }


async def _items(request: web.Request, user: str, game: str | None = None) -> list[Any]:
    statement = (
        select(WishlistItem, CatalogEntry.title)
        .join(CatalogEntry, CatalogEntry.game_id == WishlistItem.game_id)
        .where(WishlistItem.user_id == user)
        .order_by(WishlistItem.priority, WishlistItem.added_at, WishlistItem.game_id)
        .execution_options(populate_existing=True)
    )
    if game is not None:
        statement = statement.where(WishlistItem.game_id == game)
    async with request.app[STORE].transaction() as repos:
        rows = (await repos.session.execute(statement)).all()
    return [_item_json(row.WishlistItem, row.title) for row in rows]


async def _changed(request: web.Request, user: str, game: str, action: str) -> None:
    await request.app[BUS].publish(
        library_event(WISHLIST_UPDATED, user, game_id=game, action=action)
    )


async def get_wishlist(request: web.Request) -> web.Response:
    return web.json_response({"items": await _items(request, acting_for(request))})


async def add_to_wishlist(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    body = await json_object(request)
    payloads.reject_unknown(body, {"game_id", "priority", "notes"})
    game = payloads.game_id(body.get("game_id"))
    priority = _priority(body) or 0
    notes = payloads.notes(body) or ""
    try:
        async with request.app[STORE].transaction() as repos:
            owned = await repos.ownership.find(user, game)
            if owned is not None and owned.owned:
                raise Conflict("GAME_ALREADY_OWNED", f"game {game} is already in the library")
            await repos.users.ensure(user)
            await repos.catalog.ensure(game)
            now = utc_now()
            repos.session.add(
                WishlistItem(user_id=user, game_id=game, priority=priority, notes=notes,
                             added_at=now, updated_at=now)
            )  # fmt: skip
            await repos.session.flush()
    except IntegrityError:
        raise Conflict("ALREADY_ON_WISHLIST", f"game {game} is already on the wishlist") from None
    await _changed(request, user, game, "added")
    return web.json_response((await _items(request, user, game))[0], status=201)


async def change_wish(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    game = request.match_info["game_id"]
    body = await json_object(request)
    payloads.reject_unknown(body, {"priority", "notes"})
    values: dict[str, Any] = {"updated_at": utc_now()}
    if (priority := _priority(body)) is not None:
        values["priority"] = priority
    if (notes := payloads.notes(body)) is not None:
        values["notes"] = notes
    async with request.app[STORE].transaction() as repos:
        result = await repos.session.execute(
            update(WishlistItem)
            .where(WishlistItem.user_id == user, WishlistItem.game_id == game)
            .values(values)
        )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("NOT_ON_WISHLIST", f"game {game} is not on the wishlist")
    await _changed(request, user, game, "changed")
    return web.json_response((await _items(request, user, game))[0])


async def remove_wish(request: web.Request) -> web.Response:
    user = acting_for(request, writes=True)
    game = request.match_info["game_id"]
    async with request.app[STORE].transaction() as repos:
        result = await repos.session.execute(
            delete(WishlistItem).where(WishlistItem.user_id == user, WishlistItem.game_id == game)
        )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("NOT_ON_WISHLIST", f"game {game} is not on the wishlist")
    await _changed(request, user, game, "removed")
    return web.Response(status=204)


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_get(f"{base}/wishlist", get_wishlist)
    app.router.add_post(f"{base}/wishlist", add_to_wishlist)
    app.router.add_patch(f"{base}/wishlist/{{game_id}}", change_wish)
    app.router.add_delete(f"{base}/wishlist/{{game_id}}", remove_wish)
