"""A read-only description of a trust repository, for ``admin trust show`` and operators."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from signing.release_pointer import ReleasePointer
from signing.repository_store import RepositoryStore
from signing.roles import games_of, revoked_keyids
from signing.tuf_api import Metadata, Root, Snapshot, Targets, Timestamp


@dataclass(frozen=True)
class RoleSummary:
    name: str
    version: int
    expires: str
    keyids: tuple[str, ...]
    threshold: int


@dataclass(frozen=True)
class PublisherSummary:
    name: str
    keyids: tuple[str, ...]
    threshold: int
    games: tuple[str, ...]
    version: int | None
    expires: str | None
    latest: dict[str, int]


@dataclass(frozen=True)
class KeySummary:
    keyid: str
    roles: tuple[str, ...]  # top-level role names and "publisher:<name>"


@dataclass(frozen=True)
class TrustSummary:
    path: str
    roles: tuple[RoleSummary, ...]
    publishers: tuple[PublisherSummary, ...]
    keys: tuple[KeySummary, ...]
    revoked_keyids: tuple[str, ...]


def describe_repository(path: Path) -> TrustSummary:
    """Versions, expiries, keys of every role, and each publisher's games and latest releases."""
    store = RepositoryStore(path)
    store.require_initialised()
    root = store.load_root()
    timestamp = store.load_timestamp()
    snapshot = store.load_snapshot(timestamp)
    targets = store.load_targets(snapshot, Targets.type)
    assert targets is not None
    current: dict[str, Metadata[Root] | Metadata[Timestamp] | Metadata[Snapshot]] = {
        Root.type: root,
        Timestamp.type: timestamp,
        Snapshot.type: snapshot,
    }
    roles = []
    for name in (Root.type, Targets.type, Snapshot.type, Timestamp.type):
        signed = targets.signed if name == Targets.type else current[name].signed
        role = root.signed.roles[name]
        roles.append(
            RoleSummary(
                name=name,
                version=signed.version,
                expires=signed.expires.isoformat(),
                keyids=tuple(role.keyids),
                threshold=role.threshold,
            )
        )
    publishers = _publishers(store, snapshot, targets.signed)
    return TrustSummary(
        path=str(path),
        roles=tuple(roles),
        publishers=publishers,
        keys=_keys(roles, publishers),
        revoked_keyids=tuple(
            sorted(set(revoked_keyids(root.signed)) | set(revoked_keyids(targets.signed)))
        ),
    )


def _keys(
    roles: list[RoleSummary], publishers: tuple[PublisherSummary, ...]
) -> tuple[KeySummary, ...]:
    uses: dict[str, list[str]] = {}
    for role in roles:
        for keyid in role.keyids:
            uses.setdefault(keyid, []).append(role.name)
    for publisher in publishers:
        for keyid in publisher.keyids:
            uses.setdefault(keyid, []).append(f"publisher:{publisher.name}")
    return tuple(KeySummary(keyid, tuple(names)) for keyid, names in sorted(uses.items()))


def _publishers(
    store: RepositoryStore, snapshot: Metadata[Snapshot], targets: Targets
) -> tuple[PublisherSummary, ...]:
    roles = targets.delegations.roles if targets.delegations else None
    result = []
    for role in (roles or {}).values():
        published = store.load_targets(snapshot, role.name)
        latest: dict[str, int] = {}
        for target in published.signed.targets.values() if published else ():
            if target.path.endswith("/latest.json"):
                data = store.read_target(target.path, target.hashes["sha256"])
                pointer = ReleasePointer.from_json(data)
                latest[pointer.game_id] = pointer.release
        result.append(
            PublisherSummary(
                name=role.name,
                keyids=tuple(role.keyids),
                threshold=role.threshold,
                games=tuple(games_of(role)),
                version=published.signed.version if published else None,
                expires=published.signed.expires.isoformat() if published else None,
                latest=latest,
            )
        )
    return tuple(result)
