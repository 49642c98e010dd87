from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peer import ScheduleWindow, Settings, SettingsInvalid


def test_partial_update_keeps_the_rest_and_round_trips() -> None:
    settings = Settings().updated({"download_rate_limit": 1000, "p2p_enabled": False})
    assert settings.download_rate_limit == 1000 and not settings.p2p_enabled
    assert settings.max_concurrent_downloads == Settings().max_concurrent_downloads
    assert Settings.from_json(settings.to_json()) == settings


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"download_rate_limit": -1}, "download_rate_limit must be an integer >= 0"),
        ({"max_concurrent_downloads": 0}, "max_concurrent_downloads must be an integer >= 1"),
        ({"p2p_enabled": "yes"}, "p2p_enabled must be true or false"),
        ({"colour": "red"}, "unknown setting(s): colour"),
        ({"schedule": [{"start": "25:00", "end": "01:00"}]}, "schedule start must be HH:MM"),
        ({"schedule": [{"start": "01:00"}]}, "each schedule window needs start and end"),
        ([1], "settings must be a JSON object"),
    ],
)
def test_bad_settings_are_named(changes: object, message: str) -> None:
    with pytest.raises(SettingsInvalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings().updated(changes)


def test_schedule_window_overrides_limits_and_wraps_past_midnight() -> None:
    night = ScheduleWindow("22:00", "06:00", download_rate_limit=0, upload_rate_limit=0)
    day = Settings(download_rate_limit=500, upload_rate_limit=50, schedule=(night,))
    assert day.limits_at(time(12, 0)).download == 500
    assert day.limits_at(time(23, 30)).download == 0
    assert day.limits_at(time(5, 59)).upload == 0
    assert day.limits_at(time(6, 0)).download == 500


clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


@given(clock, clock, st.times())
def test_a_window_covers_a_time_exactly_when_it_lies_between_its_ends(
    start: str, end: str, now: time
) -> None:
    window = ScheduleWindow(start, end)
    t = now.hour * 60 + now.minute
    s = int(start[:2]) * 60 + int(start[3:])
    e = int(end[:2]) * 60 + int(end[3:])
    inside = True if s == e else s <= t < e if s < e else t >= s or t < e
    assert window.covers(now.replace(second=0, microsecond=0)) == inside
