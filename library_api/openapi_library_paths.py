"""OpenAPI paths of the library itself, its internal endpoints and operations."""

from __future__ import annotations

from typing import Any

from library_api.openapi_operations import (
    AS_USER,
    NAME,
    B,
    closed,
    op,
    query_parameter,
)
from library_api.openapi_schemas import (
    ACHIEVEMENT_DEFINITION,
    ACQUISITION,
    BOOLEAN,
    GAME_ID,
    INSTALLATION,
    INTEGER,
    OBJECT,
    STRING,
    USER_ID,
    array,
    nullable,
    obj,
    ref,
)

LIBRARY_PATHS: dict[str, dict[str, Any]] = {
    "/health": {
        "get": op(
            "Service and database health",
            "operations",
            security=None,
            answer=obj({"status": STRING}),
        )
    },
    "/metrics": {
        "get": op(
            "Prometheus metrics", "operations", security=None, answer=STRING, media="text/plain"
        )
    },
    "/api/openapi.json": {"get": op("This document", "operations", security=None, answer=OBJECT)},
    f"{B}/passkey": {
        "get": op("The caller's tracker passkey", "library", answer=obj({"passkey": STRING}))
    },
    f"{B}/passkey/rotate": {
        "post": op("Replace the passkey", "library", answer=obj({"passkey": STRING}))
    },
    f"{B}/": {
        "get": op(
            "The caller's games, filtered, sorted, a page at a time",
            "library",
            answer=ref("LibraryPage"),
            query=[
                query_parameter("installed", BOOLEAN),
                query_parameter("hidden", BOOLEAN),
                query_parameter("favorite", BOOLEAN),
                query_parameter("category", NAME),
                query_parameter("acquisition_type", ACQUISITION),
                query_parameter("platform", {"type": "string", "minLength": 1, "maxLength": 64}),
                query_parameter(
                    "sort", {"type": "string", "enum": ["name", "added", "playtime", "last_played"]}
                ),
                query_parameter("order", {"type": "string", "enum": ["asc", "desc"]}),
                query_parameter("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                query_parameter("cursor", STRING),
                AS_USER,
            ],
        )
    },
    f"{B}/{{game_id}}": {
        "get": op("One game of the library", "library", answer=ref("LibraryItem"), query=[AS_USER]),
        "patch": op(
            "Change hidden, favorite, categories, notes or installation status",
            "library",
            answer=ref("LibraryItem"),
            query=[AS_USER],
            body=closed(
                {},
                {
                    "installation_status": {"type": "string", "enum": INSTALLATION["enum"][1:]},
                    "hidden": BOOLEAN,
                    "favorite": BOOLEAN,
                    "notes": {"type": "string", "maxLength": 4096},
                    "categories": array(NAME, maxItems=50),
                },
            ),
        ),
    },
    f"{B}/categories": {
        "get": op(
            "The caller's categories",
            "library",
            answer=obj({"items": array(ref("Category"))}),
            query=[AS_USER],
        ),
        "post": op(
            "Create a category",
            "library",
            201,
            ref("Category"),
            closed({"name": NAME}),
            query=[AS_USER],
        ),
    },
    f"{B}/categories/{{name}}": {
        "delete": op("Delete a category (its games stay)", "library", 204, query=[AS_USER])
    },
    f"{B}/ws": {
        "get": op(
            "WebSocket of the caller's own events (CloudEvents JSON)",
            "events",
            101,
            query=[query_parameter("access_token", STRING)],
        )
    },
    f"{B}/internal/ownership": {
        "post": op(
            "Grant a game (idempotent)",
            "internal",
            201,
            ref("InternalLibraryItem"),
            closed({"user_id": USER_ID, "game_id": GAME_ID}, {"acquisition_type": ACQUISITION}),
        )
    },
    f"{B}/internal/ownership/{{user_id}}/{{game_id}}": {
        "delete": op("Revoke a game (refund); emits library.game.revoked", "internal", 204)
    },
    f"{B}/internal/access": {
        "get": op(
            "May this passkey or user download this game?",
            "internal",
            answer=ref("AccessDecision"),
            query=[
                query_parameter("game_id", STRING, True),
                query_parameter("passkey", STRING),
                query_parameter("user_id", STRING),
            ],
        )
    },
    f"{B}/internal/access/batch": {
        "post": op(
            "Many access questions at once (up to 500), answered in order",
            "internal",
            answer=obj({"answers": array(ref("AccessDecision"))}),
            body=closed(
                {
                    "questions": array(
                        closed({"game_id": STRING}, {"passkey": STRING, "user_id": STRING}),
                        minItems=1,
                        maxItems=500,
                    )
                }
            ),
        )
    },
    f"{B}/internal/catalog/{{game_id}}": {
        "put": op(
            "Store a game's title and metadata (publish pipeline)",
            "internal",
            answer=ref("CatalogGame"),
            body=closed(
                {"title": {"type": "string", "minLength": 1, "maxLength": 256}},
                {"publisher": {"type": "string", "maxLength": 256}, "metadata": OBJECT},
            ),
        )
    },
    f"{B}/internal/events": {
        "post": op(
            "Apply an event (payment.purchase.completed), once per event id",
            "internal",
            202,
            obj({"id": STRING, "applied": BOOLEAN}),
            ref("CloudEvent"),
        )
    },
    f"{B}/internal/achievements/{{game_id}}": {
        "put": op(
            "Define a game's achievements and game-server key",
            "internal",
            answer=obj({"game_id": GAME_ID, "defined": INTEGER}),
            body=closed(
                {},
                {
                    "achievements": array(ACHIEVEMENT_DEFINITION, maxItems=1000),
                    "server_key": nullable(STRING),
                },
            ),
        )
    },
}
