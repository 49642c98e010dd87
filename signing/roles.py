"""Pure rules over TUF role metadata: delegations per game, admin signatures, revoked keys.

No file I/O here: :class:`signing.repository.TrustRepository` loads, calls these, and writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tuf.api.exceptions import UnsignedMetadataError

from signing.errors import RepositoryStateError, RevokedKey, UnauthorizedAdmin
from signing.manifest import check_game_id, latest_target_path
from signing.tuf_api import DelegatedRole, Delegations, Key, Metadata, Root, Signer, Targets

ROOT_LIFETIME = timedelta(days=365)
TARGETS_LIFETIME = timedelta(days=365)
PUBLISHER_LIFETIME = timedelta(days=90)
SNAPSHOT_LIFETIME = timedelta(days=7)
# Short-lived on purpose: a frozen mirror is detected within hours. The metadata service
# keeps it fresh with ``refresh_if_expiring`` (see DEFAULT_REFRESH_MARGIN).
TIMESTAMP_LIFETIME = timedelta(hours=6)
SNAPSHOT_RENEW_BEFORE = timedelta(days=1)
DEFAULT_REFRESH_MARGIN = timedelta(hours=2)

PUBLISHER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
TOP_LEVEL_ROLES = ("root", "targets", "snapshot", "timestamp")
ONLINE_ROLES = ("snapshot", "timestamp")
ADMIN_ROLES = ("root", "targets")

# Root and targets carry the ids of keys the admins revoked, inside the signed part, so a
# client can tell "signed by a revoked key" from "signed by a stranger". TUF ignores
# unrecognised fields but keeps them under the signature.
REVOKED_FIELD = "x-peerpipe-revoked-keyids"


def game_path_patterns(game_id: str) -> list[str]:
    """TUF path patterns covering everything under ``games/<game>/``.

    python-tuf matches patterns segment by segment ('*' never crosses '/'), so the pointer
    (``games/g/latest.json``) and the manifests (``games/g/<release>/manifest.json``) each
    need their own pattern.
    """
    return [f"games/{game_id}/*", f"games/{game_id}/*/*"]


def games_of(role: DelegatedRole) -> list[str]:
    """The game ids a publisher role is delegated, read back from its path patterns."""
    games = {p.split("/")[1] for p in role.paths or [] if p.startswith("games/")}
    return sorted(games)


def publisher_roles(targets: Targets) -> dict[str, DelegatedRole]:
    roles = targets.delegations.roles if targets.delegations else None
    return dict(roles or {})


def role_for_game(targets: Targets, game_id: str) -> DelegatedRole | None:
    for role in publisher_roles(targets).values():
        if role.is_delegated_path(latest_target_path(game_id)):
            return role
    return None


def revoked_keyids(signed: Root | Targets) -> list[str]:
    value: Any = signed.unrecognized_fields.get(REVOKED_FIELD, [])
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def mark_revoked(signed: Root | Targets, keyids: Sequence[str]) -> None:
    merged = sorted(set(revoked_keyids(signed)) | set(keyids))
    signed.unrecognized_fields[REVOKED_FIELD] = merged


def distinct_keys(signers: Sequence[Signer]) -> list[Key]:
    keys: dict[str, Key] = {}
    for signer in signers:
        keys[signer.public_key.keyid] = signer.public_key
    if not keys:
        raise RepositoryStateError("at least one root key is required")
    return list(keys.values())


def distinct_signers(signers: Sequence[Signer]) -> list[Signer]:
    return list({signer.public_key.keyid: signer for signer in signers}.values())


def sign_all(metadata: Metadata[Any], signers: Sequence[Signer]) -> None:
    metadata.signatures.clear()
    for signer in distinct_signers(signers):
        metadata.sign(signer, append=True)


def require_admins(
    root: Root, role: str, admin_signers: Sequence[Signer], what: str = "admin"
) -> None:
    """Refuse signers that are not keys of ``role`` in ``root`` (named, before signing)."""
    keyids = set(root.roles[role].keyids)
    for signer in admin_signers:
        keyid = signer.public_key.keyid
        if keyid in revoked_keyids(root):
            raise RevokedKey(f"revoked key: {what} key {keyid[:16]}… was revoked")
        if keyid not in keyids:
            raise UnauthorizedAdmin(
                f"key {keyid[:16]}… is not one of the {what} keys of this repository"
            )


def check_threshold(
    delegator: Root, role: str, metadata: Metadata[Any], given: int, what: str
) -> None:
    """Raise ``UnauthorizedAdmin`` unless ``metadata`` meets ``role``'s threshold."""
    try:
        delegator.verify_delegate(role, metadata.signed_bytes, metadata.signatures)
    except UnsignedMetadataError:
        threshold = delegator.roles[role].threshold
        raise UnauthorizedAdmin(
            f"{given} {what} key(s) given; the {role} role needs {threshold}"
        ) from None


