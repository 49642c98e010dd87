"""Who may fetch a game: pure rules over what storage found (no I/O here)."""

from __future__ import annotations

import re

from library_api.domain import AccessDecision, LibraryItem, PasskeyHolder

PASSKEY_PATTERN = re.compile(r"[0-9a-f]{32}")


def is_passkey(text: str) -> bool:
    """A passkey is 32 lowercase hex digits (16 random bytes)."""
    return PASSKEY_PATTERN.fullmatch(text) is not None


def unknown_passkey() -> AccessDecision:
    return AccessDecision(allowed=False, user_id=None, reason="unknown passkey")


def decide_for_passkey(
    holder: PasskeyHolder | None, game_id: str, entry: LibraryItem | None
) -> AccessDecision:
    if holder is None:
        return unknown_passkey()
    if holder.revoked:
        # A rotated passkey may sit in an old torrent file; name the cause so support can tell.
        return AccessDecision(
            allowed=False, user_id=holder.user_id, reason="passkey was replaced by a newer one"
        )
    return decide_for_user(holder.user_id, game_id, entry)


def decide_for_user(user_id: str, game_id: str, entry: LibraryItem | None) -> AccessDecision:
    if entry is None:
        return AccessDecision(
            allowed=False, user_id=user_id, reason=f"user {user_id} does not own game {game_id}"
        )
    if not entry.owned:
        return AccessDecision(allowed=False, user_id=user_id, reason=f"game {game_id} was refunded")
    return AccessDecision(
        allowed=True,
        user_id=user_id,
        reason=f"user {user_id} owns game {game_id} ({entry.acquisition_type})",
    )


def shared_by_family(user_id: str, game_id: str, owners_copy: LibraryItem) -> AccessDecision:
    return AccessDecision(
        allowed=True,
        user_id=user_id,
        reason=f"user {user_id} borrows game {game_id} from family owner {owners_copy.user_id}",
    )
