"""``/family``: who shares with whom, and what a member may borrow."""

from __future__ import annotations

from aiohttp import web

from library_api import family, payloads, playtime_store
from library_api.auth import acting_for
from library_api.domain import timestamp
from library_api.errors import NotFound
from library_api.models import utc_now
from library_api.request_body import json_object
from library_api.state import OPTIONS, STORE


async def _family_json(request: web.Request, user: str) -> dict[str, object]:
    async with request.app[STORE].transaction() as repos:
        owner = await family.owner_of(repos.session, user) or user
        members = await family.members_of(repos.session, owner)
    return {
        "owner_id": owner,
        "members": [{"user_id": member, "linked_at": timestamp(at)} for member, at in members],
    }


async def get_family(request: web.Request) -> web.Response:
    return web.json_response(await _family_json(request, acting_for(request)))


async def add_member(request: web.Request) -> web.Response:
    owner = acting_for(request, writes=True)
    body = await json_object(request)
    payloads.reject_unknown(body, {"user_id"})
    member = payloads.user_id(body.get("user_id"))
    async with request.app[STORE].transaction() as repos:
        await repos.users.ensure(owner)
        await repos.users.ensure(member)
        await family.link(repos.session, owner, member, request.app[OPTIONS].family_max_members)
    return web.json_response(await _family_json(request, owner), status=201)


async def remove_member(request: web.Request) -> web.Response:
    """The owner unlinks a member, or a member leaves (naming themself)."""
    user = acting_for(request, writes=True)
    member = request.match_info["member_id"]
    async with request.app[STORE].transaction() as repos:
        owner = user if member != user else await family.owner_of(repos.session, user)
        removed = owner is not None and await family.unlink(repos.session, owner, member)
        if removed and owner is not None:
            await playtime_store.close_borrowed(repos.session, member, owner, utc_now())
    if not removed:
        raise NotFound("FAMILY_MEMBER_NOT_FOUND", f"user {member} is not in this family")
    return web.Response(status=204)


async def borrowed_games(request: web.Request) -> web.Response:
    user = acting_for(request)
    async with request.app[STORE].transaction() as repos:
        items = await family.shared_games(repos.session, user)
    return web.json_response(
        {
            "items": [
                {"game_id": item.game_id, "title": item.title, "shared_by": item.user_id}
                for item in items
            ]
        }
    )


def add_routes(app: web.Application, base: str) -> None:
    app.router.add_get(f"{base}/family", get_family)
    app.router.add_post(f"{base}/family/members", add_member)
    app.router.add_delete(f"{base}/family/members/{{member_id}}", remove_member)
    app.router.add_get(f"{base}/family/games", borrowed_games)