def sign_as_admin(root: Root, targets: Metadata[Targets], admin_signers: Sequence[Signer]) -> None:
    require_admins(root, Targets.type, admin_signers)
    sign_all(targets, admin_signers)
    check_threshold(root, Targets.type, targets, len(distinct_signers(admin_signers)), "admin")


def check_publisher_name(name: str) -> None:
    if not PUBLISHER_NAME.fullmatch(name) or name in TOP_LEVEL_ROLES:
        raise RepositoryStateError(
            f"invalid publisher name {name!r}: use 1-64 lowercase letters, digits, '_' or '-' "
            "(not a top-level role name)"
        )


def check_games(games: Sequence[str]) -> list[str]:
    if not games:
        raise RepositoryStateError("a publisher needs at least one game")
    checked = [check_game_id(game) for game in games]
    if len(set(checked)) != len(checked):
        raise RepositoryStateError(f"game list {', '.join(checked)} has duplicates")
    return checked


def delegate_games(targets: Targets, name: str, key: Key, games: list[str]) -> None:
    """Add publisher ``name`` with ``key`` for ``games`` (each game has one publisher)."""
    delegations = targets.delegations or Delegations(keys={}, roles={})
    roles = delegations.roles or {}
    if name in roles:
        raise RepositoryStateError(f"publisher {name!r} already exists")
    if key.keyid in revoked_keyids(targets):
        raise RevokedKey(f"revoked key: key {key.keyid[:16]}… was revoked; use a new key")
    for role in roles.values():
        taken = sorted(set(games) & set(games_of(role)))
        if taken:
            raise RepositoryStateError(
                f"game {taken[0]!r} is already delegated to publisher {role.name!r}"
            )
    delegations.keys[key.keyid] = key
    roles[name] = DelegatedRole(
        name=name,
        keyids=[key.keyid],
        threshold=1,
        terminating=True,
        paths=[p for game in games for p in game_path_patterns(game)],
    )
    delegations.roles = roles
    targets.delegations = delegations


def drop_publisher(targets: Targets, name: str) -> DelegatedRole:
    """Remove publisher ``name``'s delegation and the keys no other publisher uses."""
    roles = publisher_roles(targets)
    if name not in roles:
        known = ", ".join(sorted(roles)) or "none"
        raise RepositoryStateError(f"no publisher {name!r} (publishers: {known})")
    assert targets.delegations is not None and targets.delegations.roles is not None
    role = targets.delegations.roles.pop(name)
    _forget_unused_keys(targets)
    return role


def replace_publisher_key(targets: Targets, keyid: str, new_key: Key | None) -> list[str]:
    """Take ``keyid`` out of every publisher role holding it (adding ``new_key`` in its
    place) and record it as revoked; return the names of the roles changed."""
    changed = [name for name, role in publisher_roles(targets).items() if keyid in role.keyids]
    assert targets.delegations is not None
    for name in changed:
        role = publisher_roles(targets)[name]
        role.keyids.remove(keyid)
        if new_key is not None and new_key.keyid not in role.keyids:
            targets.delegations.keys[new_key.keyid] = new_key
            role.keyids.append(new_key.keyid)
    _forget_unused_keys(targets)
    mark_revoked(targets, [keyid])
    return changed


def _forget_unused_keys(targets: Targets) -> None:
    assert targets.delegations is not None
    used = {keyid for role in publisher_roles(targets).values() for keyid in role.keyids}
    for keyid in list(targets.delegations.keys):
        if keyid not in used:
            del targets.delegations.keys[keyid]


@dataclass(frozen=True)
class KeyUse:
    """Where a key appears: top-level roles and publisher roles."""

    keyid: str
    roles: tuple[str, ...]
    publishers: tuple[str, ...]


def find_key(root: Root, targets: Targets, keyid_or_prefix: str) -> KeyUse:
    """The key whose id is (or uniquely starts with) ``keyid_or_prefix``, and its uses."""
    wanted = keyid_or_prefix.strip().lower()
    if len(wanted) < 8 or not re.fullmatch(r"[0-9a-f]+", wanted):
        raise RepositoryStateError(
            f"key id {keyid_or_prefix!r} must be hexadecimal, at least 8 characters"
        )
    delegated = targets.delegations.keys if targets.delegations else {}
    known = set(root.keys) | set(delegated)
    matches = sorted(keyid for keyid in known if keyid.startswith(wanted))
    if not matches:
        if any(
            keyid.startswith(wanted) for keyid in revoked_keyids(root) + revoked_keyids(targets)
        ):
            raise RepositoryStateError(f"key {keyid_or_prefix} is already revoked")
        raise RepositoryStateError(f"no key {keyid_or_prefix} in this repository")
    if len(matches) > 1:
        raise RepositoryStateError(f"key id prefix {keyid_or_prefix} is ambiguous; give more")
    keyid = matches[0]
    roles = tuple(name for name in TOP_LEVEL_ROLES if keyid in root.roles[name].keyids)
    publishers = tuple(
        name for name, role in publisher_roles(targets).items() if keyid in role.keyids
    )
    return KeyUse(keyid=keyid, roles=roles, publishers=publishers)
