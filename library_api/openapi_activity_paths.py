"""OpenAPI paths of playtime, family, achievements, wishlist, settings and saves."""

from __future__ import annotations

from typing import Any

from library_api.openapi_operations import (
    AS_USER,
    GAME_QUERY,
    ID,
    LOCAL_SAVE,
    SAVE_ANSWER,
    SESSION_CALL,
    B,
    closed,
    op,
    query_parameter,
)
from library_api.openapi_schemas import (
    DEVICE_ID,
    GAME_ID,
    INTEGER,
    OBJECT,
    RESOLUTION,
    SHA256,
    SLOT,
    STRING,
    TIME,
    USER_ID,
    VERSION,
    array,
    obj,
    ref,
)

ACTIVITY_PATHS: dict[str, dict[str, Any]] = {
    f"{B}/playtime/start": {
        "post": op(
            "Open a playtime session",
            "playtime",
            201,
            ref("PlaySession"),
            closed({"game_id": GAME_ID, "device_id": DEVICE_ID}, {"at": TIME}),
            query=[AS_USER],
        )
    },
    f"{B}/playtime/heartbeat": {
        "post": op(
            "Keep a session alive",
            "playtime",
            answer=ref("PlaySession"),
            body=SESSION_CALL,
            query=[AS_USER],
        )
    },
    f"{B}/playtime/end": {
        "post": op(
            "Close a session",
            "playtime",
            answer=ref("PlaySession"),
            body=SESSION_CALL,
            query=[AS_USER],
        )
    },
    f"{B}/playtime/stats": {
        "get": op(
            "Seconds played: total, per game, last two weeks, daily",
            "playtime",
            answer=ref("PlaytimeStats"),
            query=[query_parameter("game_id", GAME_ID), AS_USER],
        )
    },
    f"{B}/family": {
        "get": op("The caller's family", "family", answer=ref("Family"), query=[AS_USER])
    },
    f"{B}/family/members": {
        "post": op(
            "Link a member to the caller's family",
            "family",
            201,
            ref("Family"),
            closed({"user_id": USER_ID}),
            query=[AS_USER],
        )
    },
    f"{B}/family/members/{{member_id}}": {
        "delete": op("Unlink a member (or leave, naming oneself)", "family", 204, query=[AS_USER])
    },
    f"{B}/family/games": {
        "get": op(
            "Games the caller may borrow",
            "family",
            answer=obj(
                {"items": array(obj({"game_id": GAME_ID, "title": STRING, "shared_by": STRING}))}
            ),
            query=[AS_USER],
        )
    },
    f"{B}/achievements": {
        "get": op(
            "A game's achievements with the caller's progress and global unlock share",
            "achievements",
            answer=obj(
                {
                    "game_id": GAME_ID,
                    "achievements": array(ref("Achievement")),
                    "unlocked": INTEGER,
                    "total": INTEGER,
                }
            ),
            query=[GAME_QUERY, AS_USER],
        )
    },
    f"{B}/achievements/unlock": {
        "post": op(
            "Unlock or advance an achievement",
            "achievements",
            answer=ref("Achievement"),
            body=closed(
                {"game_id": GAME_ID, "achievement_id": STRING},
                {
                    "progress": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                    "signature": STRING,
                },
            ),
            query=[AS_USER],
        )
    },
    f"{B}/wishlist": {
        "get": op(
            "The caller's wishlist, priority 0 first",
            "wishlist",
            answer=obj({"items": array(ref("WishlistItem"))}),
            query=[AS_USER],
        ),
        "post": op(
            "Wish for a game",
            "wishlist",
            201,
            ref("WishlistItem"),
            closed(
                {"game_id": GAME_ID},
                {
                    "priority": {"type": "integer", "minimum": 0, "maximum": 10000},
                    "notes": {"type": "string", "maxLength": 4096},
                },
            ),
            query=[AS_USER],
        ),
    },
    f"{B}/wishlist/{{game_id}}": {
        "patch": op(
            "Change priority or notes",
            "wishlist",
            answer=ref("WishlistItem"),
            body=closed(
                {},
                {
                    "priority": {"type": "integer", "minimum": 0, "maximum": 10000},
                    "notes": {"type": "string", "maxLength": 4096},
                },
            ),
            query=[AS_USER],
        ),
        "delete": op("Remove from the wishlist", "wishlist", 204, query=[AS_USER]),
    },
    f"{B}/settings/{{game_id}}": {
        "get": op(
            "The caller's current settings for a game",
            "settings",
            answer=ref("GameSettings"),
            query=[AS_USER],
        ),
        "put": op(
            "Save a new version of the settings",
            "settings",
            answer=ref("GameSettings"),
            body=closed(
                {"settings": OBJECT}, {"device_id": DEVICE_ID, "based_on_version": INTEGER}
            ),
            query=[AS_USER],
        ),
    },
    f"{B}/settings/{{game_id}}/history": {
        "get": op(
            "Earlier versions of the settings, newest first",
            "settings",
            answer=obj({"game_id": GAME_ID, "items": array(ref("GameSettings"))}),
            query=[AS_USER],
        )
    },
    f"{B}/savegames": {
        "get": op(
            "The caller's confirmed saves (and quota, per game)",
            "savegames",
            answer=obj({"items": array(ref("Savegame"))}, {"quota": OBJECT}),
            query=[query_parameter("game_id", GAME_ID), query_parameter("slot", STRING), AS_USER],
        )
    },
    f"{B}/savegames/upload-url": {
        "post": op(
            "A presigned upload URL, or SAVEGAME_CONFLICT with both sides",
            "savegames",
            201,
            SAVE_ANSWER,
            closed(
                {"game_id": GAME_ID, "size": {"type": "integer", "minimum": 0}, "sha256": SHA256},
                LOCAL_SAVE,
            ),
            query=[AS_USER],
        )
    },
    f"{B}/savegames/confirm-upload": {
        "post": op(
            "Check the upload's size and SHA-256 and make it the next version",
            "savegames",
            answer=SAVE_ANSWER,
            body=closed({"save_id": ID}, {"resolution": RESOLUTION}),
            query=[AS_USER],
        )
    },
    f"{B}/savegames/download-url": {
        "post": op(
            "A presigned download URL of a save",
            "savegames",
            answer=SAVE_ANSWER,
            body=closed({}, {"save_id": ID, "game_id": GAME_ID, "slot": SLOT, "version": VERSION}),
            query=[AS_USER],
        )
    },
    f"{B}/savegames/{{save_id}}": {
        "delete": op("Delete a save version", "savegames", 204, query=[AS_USER])
    },
    f"{B}/savegames/blob/{{save_id}}": {
        "put": op(
            "Upload through a signed URL (local store)",
            "savegames",
            201,
            security=None,
            query=[
                query_parameter("op", STRING, True),
                query_parameter("expires", STRING, True),
                query_parameter("sig", STRING, True),
            ],
        ),
        "get": op(
            "Download through a signed URL (local store)",
            "savegames",
            security=None,
            answer=STRING,
            media="application/octet-stream",
            query=[
                query_parameter("op", STRING, True),
                query_parameter("expires", STRING, True),
                query_parameter("sig", STRING, True),
            ],
        ),
    },
}
