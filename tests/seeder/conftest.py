"""Fixtures: a trust repository with one publisher, a configuration under tmp_path, builds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from seeder_helpers import GAME, PASSPHRASE, BuildMaker, create_bucket

from peerpipe.config import Config
from seeder.origin_settings import SeederOriginSettings
from signing import TrustRepository, generate_key, load_public_key, load_signer, save_private_key
from signing.keys import public_key_path


@pytest.fixture
def config(tmp_path: Path) -> Config:
    base = Config().with_data_dir(tmp_path / "data")
    return replace(
        base,
        platform_key="test-platform-key-" + "x" * 32,
        agent=replace(base.agent, cdn_urls=("http://127.0.0.1:1",)),
    )


@pytest.fixture
def publisher_key(tmp_path: Path, config: Config) -> Path:
    """A trust repository initialised with one admin key, publisher "acme" owning GAME."""
    keys = tmp_path / "keys"
    keys.mkdir()
    admin_path, publisher_path = keys / "admin.key", keys / "acme.key"
    save_private_key(generate_key(), admin_path, None)
    save_private_key(generate_key(), publisher_path, PASSPHRASE)
    admin = load_signer(admin_path, None)
    repository = TrustRepository(config.trust_dir)
    repository.init([admin])
    repository.add_publisher(
        "acme", load_public_key(public_key_path(publisher_path)), [GAME], [admin]
    )
    return publisher_path


@pytest.fixture
def make_build(tmp_path: Path) -> BuildMaker:
    counter = iter(range(1000))

    def make(files: dict[str, bytes]) -> Path:
        root = tmp_path / f"build-{next(counter)}"
        root.mkdir()
        for name, data in files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return root

    return make


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """An S3-protocol server (moto's server mode) on loopback, shared by the session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(moto_endpoint: str) -> SeederOriginSettings:
    """A fresh bucket on the moto server; the origin lives under a key prefix inside it."""
    settings = SeederOriginSettings(
        s3_url=moto_endpoint,
        bucket=f"origin-{uuid.uuid4().hex[:12]}",
        access_key="test-access",
        secret_key="test-secret",
        prefix="origin/",
    )
    # A plain fixture (not async) so that async fixtures can ask for it by name; the bucket
    # is created from a thread of its own, outside any running event loop.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, create_bucket(settings)).result()
    return settings
