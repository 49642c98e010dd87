"""Playtime sessions in the database; the rules themselves live in ``playtime.py``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from library_api.activity_models import PlaytimeSession
from library_api.errors import Conflict, InvalidSessionOperation, NotFound
from library_api.models import LibraryEntry
from library_api.playtime import PlaySession, SessionRules, is_stale

AFK = "afk"
ENDED = "ended"
OWNER_PRIORITY = "owner_priority"
FAMILY_LEFT = "family_left"


def _session(row: PlaytimeSession) -> PlaySession:
    return PlaySession(
        session_id=row.session_id,
        user_id=row.user_id,
        game_id=row.game_id,
        device_id=row.device_id,
        owner_id=row.owner_id,
        started_at=row.started_at,
        last_heartbeat_at=row.last_heartbeat_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )


async def close(session: AsyncSession, play: PlaySession, at: datetime, reason: str) -> PlaySession:
    """End the session at ``at`` and add its time to the player's own library entry."""
    await session.execute(
        update(PlaytimeSession)
        .where(PlaytimeSession.session_id == play.session_id, PlaytimeSession.ended_at.is_(None))
        .values(ended_at=at, end_reason=reason)
    )
    closed = PlaySession(**{**play.__dict__, "ended_at": at, "end_reason": reason})
    await session.execute(
        update(LibraryEntry)
        .where(LibraryEntry.user_id == play.user_id, LibraryEntry.game_id == play.game_id)
        .values(
            playtime_seconds=LibraryEntry.playtime_seconds + closed.seconds,
            last_played_at=at,
        )
    )
    return closed


async def _open_where(session: AsyncSession, *conditions: Any) -> list[PlaySession]:
    statement = (
        select(PlaytimeSession)
        .where(PlaytimeSession.ended_at.is_(None), *conditions)
        .execution_options(populate_existing=True)
    )
    return [_session(row) for row in (await session.execute(statement)).scalars()]


async def close_stale(
    session: AsyncSession, sessions: list[PlaySession], now: datetime, rules: SessionRules
) -> list[PlaySession]:
    """Close the silent ones at their last heartbeat; return those still open."""
    alive = []
    for play in sessions:
        if is_stale(play, now, rules):
            await close(session, play, play.last_heartbeat_at, AFK)
        else:
            alive.append(play)
    return alive


async def start(
    session: AsyncSession,
    user_id: str,
    game_id: str,
    owner_id: str,
    device_id: str,
    at: datetime,
    now: datetime,
    rules: SessionRules,
) -> tuple[PlaySession, list[PlaySession]]:
    """Open a session; also the borrowers' sessions the owner's start ended (for notices)."""
    mine = await close_stale(
        session, await _open_where(session, PlaytimeSession.user_id == user_id), now, rules
    )
    if any(play.device_id == device_id for play in mine):
        raise InvalidSessionOperation(f"device {device_id} already has an open session")
    copy_players = await close_stale(
        session,
        await _open_where(
            session,
            PlaytimeSession.owner_id == owner_id,
            PlaytimeSession.game_id == game_id,
            PlaytimeSession.user_id != user_id,
        ),
        now,
        rules,
    )
    ended: list[PlaySession] = []
    if copy_players and owner_id != user_id:
        raise Conflict(
            "SHARED_GAME_IN_USE",
            f"game {game_id} is being played by another member of the family",
        )
    for play in copy_players:  # the owner takes the game back
        ended.append(await close(session, play, max(at, play.last_heartbeat_at), OWNER_PRIORITY))
    row = PlaytimeSession(
        session_id=uuid.uuid4().hex,
        user_id=user_id,
        game_id=game_id,
        device_id=device_id,
        owner_id=owner_id,
        started_at=at,
        last_heartbeat_at=at,
    )
    session.add(row)
    await session.flush()
    return _session(row), ended


async def close_borrowed(
    session: AsyncSession, member_id: str, owner_id: str, at: datetime
) -> list[PlaySession]:
    """End a member's sessions on the owner's games (the member left the family)."""
    borrowed = await _open_where(
        session, PlaytimeSession.user_id == member_id, PlaytimeSession.owner_id == owner_id
    )
    return [
        await close(session, play, max(at, play.last_heartbeat_at), FAMILY_LEFT)
        for play in borrowed
    ]


async def find(session: AsyncSession, user_id: str, session_id: str) -> PlaySession:
    """The user's own session (another user's is as unknown as a missing one)."""
    statement = (
        select(PlaytimeSession)
        .where(PlaytimeSession.session_id == session_id, PlaytimeSession.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        raise NotFound("SESSION_NOT_FOUND", f"no playtime session {session_id}")
    return _session(row)


SESSIONS: Table = PlaytimeSession.__table__  # type: ignore[assignment]
QUICK_HEARTBEAT = (
    update(SESSIONS)
    .where(
        SESSIONS.c.session_id == bindparam("sid"),
        SESSIONS.c.user_id == bindparam("uid"),
        SESSIONS.c.ended_at.is_(None),
        SESSIONS.c.last_heartbeat_at <= bindparam("latest_previous"),
        SESSIONS.c.last_heartbeat_at >= bindparam("alive_since"),
    )
    .values(last_heartbeat_at=bindparam("at"))
    .returning(*SESSIONS.columns)
)


async def quick_heartbeat(
    connection: AsyncConnection,
    user_id: str,
    session_id: str,
    at: datetime,
    now: datetime,
    rules: SessionRules,
) -> PlaySession | None:
    """The common case in one statement: an open, live session, heartbeat not too early.

    ``None`` when any rule is broken; the caller then looks closer to say which.
    """
    result = await connection.execute(
        QUICK_HEARTBEAT,
        {
            "sid": session_id,
            "uid": user_id,
            "latest_previous": at - rules.min_heartbeat_interval,
            "alive_since": now - rules.afk_limit,
            "at": at,
        },
    )
    row = result.one_or_none()
    return None if row is None else PlaySession(**row._asdict())


async def heartbeat(session: AsyncSession, play: PlaySession, at: datetime) -> PlaySession:
    await session.execute(
        update(PlaytimeSession)
        .where(PlaytimeSession.session_id == play.session_id)
        .values(last_heartbeat_at=at)
    )
    return PlaySession(**{**play.__dict__, "last_heartbeat_at": at})


async def history(session: AsyncSession, user_id: str, game_id: str | None) -> list[PlaySession]:
    statement = select(PlaytimeSession).where(PlaytimeSession.user_id == user_id)
    if game_id is not None:
        statement = statement.where(PlaytimeSession.game_id == game_id)
    statement = statement.order_by(PlaytimeSession.started_at).execution_options(
        populate_existing=True
    )
    return [_session(row) for row in (await session.execute(statement)).scalars()]
