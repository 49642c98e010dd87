"""Playtime sessions and the rules they follow (pure: every time comes in as an argument)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from library_api.domain import timestamp
from library_api.errors import InvalidRequest, InvalidSessionOperation
from library_api.options import LibraryOptions

TWO_WEEKS = timedelta(days=14)
# Older client times are clock errors; refusing them also keeps date arithmetic in range.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SessionRules:
    afk_limit: timedelta
    min_heartbeat_interval: timedelta
    clock_skew: timedelta

    @classmethod
    def of(cls, options: LibraryOptions) -> SessionRules:
        return cls(
            afk_limit=timedelta(seconds=options.afk_limit_seconds),
            min_heartbeat_interval=timedelta(seconds=options.min_heartbeat_interval_seconds),
            clock_skew=timedelta(seconds=options.clock_skew_seconds),
        )


@dataclass(frozen=True)
class PlaySession:
    session_id: str
    user_id: str
    game_id: str
    device_id: str
    owner_id: str
    started_at: datetime
    last_heartbeat_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.ended_at is None

    @property
    def counted_until(self) -> datetime:
        """Play counts up to the end, or up to the last heartbeat while open."""
        return self.ended_at or self.last_heartbeat_at

    @property
    def seconds(self) -> int:
        return max(0, int((self.counted_until - self.started_at).total_seconds()))

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "game_id": self.game_id,
            "device_id": self.device_id,
            "shared_by": self.owner_id if self.owner_id != self.user_id else None,
            "started_at": timestamp(self.started_at),
            "last_heartbeat_at": timestamp(self.last_heartbeat_at),
            "ended_at": timestamp(self.ended_at),
            "end_reason": self.end_reason,
            "seconds": self.seconds,
        }


def is_stale(session: PlaySession, now: datetime, rules: SessionRules) -> bool:
    """Open, but silent for longer than the AFK/lost-connection limit."""
    return session.open and now - session.last_heartbeat_at > rules.afk_limit


def client_time(raw: Any, now: datetime, rules: SessionRules) -> datetime:
    """The moment a client reports (``now`` when it gives none); future times are refused."""
    if raw is None:
        return now
    if not isinstance(raw, str):
        raise InvalidRequest("INVALID_FIELD", "at must be an RFC 3339 time string")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest("INVALID_FIELD", "at must be an RFC 3339 time string") from None
    if moment.tzinfo is None:
        raise InvalidRequest("INVALID_FIELD", "at must carry a time zone")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest("INVALID_FIELD", "at is out of range") from None
    if moment < EARLIEST:
        raise InvalidRequest("INVALID_FIELD", "at is before the year 2000")
    if moment > now + rules.clock_skew:
        raise InvalidSessionOperation(f"time {raw} is in the future")
    return moment


def check_heartbeat(session: PlaySession, at: datetime, rules: SessionRules) -> None:
    """Raise unless a heartbeat at ``at`` may extend ``session`` (already closed if stale)."""
    if not session.open:
        raise InvalidSessionOperation(
            f"session {session.session_id} is closed ({session.end_reason})"
        )
    if at < session.last_heartbeat_at:
        raise InvalidSessionOperation("heartbeat is older than the session's last one")
    if at - session.last_heartbeat_at < rules.min_heartbeat_interval:
        seconds = rules.min_heartbeat_interval.total_seconds()
        raise InvalidSessionOperation(f"heartbeats must be at least {seconds:g} s apart")


def check_end(session: PlaySession, at: datetime) -> None:
    if not session.open:
        raise InvalidSessionOperation(
            f"session {session.session_id} is closed ({session.end_reason})"
        )
    if at < session.last_heartbeat_at:
        raise InvalidSessionOperation("end is older than the session's last heartbeat")


def daily_seconds(
    sessions: Iterable[PlaySession], today: date, days: int = 14
) -> list[tuple[date, int]]:
    """Seconds played on each UTC day of the last ``days`` days, a session split at midnight."""
    first = today - timedelta(days=days - 1)
    totals: dict[date, float] = defaultdict(float)
    window_start = datetime.combine(first, datetime.min.time(), UTC)
    for session in sessions:
        start, end = max(session.started_at, window_start), session.counted_until
        while start < end:
            midnight = datetime.combine(
                start.date() + timedelta(days=1), datetime.min.time(), start.tzinfo
            )
            piece_end = min(end, midnight)
            if first <= start.date() <= today:
                totals[start.date()] += (piece_end - start).total_seconds()
            start = piece_end
    return [
        (first + timedelta(days=n), int(totals[first + timedelta(days=n)])) for n in range(days)
    ]


def stats(sessions: list[PlaySession], now: datetime) -> dict[str, Any]:
    """Totals, per game, the last two weeks and day by day (all in seconds)."""
    since = now - TWO_WEEKS
    games: dict[str, dict[str, Any]] = {}
    for session in sessions:
        game = games.setdefault(
            session.game_id,
            {"game_id": session.game_id, "total_seconds": 0, "last_two_weeks_seconds": 0,
             "last_played_at": None},
        )  # fmt: skip
        game["total_seconds"] += session.seconds
        if session.counted_until > since:
            start = max(session.started_at, since)
            game["last_two_weeks_seconds"] += max(
                0, int((session.counted_until - start).total_seconds())
            )
        played = timestamp(session.counted_until)
        if game["last_played_at"] is None or str(played) > game["last_played_at"]:
            game["last_played_at"] = played
    ordered = sorted(games.values(), key=lambda game: (-game["total_seconds"], game["game_id"]))
    return {
        "total_seconds": sum(game["total_seconds"] for game in ordered),
        "last_two_weeks_seconds": sum(game["last_two_weeks_seconds"] for game in ordered),
        "games": ordered,
        "daily": [
            {"date": day.isoformat(), "seconds": seconds}
            for day, seconds in daily_seconds(sessions, now.date())
        ],
    }
