from __future__ import annotations

from aiohttp import web
from pytest_aiohttp import AiohttpClient

from peerpipe.problems import Problem, json_body, problem_middleware


def _app() -> web.Application:
    async def refuse(_: web.Request) -> web.Response:
        raise Problem(404, "Not Found", "game g is not in your library", code="GAME_NOT_IN_LIBRARY")

    async def crash(_: web.Request) -> web.Response:
        raise RuntimeError("secret internal detail")

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await json_body(request))

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/refuse", refuse)
    app.router.add_get("/crash", crash)
    app.router.add_post("/echo", echo)
    return app


async def test_problem_is_answered_as_problem_json(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(_app())
    response = await client.get("/refuse")
    assert response.status == 404
    assert response.content_type == "application/problem+json"
    body = await response.json(content_type=None)
    assert body["code"] == "GAME_NOT_IN_LIBRARY"
    assert body["instance"] == "/refuse"


async def test_crash_is_a_500_problem_without_internals(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(_app())
    response = await client.get("/crash")
    assert response.status == 500
    text = await response.text()
    assert "secret internal detail" not in text and "Traceback" not in text


async def test_unknown_route_and_bad_json_are_problems(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(_app())
    missing = await client.get("/nowhere")
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    bad = await client.post("/echo", data=b"{not json")
    assert bad.status == 400
    assert "valid JSON" in (await bad.json(content_type=None))["detail"]
    not_object = await client.post("/echo", json=[1, 2])
    assert not_object.status == 400
