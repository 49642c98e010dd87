"""Admin changes to who may sign: removing a publisher, revoking a key, rotating the root.

Each change re-signs exactly what the TUF chain needs: a new root version (signed by the old
root threshold and the new one) when top-level keys change, new top-level targets when a
delegation changes, a publisher role only when the admin hands over its new private key, and
always a new snapshot and timestamp. Anything signed only by a revoked key then fails
verification in every client, which reports it as a revoked key (see ``roles.REVOKED_FIELD``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from peerpipe.logs import fields
from signing.errors import (
    RepositoryStateError,
    RevokedKey,
    UnauthorizedAdmin,
    UnauthorizedPublisher,
)
from signing.keys import generate_key
from signing.roles import (
    ADMIN_ROLES,
    ROOT_LIFETIME,
    KeyUse,
    check_threshold,
    distinct_keys,
    distinct_signers,
    drop_publisher,
    find_key,
    games_of,
    mark_revoked,
    publisher_roles,
    replace_publisher_key,
    revoked_keyids,
    sign_all,
)
from signing.tuf_api import CryptoSigner, Key, Metadata, Root, Signer, Snapshot, Targets, Timestamp

if TYPE_CHECKING:
    from signing.repository import TrustRepository

log = logging.getLogger("peerpipe.signing")


@dataclass(frozen=True)
class KeyRevocation:
    """What ``revoke_key`` changed."""

    keyid: str
    removed_from: tuple[str, ...]  # top-level role names or publisher names
    replacement_keyid: str | None
    resigned: tuple[str, ...]  # metadata roles signed anew


@dataclass(frozen=True)
class RootRotation:
    """The root ``rotate_root`` wrote."""

    version: int
    keyids: tuple[str, ...]
    threshold: int
    retired_keyids: tuple[str, ...]


@dataclass
class _TopLevel:
    root: Metadata[Root]
    timestamp: Metadata[Timestamp]
    snapshot: Metadata[Snapshot]
    targets: Metadata[Targets]


def _load(repository: TrustRepository) -> _TopLevel:
    store = repository.store
    store.require_initialised()
    timestamp = store.load_timestamp()
    snapshot = store.load_snapshot(timestamp)
    targets = store.load_targets(snapshot, Targets.type)
    assert targets is not None
    return _TopLevel(store.load_root(), timestamp, snapshot, targets)


def remove_publisher(
    repository: TrustRepository, name: str, admin_signers: list[Signer]
) -> list[str]:
    """Withdraw ``name``'s delegation; its games become unpublishable until re-delegated."""
    with repository.store.locked():
        top = _load(repository)
        role = drop_publisher(top.targets.signed, name)
        repository.commit_targets(top.root.signed, top.targets, admin_signers, top.snapshot)
        # The publisher's entry stays in snapshot: clients refuse a snapshot that drops
        # metadata they have seen, and without a delegation nobody consults it.
        repository.commit_snapshot(top.snapshot, top.timestamp.signed.version + 1)
    log.info("publisher removed", extra=fields(publisher=name))
    return games_of(role)


def revoke_key(
    repository: TrustRepository,
    keyid: str,
    admin_signers: list[Signer],
    *,
    new_key: Key | None = None,
    new_signer: Signer | None = None,
) -> KeyRevocation:
    with repository.store.locked():
        top = _load(repository)
        use = find_key(top.root.signed, top.targets.signed, keyid)
        if set(use.roles) & set(ADMIN_ROLES):
            raise RepositoryStateError(
                f"key {use.keyid[:16]}… is an admin (root) key; replace it with "
                "'admin trust rotate-root --old-key … --new-key …'"
            )
        if use.roles:
            if new_key is not None or new_signer is not None:
                raise RepositoryStateError(
                    f"key {use.keyid[:16]}… is the online {'/'.join(use.roles)} key; it is "
                    "replaced by a freshly generated key, so give no --new-key"
                )
            result = _revoke_online_key(repository, top, use, admin_signers)
        else:
            result = _revoke_publisher_key(repository, top, use, admin_signers, new_key, new_signer)
    log.info(
        "key revoked",
        extra=fields(keyid=use.keyid, removed_from=list(result.removed_from)),
    )
    return result


