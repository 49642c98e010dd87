"""A trust repository with admins and publishers, served by a ``RepositorySimulator``, and the
agents' ``TrustClient``s pinned to its first root (a plain module: fixtures live in tests)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import release_factory
from release_factory import new_signer
from trust_simulator import RepositorySimulator

from signing import ReleaseManifest, TrustClient, TrustRepository
from signing.tuf_api import Signer

GAME = "space-miner"
OTHER_GAME = "moon-base"


def make_manifest(game_id: str = GAME, release: int = 1, content: bytes = b"") -> ReleaseManifest:
    content = content or f"{game_id} release {release}\n".encode() * 50
    return release_factory.make_manifest(game_id, release, {"bin/game": content})


@dataclass
class TrustWorld:
    """Admin ``admin``; publisher ``acme`` (key ``publisher``) owns GAME and OTHER_GAME;
    publisher ``rival`` owns ``rival-game``; ``stranger`` is nobody."""

    root: Path
    repository: TrustRepository
    keys_dir: Path
    admin: Signer
    publisher: Signer
    rival: Signer
    stranger: Signer
    pinned_root: bytes
    simulator: RepositorySimulator
    clients: int = field(default=0)

    def client(self, cache_name: str | None = None, root: bytes | None = None) -> TrustClient:
        """An agent's trust client; the same ``cache_name`` is the same agent across runs."""
        self.clients += 1
        return TrustClient(
            metadata_url=f"{self.simulator.url}/metadata/",
            targets_url=f"{self.simulator.url}/targets/",
            cache_dir=self.root / "agents" / (cache_name or f"agent-{self.clients}"),
            trusted_root=root or self.pinned_root,
            timeout=5,
        )

    async def fetch(
        self, client: TrustClient, game_id: str = GAME, release: int | None = None
    ) -> ReleaseManifest:
        return await asyncio.to_thread(client.fetch_release, game_id, release)


async def trust_world(root: Path) -> TrustWorld:
    keys_dir = root / "keys"
    keys_dir.mkdir(parents=True)
    admin, publisher = new_signer(keys_dir, "admin"), new_signer(keys_dir, "acme")
    rival, stranger = new_signer(keys_dir, "rival"), new_signer(keys_dir, "stranger")
    repository = TrustRepository(root / "trust")
    repository.init([admin])
    repository.add_publisher("acme", publisher.public_key, [GAME, OTHER_GAME], [admin])
    repository.add_publisher("rival", rival.public_key, ["rival-game"], [admin])
    simulator = await RepositorySimulator(repository.path).start()
    return TrustWorld(
        root=root,
        repository=repository,
        keys_dir=keys_dir,
        admin=admin,
        publisher=publisher,
        rival=rival,
        stranger=stranger,
        pinned_root=repository.trusted_root(),
        simulator=simulator,
    )
