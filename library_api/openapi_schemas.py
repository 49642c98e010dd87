"""JSON Schemas (OpenAPI 3.1) of what the library API sends and accepts."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
NUMBER: Schema = {"type": "number"}
TIME: Schema = {"type": "string", "format": "date-time"}
OBJECT: Schema = {"type": "object"}
GAME_ID: Schema = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}
USER_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 128}
DEVICE_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 128}
SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
SLOT: Schema = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}
VERSION: Schema = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
ACQUISITION: Schema = {"type": "string", "enum": ["purchase", "gift", "subscription", "free"]}
INSTALLATION: Schema = {
    "type": "string",
    "enum": ["none", "installing", "installed", "failed", "uninstalled"],
}
RESOLUTION: Schema = {"type": "string", "enum": ["keep-both", "take-cloud", "take-local"]}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def obj(
    required: dict[str, Schema], optional: dict[str, Schema] | None = None, closed: bool = False
) -> Schema:
    """An object with these required and optional properties (``closed``: no others)."""
    schema: Schema = {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


SAVE = obj(
    {
        "save_id": STRING,
        "game_id": GAME_ID,
        "slot": STRING,
        "version": nullable(INTEGER),
        "based_on_version": nullable(INTEGER),
        "size": INTEGER,
        "sha256": SHA256,
        "device_id": nullable(STRING),
        "state": {"type": "string", "enum": ["pending", "confirmed"]},
        "created_at": TIME,
        "confirmed_at": nullable(TIME),
    }
)
PRESIGNED = obj(
    {
        "url": STRING,
        "method": {"type": "string", "enum": ["GET", "PUT"]},
        "expires_at": INTEGER,
        "headers": OBJECT,
    }
)
SESSION = obj(
    {
        "session_id": STRING,
        "game_id": GAME_ID,
        "device_id": STRING,
        "shared_by": nullable(STRING),
        "started_at": TIME,
        "last_heartbeat_at": TIME,
        "ended_at": nullable(TIME),
        "end_reason": nullable(STRING),
        "seconds": INTEGER,
        "heartbeat_interval_seconds": NUMBER,
        "afk_limit_seconds": NUMBER,
    }
)
GAME_STATS = obj(
    {
        "game_id": GAME_ID,
        "total_seconds": INTEGER,
        "last_two_weeks_seconds": INTEGER,
        "last_played_at": nullable(TIME),
    }
)
ACHIEVEMENT = obj(
    {
        "achievement_id": STRING,
        "name": STRING,
        "description": STRING,
        "hidden": BOOLEAN,
        "target": INTEGER,
        "progress": INTEGER,
        "unlocked": BOOLEAN,
        "unlocked_at": nullable(TIME),
        "global_unlock_percentage": NUMBER,
    }
)
ACHIEVEMENT_DEFINITION = obj(
    {"id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}},
    {
        "name": {"type": "string", "maxLength": 256},
        "description": {"type": "string", "maxLength": 4096},
        "hidden": BOOLEAN,
        "target": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    },
    closed=True,
)
WISH = obj(
    {
        "game_id": GAME_ID,
        "title": STRING,
        "priority": INTEGER,
        "notes": STRING,
        "added_at": TIME,
        "updated_at": TIME,
    }
)
SETTINGS = obj(
    {
        "game_id": GAME_ID,
        "version": INTEGER,
        "settings": OBJECT,
        "device_id": nullable(STRING),
        "updated_at": nullable(TIME),
    }
)
ITEM = obj(
    {
        "game_id": GAME_ID,
        "title": STRING,
        "publisher": STRING,
        "metadata": OBJECT,
        "acquisition_type": ACQUISITION,
        "acquired_at": TIME,
        "installation_status": INSTALLATION,
        "hidden": BOOLEAN,
        "favorite": BOOLEAN,
        "notes": STRING,
        "categories": array(STRING),
        "playtime_seconds": INTEGER,
        "last_played_at": nullable(TIME),
    }
)
CLOUD_EVENT = obj(
    {
        "specversion": {"type": "string", "const": "1.0"},
        "id": STRING,
        "source": STRING,
        "type": STRING,
    },
    {"time": TIME, "subject": STRING, "datacontenttype": STRING, "data": OBJECT},
)

SCHEMAS: dict[str, Schema] = {
    "Problem": obj(
        {"type": STRING, "title": STRING, "status": INTEGER},
        {"detail": STRING, "code": STRING, "instance": STRING},
    ),
    "LibraryItem": ITEM,
    "InternalLibraryItem": {
        "allOf": [ITEM, obj({"user_id": USER_ID, "revoked_at": nullable(TIME)})]
    },
    "LibraryPage": obj({"items": array(ref("LibraryItem")), "next_cursor": nullable(STRING)}),
    "Category": obj({"name": STRING, "games": INTEGER}),
    "AccessDecision": obj({"allowed": BOOLEAN, "user_id": nullable(STRING), "reason": STRING}),
    "CatalogGame": obj(
        {"game_id": GAME_ID, "title": STRING, "publisher": STRING, "metadata": OBJECT}
    ),
    "CloudEvent": CLOUD_EVENT,
    "PlaySession": SESSION,
    "PlaytimeStats": obj(
        {
            "total_seconds": INTEGER,
            "last_two_weeks_seconds": INTEGER,
            "games": array(GAME_STATS),
            "daily": array(obj({"date": {"type": "string", "format": "date"}, "seconds": INTEGER})),
        }
    ),
    "Family": obj(
        {"owner_id": STRING, "members": array(obj({"user_id": STRING, "linked_at": TIME}))}
    ),
    "Achievement": ACHIEVEMENT,
    "AchievementDefinition": ACHIEVEMENT_DEFINITION,
    "WishlistItem": WISH,
    "GameSettings": SETTINGS,
    "Savegame": SAVE,
    "PresignedUrl": PRESIGNED,
}
