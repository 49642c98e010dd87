"""The player's settings (``GET/PUT /api/v1/settings``) and the time-of-day schedule (sans-IO).

Rates are bytes per second, 0 meaning unlimited. A schedule window overrides the global
limits while the local time of day is inside it; windows may wrap past midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from datetime import time
from typing import Any

from .errors import SettingsInvalid

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class ScheduleWindow:
    """Between ``start`` and ``end`` (``HH:MM``, local time) these limits apply; a window
    whose start and end are equal covers the whole day."""

    start: str
    end: str
    download_rate_limit: int = 0
    upload_rate_limit: int = 0

    def covers(self, now: time) -> bool:
        start, end = _clock(self.start), _clock(self.end)
        if start == end:
            return True
        if start < end:
            return start <= now < end
        return now >= start or now < end  # wraps past midnight

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "download_rate_limit": self.download_rate_limit,
            "upload_rate_limit": self.upload_rate_limit,
        }


@dataclass(frozen=True)
class RateLimits:
    download: int
    upload: int


@dataclass(frozen=True)
class Settings:
    download_rate_limit: int = 0
    upload_rate_limit: int = 0
    max_concurrent_downloads: int = 2
    p2p_enabled: bool = True
    # web seeds stay out while peers and the CDN's BitTorrent seed deliver at least this
    # rate; the default is Delivery Optimization's minimum background QoS (2500 KB/s)
    p2p_target_rate: int = 2_500_000
    install_dir: str = ""
    preferred_region: str = ""
    schedule: tuple[ScheduleWindow, ...] = field(default_factory=tuple)

    def limits_at(self, now: time) -> RateLimits:
        """The global limits in force at local time ``now`` (the first matching window)."""
        for window in self.schedule:
            if window.covers(now):
                return RateLimits(window.download_rate_limit, window.upload_rate_limit)
        return RateLimits(self.download_rate_limit, self.upload_rate_limit)

    def to_json(self) -> dict[str, Any]:
        body = {item.name: getattr(self, item.name) for item in fields(self)}
        body["schedule"] = [window.to_json() for window in self.schedule]
        return body

    def updated(self, changes: Any) -> Settings:
        """These settings with ``changes`` (a JSON object, partial) applied and validated."""
        if not isinstance(changes, dict):
            raise SettingsInvalid("settings must be a JSON object")
        known = {item.name for item in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise SettingsInvalid(f"unknown setting(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            values[name] = _parse(name, value)
        return replace(self, **values)

    @classmethod
    def from_json(cls, body: Any) -> Settings:
        return cls().updated(body)


_RATES = ("download_rate_limit", "upload_rate_limit", "p2p_target_rate")


def _parse(name: str, value: Any) -> Any:
    if name in _RATES:
        return _count(name, value, minimum=0)
    if name == "max_concurrent_downloads":
        return _count(name, value, minimum=1)
    if name == "p2p_enabled":
        if not isinstance(value, bool):
            raise SettingsInvalid("p2p_enabled must be true or false")
        return value
    if name in ("install_dir", "preferred_region"):
        if not isinstance(value, str):
            raise SettingsInvalid(f"{name} must be a string")
        return value
    return _schedule(value)


def _count(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SettingsInvalid(f"{name} must be an integer >= {minimum}")
    return value


def _schedule(value: Any) -> tuple[ScheduleWindow, ...]:
    if not isinstance(value, list):
        raise SettingsInvalid("schedule must be a list of windows")
    windows = []
    for item in value:
        if not isinstance(item, dict) or not {"start", "end"} <= set(item):
            raise SettingsInvalid("each schedule window needs start and end (HH:MM)")
        extra = set(item) - {"start", "end", "download_rate_limit", "upload_rate_limit"}
        if extra:
            raise SettingsInvalid(f"unknown schedule field(s): {', '.join(sorted(extra))}")
        for key in ("start", "end"):
            if not isinstance(item[key], str) or not _CLOCK.match(item[key]):
                raise SettingsInvalid(f"schedule {key} must be HH:MM, got {item[key]!r}")
        windows.append(
            ScheduleWindow(
                item["start"],
                item["end"],
                _count("download_rate_limit", item.get("download_rate_limit", 0), 0),
                _count("upload_rate_limit", item.get("upload_rate_limit", 0), 0),
            )
        )
    return tuple(windows)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
