import stat
from collections.abc import AsyncIterator

import aiohttp
import pytest

from peer import create_app
from peerpipe.config import Config
from peerpipe.service import RunningApp, start_app


@pytest.fixture
async def agent(agent_config: Config) -> AsyncIterator[tuple[RunningApp, str]]:
    running = await start_app(create_app(agent_config))
    token = (agent_config.agent.data_dir / "api.token").read_text().strip()
    yield running, token
    await running.stop()


async def test_api_token_is_created_private(agent_config: Config) -> None:
    create_app(agent_config)
    token_file = agent_config.agent.data_dir / "api.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    first = token_file.read_text()
    create_app(agent_config)
    assert token_file.read_text() == first


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic abc"])
async def test_downloads_need_the_agent_token(
    agent: tuple[RunningApp, str], authorization: str | None
) -> None:
    running, _ = agent
    headers = {"Authorization": authorization} if authorization else {}
    url = f"{running.url}/api/v1/downloads"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        assert response.status == 401
        assert response.content_type == "application/problem+json"
        body = await response.json(content_type=None)
    assert body["status"] == 401 and "api.token" in body["detail"]


async def test_health_and_metrics_are_open(agent: tuple[RunningApp, str]) -> None:
    running, _ = agent
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.url}/health") as response:
            health = await response.json()
        async with http.get(f"{running.url}/metrics") as response:
            metrics = await response.text()
    assert health["status"] == "ok" and health["bt_port"] > 0
    assert "peerpipe_agent_downloads" in metrics


@pytest.mark.parametrize(
    "body", [{"release": None}, {"game_id": ""}, {"game_id": "g", "release": 0}, [1]]
)
async def test_bad_download_requests_are_problems(
    agent: tuple[RunningApp, str], body: object
) -> None:
    running, token = agent
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.post(f"{running.url}/api/v1/downloads", json=body) as response:
            assert response.status in (400, 422)
            assert response.content_type == "application/problem+json"
        async with http.get(f"{running.url}/api/v1/downloads/nope") as response:
            assert response.status == 404
            assert (await response.json(content_type=None))["code"] == "DOWNLOAD_NOT_FOUND"
