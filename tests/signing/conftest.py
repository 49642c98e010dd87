"""Fixtures for the trust package: keys, an initialised repository, a sample manifest, and
the repository directory served over HTTP on loopback the way a CDN node serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from release_factory import new_signer
from signing_support import serve_repository

from peerpipe.service import RunningApp
from signing import TrustClient, TrustRepository, load_public_key, public_key_path
from signing.tuf_api import Signer


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    path.mkdir()
    return path


@pytest.fixture
def admin(keys_dir: Path) -> Signer:
    return new_signer(keys_dir, "admin")


@pytest.fixture
def publisher(keys_dir: Path) -> Signer:
    return new_signer(keys_dir, "publisher")


@pytest.fixture
def repository(tmp_path: Path, admin: Signer, publisher: Signer, keys_dir: Path) -> TrustRepository:
    """Initialised, with publisher 'acme' delegated 'space-miner'."""
    repository = TrustRepository(tmp_path / "trust")
    repository.init([admin])
    key = load_public_key(public_key_path(keys_dir / "publisher.pem"))
    repository.add_publisher("acme", key, ["space-miner"], [admin])
    return repository


@pytest.fixture
async def cdn(repository: TrustRepository) -> AsyncIterator[RunningApp]:
    """The repository's metadata/ and targets/ served as a CDN node serves them."""
    running = await serve_repository(repository.path)
    yield running
    await running.stop()


@pytest.fixture
def make_client(
    tmp_path: Path, cdn: RunningApp, repository: TrustRepository
) -> Callable[..., TrustClient]:
    """Build agents' trust clients pinned to the repository's current root."""
    root = repository.trusted_root()
    count = 0

    def make(cache_name: str | None = None) -> TrustClient:
        nonlocal count
        count += 1
        return TrustClient(
            metadata_url=f"{cdn.url}/metadata/",
            targets_url=f"{cdn.url}/targets/",
            cache_dir=tmp_path / (cache_name or f"agent-{count}"),
            trusted_root=root,
            timeout=5,
        )

    return make
