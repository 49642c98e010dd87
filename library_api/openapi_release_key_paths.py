"""OpenAPI paths of locked releases' content keys (preload and unlock)."""

from __future__ import annotations

from typing import Any

from library_api.openapi_operations import B, closed, op
from library_api.openapi_schemas import GAME_ID, INTEGER, STRING, TIME, Schema, obj

HEX_256: Schema = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}

RELEASE_KEY_PATHS: dict[str, dict[str, Any]] = {
    f"{B}/internal/release-keys/{{game_id}}/{{release}}": {
        "put": op(
            "Deposit a locked release's content key (publish pipeline); 201 when new, 200 when "
            "the same key was already held, 409 RELEASE_KEY_CONFLICT for a different key, "
            "422 KEY_CHECK_MISMATCH when the key does not match key_check",
            "internal",
            201,
            obj({"game_id": GAME_ID, "release": INTEGER, "unlock_at": TIME, "key_check": STRING}),
            closed({"key": HEX_256, "unlock_at": TIME, "key_check": HEX_256}),
        )
    },
    f"{B}/{{game_id}}/releases/{{release}}/key": {
        "get": op(
            "A locked release's content key, for the caller if they may play the game, from "
            "its unlock time: 403 NOT_OWNER otherwise, 425 RELEASE_LOCKED (with unlock_at and "
            "Retry-After) before it, 404 RELEASE_KEY_NOT_FOUND when the release has no key",
            "library",
            answer=obj({"key": HEX_256, "alg": {"const": "AES-256-GCM"}, "unlock_at": TIME}),
        )
    },
}
