"""The OpenAPI 3.1 document of the library API, served at ``/api/openapi.json``.

Written as data next to the routes; the tests check that every route is described and run
schemathesis against it.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from library_api.openapi_activity_paths import ACTIVITY_PATHS
from library_api.openapi_library_paths import LIBRARY_PATHS
from library_api.openapi_operations import ID
from library_api.openapi_release_key_paths import RELEASE_KEY_PATHS
from library_api.openapi_schemas import SCHEMAS

PATH_PARAMETER = re.compile(r"{(\w+)}")
PATHS = {**LIBRARY_PATHS, **ACTIVITY_PATHS, **RELEASE_KEY_PATHS}


def _with_path_parameters(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    described: dict[str, dict[str, Any]] = {}
    for path, operations in paths.items():
        names = PATH_PARAMETER.findall(path)
        parameters = [{"name": n, "in": "path", "required": True, "schema": ID} for n in names]
        described[path] = {"parameters": parameters, **operations} if names else operations
    return described


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PeerPipe library API",
            "version": "1.0.0",
            "description": "Ownership, playtime, achievements, cloud saves, wishlist, settings and family "
            "sharing. Errors are RFC 9457 problem+json with a machine-readable code.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": SCHEMAS,
        },
        "paths": _with_path_parameters(PATHS),
    }


async def serve_document(request: web.Request) -> web.Response:
    return web.json_response(document())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", serve_document)
