"""Building blocks of the OpenAPI document: parameters, operations, shared bodies."""

from __future__ import annotations

from typing import Any

from library_api.openapi_schemas import (
    DEVICE_ID,
    GAME_ID,
    RESOLUTION,
    SLOT,
    STRING,
    TIME,
    USER_ID,
    VERSION,
    Schema,
    nullable,
    obj,
    ref,
)

B = "/api/v1/library"
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^/\\x00-\\x1f]+$"}
ID: Schema = {"type": "string", "minLength": 1, "maxLength": 128}


def query_parameter(name: str, schema: Schema, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


AS_USER = query_parameter("user_id", USER_ID)  # support/admin acting for another user
GAME_QUERY = query_parameter("game_id", GAME_ID, required=True)


def json_content(schema: Schema, media: str = "application/json") -> dict[str, Any]:
    return {"content": {media: {"schema": schema}}}


def op(
    summary: str,
    tag: str,
    status: int = 200,
    answer: Schema | None = None,
    body: Schema | None = None,
    query: list[dict[str, Any]] | None = None,
    security: str | None = "bearer",
    media: str = "application/json",
) -> dict[str, Any]:
    """One operation: its success answer, and problem+json for every error."""
    ok: dict[str, Any] = {"description": summary}
    if answer is not None:
        ok.update(json_content(answer, media))
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "parameters": list(query or []),
        "responses": {
            str(status): ok,
            "default": {
                "description": "an RFC 9457 problem",
                **json_content(ref("Problem"), "application/problem+json"),
            },
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": True, **json_content(body)}
    operation["security"] = [{"bearer": []}] if security else []
    return operation


def closed(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return obj(required, optional, closed=True)


LOCAL_SAVE = {
    "slot": SLOT,
    "based_on_version": nullable(VERSION),
    "device_id": DEVICE_ID,
    "resolution": RESOLUTION,
}
SAVE_ANSWER = obj(
    {"status": STRING, "save": ref("Savegame")},
    {"upload": ref("PresignedUrl"), "download": ref("PresignedUrl")},
)
SESSION_CALL = closed(
    {"session_id": {"type": "string", "minLength": 1, "maxLength": 64}}, {"at": TIME}
)
