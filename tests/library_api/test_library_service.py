"""Health, metrics, start-up failures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from library_support import SERVICE, Library, library_config

from library_api import LibraryConfigError, StoreUnavailable, create_app
from peerpipe.service import start_app


async def test_health_reports_the_database(library: Library) -> None:
    status, body, _ = await library.call("GET", "/health")
    assert status == 200
    assert body == {"status": "ok", "database": "ok"}


async def test_metrics_count_requests_and_access_checks(library: Library) -> None:
    await library.access(user_id="alice", game_id="g")
    await library.call("GET", "/api/v1/library/")  # no token: 401
    await library.call("GET", "/api/v2/nothing")  # aiohttp's own 404
    async with library.http.get(f"{library.url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    assert 'library_access_checks_total{allowed="false"} 1.0' in text
    for route, status in (("/api/v1/library/internal/access", 200), ("/api/v1/library/", 401),
                          ("unmatched", 404)):  # fmt: skip
        series = (
            f'library_http_requests_total{{method="GET",route="{route}",status="{status}"}} 1.0'
        )
        assert series in text


async def test_unknown_path_is_a_problem(library: Library) -> None:
    status, body, content_type = await library.call("GET", "/api/v2/nothing", SERVICE)
    assert status == 404 and content_type == "application/problem+json"
    assert body["status"] == 404


def test_empty_platform_key_is_refused(tmp_path: Path) -> None:
    config = replace(library_config(tmp_path, ""), platform_key="")
    with pytest.raises(LibraryConfigError, match="platform key"):
        create_app(config)


async def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    running = await start_app(create_app(library_config(tmp_path / "data", "")))
    await running.stop()
    assert (tmp_path / "data" / "library.db").exists()


async def test_unreachable_database_fails_start_up_with_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    with pytest.raises(StoreUnavailable, match="cannot migrate library database"):
        await start_app(create_app(library_config(tmp_path, url)))