def _revoke_online_key(
    repository: TrustRepository, top: _TopLevel, use: KeyUse, admin_signers: list[Signer]
) -> KeyRevocation:
    private_key = generate_key()
    replacement = CryptoSigner(private_key)
    old_root = top.root.signed
    new_root = copy.deepcopy(top.root)
    for role in use.roles:
        new_root.signed.revoke_key(use.keyid, role)
        new_root.signed.add_key(replacement.public_key, role)
    mark_revoked(new_root.signed, [use.keyid])
    _commit_root(repository, old_root, new_root, admin_signers, admin_signers)
    for role in use.roles:
        repository.store.replace_online_key(role, private_key)
    repository.commit_snapshot(top.snapshot, top.timestamp.signed.version + 1)
    return KeyRevocation(
        keyid=use.keyid,
        removed_from=use.roles,
        replacement_keyid=replacement.public_key.keyid,
        resigned=(Root.type, Snapshot.type, Timestamp.type),
    )


def _revoke_publisher_key(
    repository: TrustRepository,
    top: _TopLevel,
    use: KeyUse,
    admin_signers: list[Signer],
    new_key: Key | None,
    new_signer: Signer | None,
) -> KeyRevocation:
    if new_signer is not None:
        new_key = new_signer.public_key
    if new_key is not None and (
        new_key.keyid in revoked_keyids(top.targets.signed) or new_key.keyid == use.keyid
    ):
        raise RevokedKey(f"revoked key: the new key {new_key.keyid[:16]}… is revoked")
    changed = replace_publisher_key(top.targets.signed, use.keyid, new_key)
    repository.commit_targets(top.root.signed, top.targets, admin_signers, top.snapshot)
    resigned = [Targets.type]
    if new_signer is not None:
        # Re-sign the publisher's current metadata so its published releases stay
        # installable; without the new private key they wait for the next publish.
        for name in changed:
            metadata = repository.store.load_targets(top.snapshot, name)
            if metadata is not None:
                metadata.signed.version += 1
                repository.commit_publisher(name, metadata, new_signer, top.snapshot)
                resigned.append(name)
    repository.commit_snapshot(top.snapshot, top.timestamp.signed.version + 1)
    return KeyRevocation(
        keyid=use.keyid,
        removed_from=tuple(changed),
        replacement_keyid=new_key.keyid if new_key is not None else None,
        resigned=(*resigned, Snapshot.type, Timestamp.type),
    )


def rotate_root(
    repository: TrustRepository,
    old_signers: list[Signer],
    new_signers: list[Signer],
    threshold: int | None,
) -> RootRotation:
    new_keys = distinct_keys(new_signers)
    with repository.store.locked():
        top = _load(repository)
        old_root = top.root.signed
        threshold = threshold or old_root.roles[Root.type].threshold
        if not 1 <= threshold <= len(new_keys):
            raise RepositoryStateError(
                f"threshold {threshold} needs between 1 and {len(new_keys)} new root keys "
                "(give --threshold or more --new-key)"
            )
        for key in new_keys:
            if key.keyid in revoked_keyids(old_root):
                raise RevokedKey(
                    f"revoked key: key {key.keyid[:16]}… was revoked; generate a new key"
                )
        new_root = copy.deepcopy(top.root)
        for role in ADMIN_ROLES:
            for keyid in list(new_root.signed.roles[role].keyids):
                new_root.signed.revoke_key(keyid, role)
            for key in new_keys:
                new_root.signed.add_key(key, role)
            new_root.signed.roles[role].threshold = threshold
        old_admins = {k for role in ADMIN_ROLES for k in old_root.roles[role].keyids}
        retired = sorted(old_admins - {key.keyid for key in new_keys})
        mark_revoked(new_root.signed, retired)
        _commit_root(repository, old_root, new_root, old_signers, new_signers)
        mark_revoked(top.targets.signed, retired)
        repository.commit_targets(new_root.signed, top.targets, new_signers, top.snapshot)
        repository.commit_snapshot(top.snapshot, top.timestamp.signed.version + 1)
    log.info("root rotated", extra=fields(version=new_root.signed.version, retired=len(retired)))
    return RootRotation(
        version=new_root.signed.version,
        keyids=tuple(key.keyid for key in new_keys),
        threshold=threshold,
        retired_keyids=tuple(retired),
    )


