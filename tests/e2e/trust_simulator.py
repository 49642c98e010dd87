"""A CDN node's view of a trust repository, on loopback, with switchable tampering.

Like python-tuf's ``tests/repository_simulator.py``, but a real aiohttp server: it serves a
``TrustRepository`` directory at ``/metadata/`` and ``/targets/`` as a CDN node does, and a
test switches on what a compromised mirror would do: replace a file, stream endlessly, or
serve metadata forged with stolen keys (the online keys of a compromised metadata server,
a publisher's or a stranger's key). The repository directory itself is never changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from peerpipe.service import RunningApp, start_app
from signing.repository_store import RepositoryStore, meta_file
from signing.tuf_api import Metadata, Signer, Snapshot, TargetFile, Targets, Timestamp

ENDLESS_LIMIT = 64 * 1024 * 1024  # stop streaming at last; the client must give up long before
_CHUNK = b"\x00" * 65536


class RepositorySimulator:
    def __init__(self, trust_dir: Path) -> None:
        self.trust_dir = trust_dir
        self.store = RepositoryStore(trust_dir)
        self.replaced: dict[str, bytes] = {}
        self.endless: set[str] = set()
        self.requests: list[str] = []
        self.endless_bytes_sent = 0
        self._running: RunningApp | None = None

    async def start(self) -> RepositorySimulator:
        app = web.Application()
        app.router.add_get("/{kind:metadata|targets}/{path:.+}", self._serve)
        self._running = await start_app(app)
        return self

    async def stop(self) -> None:
        if self._running is not None:
            await self._running.stop()

    @property
    def url(self) -> str:
        assert self._running is not None, "start() the simulator first"
        return self._running.url

    # --- what the mirror serves ---------------------------------------------------------

    def honest(self) -> None:
        """Serve the repository directory as it is."""
        self.replaced.clear()
        self.endless.clear()

    def replace(self, path: str, data: bytes) -> None:
        """Serve ``data`` at ``path`` (e.g. ``metadata/timestamp.json``)."""
        self.replaced[path] = data

    def stream_endlessly(self, path: str) -> None:
        self.endless.add(path)

    def current(self, path: str) -> bytes:
        """What the mirror serves at ``path`` now (tampering included)."""
        if path in self.replaced:
            return self.replaced[path]
        return (self.trust_dir / path).read_bytes()

    def target_path(self, target: str, data: bytes) -> str:
        """The URL path a consistent-snapshot client fetches ``target`` with ``data`` at."""
        folder, _, name = target.rpartition("/")
        return f"targets/{folder}/{hashlib.sha256(data).hexdigest()}.{name}"

    # --- forging with stolen keys -------------------------------------------------------

    def timestamp(self) -> Metadata[Timestamp]:
        return _parse(self.current("metadata/timestamp.json"), Timestamp)

    def snapshot(self) -> Metadata[Snapshot]:
        version = self.timestamp().signed.snapshot_meta.version
        return _parse(self.current(f"metadata/{version}.snapshot.json"), Snapshot)

    def role(self, name: str) -> Metadata[Targets]:
        version = self.snapshot().signed.meta[f"{name}.json"].version
        return _parse(self.current(f"metadata/{version}.{name}.json"), Targets)

    def forge_snapshot(
        self,
        change: Callable[[Snapshot], None] = lambda snapshot: None,
        *,
        snapshot_signer: Signer | None = None,
        timestamp_signer: Signer | None = None,
    ) -> None:
        """Serve a new snapshot and timestamp, changed by ``change`` and signed with the
        online keys (stolen from the metadata server) unless other signers are given."""
        timestamp = self.timestamp()
        snapshot = self.snapshot()
        snapshot.signed.version += 1
        change(snapshot.signed)
        _sign(snapshot, snapshot_signer or self.store.online_signer(Snapshot.type))
        snapshot_bytes = snapshot.to_bytes()
        self.replace(f"metadata/{snapshot.signed.version}.snapshot.json", snapshot_bytes)
        timestamp.signed.version += 1
        timestamp.signed.snapshot_meta = meta_file(snapshot.signed.version, snapshot_bytes)
        _sign(timestamp, timestamp_signer or self.store.online_signer(Timestamp.type))
        self.replace("metadata/timestamp.json", timestamp.to_bytes())

    def forge_role(
        self, name: str, signer: Signer, targets: dict[str, bytes] | None = None
    ) -> None:
        """Serve a new version of targets role ``name`` signed by ``signer``, listing
        ``targets`` (whose bytes are served too), with a snapshot and timestamp for it."""
        if f"{name}.json" in self.snapshot().signed.meta:
            role = self.role(name)
            role.signed.version += 1
        else:
            role = Metadata(Targets(expires=self.timestamp().signed.expires))
        for path, data in (targets or {}).items():
            role.signed.targets[path] = TargetFile.from_data(path, data, ["sha256"])
            self.replace(self.target_path(path, data), data)
        _sign(role, signer)
        data = role.to_bytes()
        self.replace(f"metadata/{role.signed.version}.{name}.json", data)
        version = role.signed.version

        def list_role(snapshot: Snapshot) -> None:
            snapshot.meta[f"{name}.json"] = meta_file(version, data)

        self.forge_snapshot(list_role)

    # --- HTTP ---------------------------------------------------------------------------

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = f"{request.match_info['kind']}/{request.match_info['path']}"
        self.requests.append(path)
        if path in self.endless:
            return await self._stream(request)
        if path in self.replaced:
            return web.Response(body=self.replaced[path])
        file = (self.trust_dir / path).resolve()
        if not file.is_relative_to(self.trust_dir.resolve()) or not file.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=file.read_bytes())

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        sent = 0
        try:
            while sent < ENDLESS_LIMIT:
                await response.write(_CHUNK)
                sent += len(_CHUNK)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: what a client defending itself does
        self.endless_bytes_sent += sent
        return response


def _parse(data: bytes, kind: type[Any]) -> Metadata[Any]:
    metadata = Metadata[Any].from_bytes(data)
    assert isinstance(metadata.signed, kind)
    return metadata


def _sign(metadata: Metadata[Any], signer: Signer) -> None:
    metadata.signatures.clear()
    metadata.sign(signer)
