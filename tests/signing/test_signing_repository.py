"""A release signed in the repository is fetched and verified by an agent over HTTP, and the
repository and the agent refuse what they must."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from release_factory import new_signer
from signing_support import make_manifest, serve_repository

from signing import (
    ArbitrarySoftware,
    FreezeAttack,
    RepositoryStateError,
    RollbackAttack,
    TrustClient,
    TrustRepository,
    UnauthorizedAdmin,
    UnauthorizedPublisher,
    load_public_key,
    public_key_path,
)
from signing.tuf_api import Signer


async def test_agent_fetches_the_latest_verified_release(
    repository: TrustRepository, publisher: Signer, make_client: Callable[..., TrustClient]
) -> None:
    first, second = make_manifest(release=1), make_manifest(release=2)
    assert repository.publish_release(first, publisher) == "games/space-miner/1/manifest.json"
    client = make_client()
    assert await asyncio.to_thread(client.fetch_release, "space-miner") == first

    repository.publish_release(second, publisher)

    assert repository.latest_release("space-miner") == 2
    assert await asyncio.to_thread(client.fetch_release, "space-miner") == second
    assert await asyncio.to_thread(client.fetch_release, "space-miner", 1) == first


def test_repository_layout_uses_consistent_snapshots(
    repository: TrustRepository, publisher: Signer
) -> None:
    manifest = make_manifest()
    repository.publish_release(manifest, publisher)
    metadata = sorted(p.name for p in (repository.path / "metadata").iterdir())
    assert {"1.root.json", "timestamp.json", "1.acme.json"} <= set(metadata)
    assert any(name.endswith(".snapshot.json") for name in metadata)
    digest = hashlib.sha256(manifest.to_canonical_json()).hexdigest()
    stored = repository.path / "targets/games/space-miner/1" / f"{digest}.manifest.json"
    assert stored.read_bytes() == manifest.to_canonical_json()
    online = repository.path / "online-keys"
    assert {p.name for p in online.iterdir()} >= {"snapshot.pem", "timestamp.pem"}
    assert (online / "timestamp.pem").stat().st_mode & 0o777 == 0o600


def test_publisher_not_delegated_for_the_game_is_refused(
    repository: TrustRepository, publisher: Signer, keys_dir: Path, admin: Signer
) -> None:
    stranger = new_signer(keys_dir, "stranger")
    with pytest.raises(UnauthorizedPublisher, match="unauthorized publisher"):
        repository.publish_release(make_manifest(), stranger)
    with pytest.raises(UnauthorizedPublisher, match="no publisher is delegated"):
        repository.publish_release(make_manifest(game_id="other-game"), publisher)
    rival_key = load_public_key(public_key_path(keys_dir / "stranger.pem"))
    repository.add_publisher("rival", rival_key, ["other-game"], [admin])
    with pytest.raises(UnauthorizedPublisher):
        repository.publish_release(make_manifest(game_id="space-miner"), stranger)
    assert repository.latest_release("space-miner") is None


async def test_unknown_game_is_refused_by_the_agent(
    repository: TrustRepository, publisher: Signer, make_client: Callable[..., TrustClient]
) -> None:
    repository.publish_release(make_manifest(), publisher)
    with pytest.raises(UnauthorizedPublisher):
        await asyncio.to_thread(make_client().fetch_release, "not-a-game")


async def test_tampered_manifest_is_refused(
    repository: TrustRepository, publisher: Signer, make_client: Callable[..., TrustClient]
) -> None:
    manifest = make_manifest()
    repository.publish_release(manifest, publisher)
    digest = hashlib.sha256(manifest.to_canonical_json()).hexdigest()
    stored = repository.path / "targets/games/space-miner/1" / f"{digest}.manifest.json"
    # Same length, different content: only the signed hash can tell.
    stored.write_bytes(stored.read_bytes().replace(b'"version":"1.1.0"', b'"version":"6.6.6"'))

    with pytest.raises(ArbitrarySoftware, match="arbitrary software attack"):
        await asyncio.to_thread(make_client().fetch_release, "space-miner", 1)


async def test_expired_timestamp_is_refused(
    tmp_path: Path, admin: Signer, publisher: Signer, keys_dir: Path
) -> None:
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    repository = TrustRepository(tmp_path / "frozen", clock=lambda: two_days_ago)
    repository.init([admin])
    key = load_public_key(public_key_path(keys_dir / "publisher.pem"))
    repository.add_publisher("acme", key, ["space-miner"], [admin])
    repository.publish_release(make_manifest(), publisher)
    cdn = await serve_repository(repository.path)
    client = TrustClient(
        f"{cdn.url}/metadata/", f"{cdn.url}/targets/", tmp_path / "agent", repository.trusted_root()
    )
    try:
        with pytest.raises(FreezeAttack, match="freeze attack"):
            await asyncio.to_thread(client.fetch_release, "space-miner")
        TrustRepository(repository.path).refresh_timestamp()
        fetched = await asyncio.to_thread(client.fetch_release, "space-miner")
        assert fetched.release == 1
    finally:
        await cdn.stop()


def test_republishing_the_same_manifest_is_a_no_op_and_older_releases_are_refused(
    repository: TrustRepository, publisher: Signer
) -> None:
    repository.publish_release(make_manifest(release=2), publisher)
    versions = sorted((repository.path / "metadata").glob("*.acme.json"))
    repository.publish_release(make_manifest(release=2), publisher)
    assert sorted((repository.path / "metadata").glob("*.acme.json")) == versions
    with pytest.raises(RepositoryStateError, match="not newer"):
        repository.publish_release(make_manifest(release=1), publisher)


def test_repository_admin_misuse_is_refused(
    repository: TrustRepository, admin: Signer, keys_dir: Path
) -> None:
    with pytest.raises(RepositoryStateError, match="already initialised"):
        repository.init([admin])
    key = load_public_key(public_key_path(keys_dir / "publisher.pem"))
    with pytest.raises(RepositoryStateError, match="already exists"):
        repository.add_publisher("acme", key, ["another"], [admin])
    with pytest.raises(RepositoryStateError, match="already delegated"):
        repository.add_publisher("copycat", key, ["space-miner"], [admin])
    outsider = new_signer(keys_dir, "outsider")
    with pytest.raises(UnauthorizedAdmin):
        repository.add_publisher("newco", key, ["new-game"], [outsider])


def test_threshold_needs_enough_admin_signatures(tmp_path: Path, keys_dir: Path) -> None:
    first, second = new_signer(keys_dir, "a1"), new_signer(keys_dir, "a2")
    repository = TrustRepository(tmp_path / "two-of-two")
    with pytest.raises(RepositoryStateError, match="threshold"):
        repository.init([first], threshold=2)
    repository.init([first, second], threshold=2)
    key = new_signer(keys_dir, "pub").public_key
    with pytest.raises(UnauthorizedAdmin, match="needs 2"):
        repository.add_publisher("acme", key, ["game"], [first])
    repository.add_publisher("acme", key, ["game"], [first, second])


async def test_delegated_game_without_a_release_is_refused(
    repository: TrustRepository, make_client: Callable[..., TrustClient]
) -> None:
    with pytest.raises(UnauthorizedPublisher, match=r"no signed games/space-miner/latest\.json"):
        await asyncio.to_thread(make_client().fetch_release, "space-miner")


async def test_replayed_old_timestamp_is_refused(
    repository: TrustRepository, publisher: Signer, make_client: Callable[..., TrustClient]
) -> None:
    repository.publish_release(make_manifest(release=1), publisher)
    old_timestamp = (repository.path / "metadata/timestamp.json").read_bytes()
    repository.publish_release(make_manifest(release=2), publisher)
    client = make_client()
    assert (await asyncio.to_thread(client.fetch_release, "space-miner")).release == 2

    (repository.path / "metadata/timestamp.json").write_bytes(old_timestamp)

    with pytest.raises(RollbackAttack, match="rollback attack"):
        await asyncio.to_thread(client.fetch_release, "space-miner")
