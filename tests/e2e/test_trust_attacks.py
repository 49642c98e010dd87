"""Every attack in TUF's threat list, played by a compromised CDN node (or stolen key) on
loopback against an agent's ``TrustClient``: each is refused with an error naming it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from trust_support import GAME, OTHER_GAME, TrustWorld, make_manifest, trust_world

from signing import (
    ArbitrarySoftware,
    EndlessDataAttack,
    FreezeAttack,
    MixAndMatchAttack,
    ReleaseManifest,
    RevokedKey,
    RollbackAttack,
    TrustRepository,
    UnauthorizedPublisher,
    WrongSoftware,
    latest_target_path,
    manifest_target_path,
)
from signing.repository_store import meta_file
from signing.tuf_api import Snapshot

pytestmark = pytest.mark.e2e


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[TrustWorld]:
    world = await trust_world(tmp_path)
    world.repository.publish_release(make_manifest(release=1), world.publisher)
    yield world
    await world.simulator.stop()


async def test_honest_mirror_serves_verified_releases(world: TrustWorld) -> None:
    assert await world.fetch(world.client()) == make_manifest(release=1)


async def test_freeze_expired_timestamp_is_refused_until_the_service_refreshes_it(
    world: TrustWorld,
) -> None:
    # A mirror replaying metadata long expired: a timestamp signed two days ago.
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    TrustRepository(world.repository.path, clock=lambda: two_days_ago).refresh_timestamp()
    client = world.client()

    with pytest.raises(FreezeAttack, match=r"freeze attack: timestamp\.json is expired"):
        await world.fetch(client)

    assert world.repository.refresh_if_expiring() is True
    assert world.repository.refresh_if_expiring() is False  # fresh now: nothing to do
    assert (await world.fetch(client)).release == 1


async def test_freeze_expired_snapshot_is_refused(world: TrustWorld) -> None:
    def expire(snapshot: Snapshot) -> None:
        snapshot.expires = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)

    world.simulator.forge_snapshot(expire)
    with pytest.raises(FreezeAttack, match=r"freeze attack: snapshot\.json is expired"):
        await world.fetch(world.client())


async def test_rollback_to_an_older_timestamp_is_refused(world: TrustWorld) -> None:
    old_timestamp = world.simulator.current("metadata/timestamp.json")
    world.repository.publish_release(make_manifest(release=2), world.publisher)
    client = world.client()
    assert (await world.fetch(client)).release == 2

    world.simulator.replace("metadata/timestamp.json", old_timestamp)

    with pytest.raises(RollbackAttack, match="rollback attack: New timestamp version"):
        await world.fetch(client)


async def test_rollback_of_a_publisher_role_to_an_older_version_is_refused(
    world: TrustWorld,
) -> None:
    first = world.simulator.snapshot().signed.meta["acme.json"].version
    first_bytes = world.simulator.current(f"metadata/{first}.acme.json")
    world.repository.publish_release(make_manifest(release=2), world.publisher)
    client = world.client()
    assert (await world.fetch(client)).release == 2

    def roll_back(snapshot: Snapshot) -> None:
        snapshot.meta["acme.json"] = meta_file(first, first_bytes)

    world.simulator.forge_snapshot(roll_back)  # with the stolen online keys

    with pytest.raises(RollbackAttack, match=r"rollback attack: Expected acme\.json version"):
        await world.fetch(client)


async def test_mix_and_match_snapshot_from_another_repository_state_is_refused(
    world: TrustWorld,
) -> None:
    old_version = world.simulator.timestamp().signed.snapshot_meta.version
    old_snapshot = world.simulator.current(f"metadata/{old_version}.snapshot.json")
    world.repository.publish_release(make_manifest(release=2), world.publisher)
    new_version = world.simulator.timestamp().signed.snapshot_meta.version

    world.simulator.replace(f"metadata/{new_version}.snapshot.json", old_snapshot)

    with pytest.raises(MixAndMatchAttack, match="mix-and-match attack"):
        await world.fetch(world.client())


async def test_mix_and_match_publisher_metadata_is_refused(world: TrustWorld) -> None:
    old_version = world.simulator.snapshot().signed.meta["acme.json"].version
    old_role = world.simulator.current(f"metadata/{old_version}.acme.json")
    world.repository.publish_release(make_manifest(release=2), world.publisher)
    new_version = world.simulator.snapshot().signed.meta["acme.json"].version

    world.simulator.replace(f"metadata/{new_version}.acme.json", old_role)

    with pytest.raises(MixAndMatchAttack, match="mix-and-match attack"):
        await world.fetch(world.client())


@pytest.mark.parametrize("path", ["metadata/timestamp.json", "metadata/2.root.json"])
async def test_endless_metadata_is_cut_off(world: TrustWorld, path: str) -> None:
    world.simulator.stream_endlessly(path)

    with pytest.raises(EndlessDataAttack, match="endless data attack"):
        await world.fetch(world.client())


async def test_endless_manifest_is_cut_off_at_its_signed_length(world: TrustWorld) -> None:
    data = make_manifest(release=1).to_canonical_json()
    world.simulator.stream_endlessly(
        world.simulator.target_path(manifest_target_path(GAME, 1), data)
    )

    with pytest.raises(EndlessDataAttack, match="longer than its signed length"):
        await world.fetch(world.client(), GAME, 1)


async def test_manifest_signed_by_a_key_not_delegated_for_the_game_is_refused(
    world: TrustWorld,
) -> None:
    forged = make_manifest(release=2, content=b"malware")
    world.simulator.forge_role(
        "acme", world.stranger, {manifest_target_path(GAME, 2): forged.to_canonical_json()}
    )

    with pytest.raises(UnauthorizedPublisher, match="unauthorized publisher: acme was signed"):
        await world.fetch(world.client(), GAME, 2)


async def test_another_publisher_cannot_sign_a_game_it_was_not_delegated(
    world: TrustWorld,
) -> None:
    # rival is a real publisher, but only for rival-game: its signature on space-miner
    # targets is never consulted, so the client never even sees the forged manifest.
    forged = make_manifest(release=2, content=b"malware")
    world.simulator.forge_role(
        "rival", world.rival, {manifest_target_path(GAME, 2): forged.to_canonical_json()}
    )

    with pytest.raises(UnauthorizedPublisher, match="unauthorized publisher"):
        await world.fetch(world.client(), GAME, 2)
    assert (await world.fetch(world.client(), GAME)).release == 1


@pytest.mark.parametrize(
    ("signed", "message"),
    [
        (make_manifest(game_id=OTHER_GAME, release=2), "the signed manifest is for 'moon-base'"),
        (make_manifest(release=1), "the signed manifest is release 1"),
    ],
)
async def test_wrong_software_signed_under_another_name_is_refused(
    world: TrustWorld, signed: ReleaseManifest, message: str
) -> None:
    world.simulator.forge_role(
        "acme", world.publisher, {manifest_target_path(GAME, 2): signed.to_canonical_json()}
    )

    with pytest.raises(WrongSoftware, match=f"wrong software attack: .*{message}"):
        await world.fetch(world.client(), GAME, 2)


async def test_wrong_software_latest_pointer_to_another_game_is_refused(
    world: TrustWorld,
) -> None:
    pointer = b'{"game_id":"moon-base","release":1,"version":"1.1.0"}'
    world.simulator.forge_role("acme", world.publisher, {latest_target_path(GAME): pointer})

    with pytest.raises(WrongSoftware, match="wrong software attack"):
        await world.fetch(world.client(), GAME)


async def test_arbitrary_software_manifest_not_matching_its_hash_is_refused(
    world: TrustWorld,
) -> None:
    honest = make_manifest(release=1).to_canonical_json()
    evil = honest.replace(b'"version":"1.1.0"', b'"version":"6.6.6"')  # same length
    world.simulator.replace(
        world.simulator.target_path(manifest_target_path(GAME, 1), honest), evil
    )

    with pytest.raises(ArbitrarySoftware, match=r"arbitrary software attack: .* signed hash"):
        await world.fetch(world.client(), GAME, 1)


async def test_arbitrary_software_metadata_signed_by_an_unknown_key_is_refused(
    world: TrustWorld,
) -> None:
    world.simulator.forge_snapshot(timestamp_signer=world.stranger)

    with pytest.raises(ArbitrarySoftware, match="arbitrary software attack: untrusted"):
        await world.fetch(world.client())


async def test_publisher_metadata_signed_by_a_revoked_key_is_refused(world: TrustWorld) -> None:
    client = world.client()
    assert (await world.fetch(client)).release == 1

    world.repository.revoke_key(world.publisher.public_key.keyid, [world.admin])

    with pytest.raises(RevokedKey, match="revoked key: acme metadata is signed by revoked key"):
        await world.fetch(client)
    with pytest.raises(RevokedKey, match="revoked key"):
        await world.fetch(world.client())


@pytest.mark.parametrize("role", ["timestamp", "snapshot"])
async def test_metadata_signed_with_a_stolen_revoked_online_key_is_refused(
    world: TrustWorld, role: str
) -> None:
    stolen = world.repository.store.online_signer(role)
    client = world.client()
    await world.fetch(client)
    world.repository.revoke_key(stolen.public_key.keyid[:12], [world.admin])
    assert (await world.fetch(client)).release == 1  # the honest mirror: re-signed

    if role == "timestamp":
        world.simulator.forge_snapshot(timestamp_signer=stolen)
    else:
        world.simulator.forge_snapshot(snapshot_signer=stolen)

    with pytest.raises(RevokedKey, match=f"revoked key: {role} metadata is signed by revoked"):
        await world.fetch(client)
