"""Root rotation and key revocation, seen by agents that were offline while they happened:
each keeps its trust cache between fetches and catches up through the signed chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from release_factory import new_signer
from trust_support import GAME, TrustWorld, make_manifest, trust_world

from signing import (
    ArbitrarySoftware,
    FreezeAttack,
    RevokedKey,
    TrustRepository,
    UnauthorizedAdmin,
    UnauthorizedPublisher,
)
from signing.repository_store import meta_file
from signing.tuf_api import Metadata, Snapshot, Targets

pytestmark = pytest.mark.e2e


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[TrustWorld]:
    world = await trust_world(tmp_path)
    world.repository.publish_release(make_manifest(release=1), world.publisher)
    yield world
    await world.simulator.stop()


async def test_offline_agent_follows_two_root_rotations(world: TrustWorld) -> None:
    offline = world.client("offline-agent")
    assert (await world.fetch(offline)).release == 1
    second = [new_signer(world.keys_dir, "admin-b1"), new_signer(world.keys_dir, "admin-b2")]
    third = [new_signer(world.keys_dir, "admin-c")]

    first_rotation = world.repository.rotate_root([world.admin], second, threshold=2)
    world.repository.rotate_root(second, third, threshold=1)
    world.repository.publish_release(make_manifest(release=2), world.publisher)

    assert first_rotation.retired_keyids == (world.admin.public_key.keyid,)
    assert (await world.fetch(offline)).release == 2  # same cache: root 1 → 2 → 3
    # A new agent shipped with the very first root catches up the same way.
    assert (await world.fetch(world.client("new-agent"))).release == 2
    history = world.root / "agents/offline-agent/metadata/root_history"
    assert sorted(p.name for p in history.iterdir()) == [
        "1.root.json",
        "2.root.json",
        "3.root.json",
    ]


async def test_retired_admin_key_cannot_sign_targets_after_rotation(world: TrustWorld) -> None:
    client = world.client()
    new_admin = new_signer(world.keys_dir, "new-admin")
    world.repository.rotate_root([world.admin], [new_admin])
    assert (await world.fetch(client)).release == 1

    # Whoever kept the retired admin key signs a top-level targets of their own.
    current = world.simulator.snapshot().signed.meta["targets.json"].version
    forged = Metadata[Targets].from_bytes(
        world.simulator.current(f"metadata/{current}.targets.json")
    )
    forged.signed.version = current + 1
    forged.signatures.clear()
    forged.sign(world.admin)
    data = forged.to_bytes()
    world.simulator.replace(f"metadata/{current + 1}.targets.json", data)

    def list_forged(snapshot: Snapshot) -> None:
        snapshot.meta["targets.json"] = meta_file(current + 1, data)

    world.simulator.forge_snapshot(list_forged)

    with pytest.raises(RevokedKey, match="revoked key: targets metadata is signed by revoked"):
        await world.fetch(client)


async def test_root_not_signed_by_the_old_threshold_is_refused(world: TrustWorld) -> None:
    client = world.client()
    await world.fetch(client)
    # An attacker's "rotation": a root v2 signed only by a key of its own choosing.
    root = Metadata.from_bytes(world.simulator.current("metadata/1.root.json"))
    root.signed.version = 2
    root.signatures.clear()
    root.sign(world.stranger)
    world.simulator.replace("metadata/2.root.json", root.to_bytes())

    with pytest.raises(ArbitrarySoftware, match="arbitrary software attack: untrusted"):
        await world.fetch(client)


def test_rotation_needs_the_old_threshold_and_the_new(world: TrustWorld) -> None:
    first, second = new_signer(world.keys_dir, "b1"), new_signer(world.keys_dir, "b2")
    world.repository.rotate_root([world.admin], [first, second], threshold=2)
    with pytest.raises(UnauthorizedAdmin, match="1 old root key"):
        world.repository.rotate_root([first], [world.stranger], threshold=1)
    with pytest.raises(UnauthorizedAdmin, match="not one of the old root keys"):
        world.repository.rotate_root([world.admin], [world.stranger], threshold=1)
    with pytest.raises(RevokedKey, match="generate a new key"):
        world.repository.rotate_root([first, second], [world.admin], threshold=1)


async def test_offline_agent_across_publisher_key_revocation_and_replacement(
    world: TrustWorld,
) -> None:
    offline = world.client("offline-agent")
    assert (await world.fetch(offline)).release == 1
    old_key = world.publisher.public_key.keyid
    new_key = new_signer(world.keys_dir, "acme-2024")

    revocation = world.repository.revoke_key(old_key, [world.admin], new_key=new_key.public_key)

    assert revocation.removed_from == ("acme",)
    assert revocation.resigned == ("targets", "snapshot", "timestamp")
    # Nothing re-signed acme's releases yet: signed only by the revoked key, they fail.
    with pytest.raises(RevokedKey, match="revoked key: acme metadata"):
        await world.fetch(offline)
    with pytest.raises(RevokedKey, match="revoked key"):
        world.repository.publish_release(make_manifest(release=2), world.publisher)

    world.repository.publish_release(make_manifest(release=2), new_key)

    assert (await world.fetch(offline)).release == 2
    assert (await world.fetch(offline, GAME, 1)) == make_manifest(release=1)


async def test_revocation_with_the_new_private_key_re_signs_at_once(world: TrustWorld) -> None:
    offline = world.client("offline-agent")
    await world.fetch(offline)
    new_key = new_signer(world.keys_dir, "acme-2025")

    revocation = world.repository.revoke_key(
        world.publisher.public_key.keyid, [world.admin], new_signer=new_key
    )

    assert revocation.resigned == ("targets", "acme", "snapshot", "timestamp")
    assert (await world.fetch(offline)).release == 1


async def test_removed_publisher_can_no_longer_publish_or_be_installed(
    world: TrustWorld,
) -> None:
    client = world.client()
    await world.fetch(client)

    games = world.repository.remove_publisher("acme", [world.admin])

    assert games == ["moon-base", "space-miner"]
    with pytest.raises(UnauthorizedPublisher, match="unauthorized publisher"):
        await world.fetch(client)
    with pytest.raises(UnauthorizedPublisher):
        world.repository.publish_release(make_manifest(release=2), world.publisher)
    # Re-delegating (to a new key) continues where the publisher's metadata left off.
    fresh = new_signer(world.keys_dir, "acme-new")
    world.repository.add_publisher("acme", fresh.public_key, [GAME], [world.admin])
    world.repository.publish_release(make_manifest(release=2), fresh)
    assert (await world.fetch(client)).release == 2


async def test_quiet_publisher_role_expires_until_the_publisher_renews_it(
    tmp_path: Path,
) -> None:
    world = await trust_world(tmp_path / "quiet")
    try:
        long_ago = datetime.now(UTC) - timedelta(days=91)
        past = TrustRepository(world.repository.path, clock=lambda: long_ago)
        past.publish_release(make_manifest(release=1), world.publisher)  # expired 1 day ago
        world.repository.refresh_timestamp()  # the metadata service keeps its roles fresh
        client = world.client()

        with pytest.raises(FreezeAttack, match=r"freeze attack: .*acme"):
            await world.fetch(client)

        renewal = world.repository.renew([world.admin], [world.publisher])

        assert renewal.versions == {"root": 2, "targets": 4, "acme": 2}
        assert (await world.fetch(client)).release == 1
        with pytest.raises(UnauthorizedPublisher, match="no publisher's"):
            world.repository.renew([], [world.stranger])
    finally:
        await world.simulator.stop()
