"""The OpenAPI document: it describes every route, and schemathesis finds no 5xx and no
answer that contradicts it (on both engines)."""

from __future__ import annotations

import asyncio
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from library_support import SERVICE, Library, bearer
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from library_api import create_app
from library_api.openapi import PATHS, document
from peerpipe.config import Config
from peerpipe.tokens import Role

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 8


def test_every_route_is_described() -> None:
    app = create_app(Config(platform_key="k" * 32))
    routes = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD" and path != "/api/v1/library":
            routes.add((route.method.lower(), path))
    described = {(method, path) for path, ops in PATHS.items() for method in ops}
    assert routes == described


async def test_the_document_is_served(library: Library) -> None:
    status, body, _ = await library.call("GET", "/api/openapi.json")
    assert status == 200 and body["openapi"].startswith("3.")
    assert body == document()


def _fuzz(url: str, headers: dict[str, str]) -> list[str]:
    """Run every operation's generated cases; the failures, one line each."""
    schema = schemathesis.openapi.from_dict(document())
    failures: list[str] = []
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/ws"):
            continue

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case: Any) -> None:
            response = case.call(base_url=url, headers=headers, session=session)
            case.validate_response(response, checks=CHECKS)

        try:
            exercise()
        except Exception as failure:  # a check failed: keep going to report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {failure}"[:2000])
    return failures


async def test_schemathesis_finds_no_errors_and_no_contradictions(library: Library) -> None:
    await library.grant("alice", "space-game")
    await library.call(
        "PUT", "/api/v1/library/internal/catalog/space-game", SERVICE, json={"title": "Space"}
    )
    for headers in (bearer("ops", Role.ADMIN), bearer("alice")):
        failures = await asyncio.to_thread(_fuzz, library.url, headers)
        assert failures == [], "\n\n".join(failures)