def _commit_root(
    repository: TrustRepository,
    old_root: Root,
    new_root: Metadata[Root],
    old_signers: list[Signer],
    new_signers: list[Signer],
) -> None:
    """Sign ``new_root`` (next version) so both the old root and itself accept it; write it."""
    _require_keys_of(old_root, old_signers, "old root")
    _require_keys_of(new_root.signed, new_signers, "new root")
    new_root.signed.version = old_root.version + 1
    new_root.signed.expires = repository.expiry(ROOT_LIFETIME)
    sign_all(new_root, [*old_signers, *new_signers])
    check_threshold(old_root, Root.type, new_root, len(distinct_signers(old_signers)), "old root")
    check_threshold(
        new_root.signed, Root.type, new_root, len(distinct_signers(new_signers)), "new root"
    )
    repository.store.write_metadata(Root.type, new_root)


def _require_keys_of(root: Root, signers: list[Signer], what: str) -> None:
    keyids = set(root.roles[Root.type].keyids)
    for signer in signers:
        if signer.public_key.keyid not in keyids:
            raise UnauthorizedAdmin(
                f"key {signer.public_key.keyid[:16]}… is not one of the {what} keys of this repository"
            )


@dataclass(frozen=True)
class Renewal:
    """The roles ``renew`` re-signed with a fresh expiry, and their new versions."""

    versions: dict[str, int]


def renew(
    repository: TrustRepository,
    admin_signers: list[Signer],
    publisher_signers: list[Signer],
) -> Renewal:
    """Re-sign root and targets (with ``admin_signers``) and each publisher role whose key
    is among ``publisher_signers``, with fresh expiries; then snapshot and timestamp.

    Offline keys sign these roles, so no service can renew them: admins do it yearly,
    publishers that have not released within their role's lifetime (90 days) likewise.
    """
    if not admin_signers and not publisher_signers:
        raise RepositoryStateError("give admin keys, publisher keys, or both")
    versions: dict[str, int] = {}
    with repository.store.locked():
        top = _load(repository)
        if admin_signers:
            new_root = copy.deepcopy(top.root)
            _commit_root(repository, top.root.signed, new_root, admin_signers, admin_signers)
            repository.commit_targets(new_root.signed, top.targets, admin_signers, top.snapshot)
            versions[Root.type] = new_root.signed.version
            versions[Targets.type] = top.targets.signed.version
        for signer in publisher_signers:
            name = _publisher_of(top.targets.signed, signer)
            metadata = repository.store.load_targets(top.snapshot, name)
            if metadata is None:
                raise RepositoryStateError(f"publisher {name!r} has published nothing to renew")
            metadata.signed.version += 1
            repository.commit_publisher(name, metadata, signer, top.snapshot)
            versions[name] = metadata.signed.version
        repository.commit_snapshot(top.snapshot, top.timestamp.signed.version + 1)
    log.info("roles renewed", extra=fields(versions=versions))
    return Renewal(versions=versions)


def _publisher_of(targets: Targets, signer: Signer) -> str:
    keyid = signer.public_key.keyid
    if keyid in revoked_keyids(targets):
        raise RevokedKey(f"revoked key: key {keyid[:16]}… was revoked by the admins")
    for name, role in publisher_roles(targets).items():
        if keyid in role.keyids:
            return name
    raise UnauthorizedPublisher(f"unauthorized publisher: key {keyid[:16]}… is no publisher's")
