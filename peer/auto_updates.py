"""Automatic updates: the player's switch and time-of-day window (sans-IO), kept in the
agent's SQLite settings under their own name."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import time
from typing import Any

from .errors import SettingsInvalid
from .settings import ScheduleWindow

SETTING_NAME = "auto_updates"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_FIELDS = ("enabled", "window_start", "window_end")


@dataclass(frozen=True)
class AutoUpdateSettings:
    """Updates start on their own only while ``enabled`` and inside the window (``HH:MM``
    local time; equal ends cover the whole day, a window may wrap past midnight)."""

    enabled: bool = False
    window_start: str = "00:00"
    window_end: str = "00:00"

    def allows(self, now: time) -> bool:
        return self.enabled and ScheduleWindow(self.window_start, self.window_end).covers(now)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}

    def updated(self, changes: Any) -> AutoUpdateSettings:
        if not isinstance(changes, dict):
            raise SettingsInvalid("auto-update settings must be a JSON object")
        unknown = sorted(set(changes) - set(_FIELDS))
        if unknown:
            raise SettingsInvalid(f"unknown auto-update setting(s): {', '.join(unknown)}")
        if "enabled" in changes and not isinstance(changes["enabled"], bool):
            raise SettingsInvalid("enabled must be true or false")
        for name in ("window_start", "window_end"):
            value = changes.get(name, "00:00")
            if not isinstance(value, str) or not _CLOCK.match(value):
                raise SettingsInvalid(f"{name} must be HH:MM, got {value!r}")
        return replace(self, **changes)
