"""The trust repository's files: versioned metadata, hash-prefixed targets and online keys.

Layout under the repository directory (consistent snapshots, as ngclient fetches them):

    metadata/N.root.json, root.json (copy of the newest), timestamp.json,
             N.snapshot.json, N.targets.json, N.<publisher>.json
    targets/<dir>/<sha256>.<name>
    online-keys/snapshot.pem, online-keys/timestamp.pem   (unencrypted, 0600)

Versioned files are written once and never changed; only ``timestamp.json`` and ``root.json``
are replaced, atomically, and last, so a CDN node serving the directory mid-publish always
serves a consistent view.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tuf.api.serialization.json import JSONSerializer

from signing.errors import RepositoryStateError
from signing.keys import generate_key, load_signer, public_key_path, save_private_key
from signing.tuf_api import Metadata, MetaFile, Root, Signer, Snapshot, Targets, Timestamp

T = TypeVar("T", Root, Timestamp, Snapshot, Targets)

_ROOT_FILE = re.compile(r"(\d+)\.root\.json")
_SERIALIZER = JSONSerializer(compact=True)


def meta_file(version: int, data: bytes) -> MetaFile:
    """Snapshot/timestamp entry for metadata bytes, with length and hash (mix-and-match)."""
    return MetaFile(
        version=version, length=len(data), hashes={"sha256": hashlib.sha256(data).hexdigest()}
    )


class RepositoryStore:
    """Reads and writes one trust repository directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.metadata_dir = path / "metadata"
        self.targets_dir = path / "targets"
        self.online_keys_dir = path / "online-keys"

    def is_initialised(self) -> bool:
        return (self.metadata_dir / "1.root.json").exists()

    def require_initialised(self) -> None:
        if not self.is_initialised():
            raise RepositoryStateError(
                f"trust repository {self.path} is not initialised (run 'admin trust init')"
            )

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise writers (several publish pipelines may share one repository)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def create_layout(self) -> None:
        for directory in (self.metadata_dir, self.targets_dir, self.online_keys_dir):
            directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.online_keys_dir, 0o700)

    def create_online_signers(self) -> None:
        for role in (Snapshot.type, Timestamp.type):
            path = self.online_keys_dir / f"{role}.pem"
            save_private_key(generate_key(), path, passphrase=None)

    def replace_online_key(self, role: str, key: Ed25519PrivateKey) -> None:
        """Put a new online key for ``role`` in place of the old one (which is deleted:
        a revoked key left on the metadata server's disk helps nobody but a thief)."""
        path = self.online_keys_dir / f"{role}.pem"
        staged = path.with_name(f"{role}.pem.new")
        for leftover in (staged, public_key_path(staged)):
            leftover.unlink(missing_ok=True)
        save_private_key(key, staged, passphrase=None)
        os.replace(public_key_path(staged), public_key_path(path))
        os.replace(staged, path)

    def online_signer(self, role: str) -> Signer:
        return load_signer(self.online_keys_dir / f"{role}.pem", passphrase=None)

    def root_version(self) -> int:
        versions = [
            int(match.group(1))
            for name in os.listdir(self.metadata_dir)
            if (match := _ROOT_FILE.fullmatch(name))
        ]
        if not versions:
            raise RepositoryStateError(f"trust repository {self.path} has no root metadata")
        return max(versions)

    def root_bytes(self) -> bytes:
        return (self.metadata_dir / f"{self.root_version()}.root.json").read_bytes()

    def load_root(self) -> Metadata[Root]:
        return self._load(f"{self.root_version()}.root.json", Root)

    def load_timestamp(self) -> Metadata[Timestamp]:
        return self._load("timestamp.json", Timestamp)

    def load_snapshot(self, timestamp: Metadata[Timestamp]) -> Metadata[Snapshot]:
        return self._load(f"{timestamp.signed.snapshot_meta.version}.snapshot.json", Snapshot)

    def load_targets(self, snapshot: Metadata[Snapshot], role: str) -> Metadata[Targets] | None:
        """The current metadata of a targets role, or None if it was never published."""
        entry = snapshot.signed.meta.get(f"{role}.json")
        if entry is None:
            return None
        return self._load(f"{entry.version}.{role}.json", Targets)

    def _load(self, name: str, kind: type[T]) -> Metadata[T]:
        try:
            metadata = Metadata[Any].from_bytes((self.metadata_dir / name).read_bytes())
        except FileNotFoundError:
            raise RepositoryStateError(f"trust repository is missing metadata/{name}") from None
        if not isinstance(metadata.signed, kind):
            raise RepositoryStateError(f"metadata/{name} does not hold {kind.type} metadata")
        return metadata

    def write_metadata(self, role: str, metadata: Metadata[Any]) -> bytes:
        """Write ``N.<role>.json`` (or ``timestamp.json``) and return the bytes written."""
        data = metadata.to_bytes(_SERIALIZER)
        if role == Timestamp.type:
            _replace_file(self.metadata_dir / "timestamp.json", data)
            return data
        _replace_file(self.metadata_dir / f"{metadata.signed.version}.{role}.json", data)
        if role == Root.type:
            _replace_file(self.metadata_dir / "root.json", data)
        return data

    def write_target(self, target_path: str, data: bytes) -> None:
        """Store target bytes under their hash-prefixed name, as ngclient downloads them."""
        folder, _, name = target_path.rpartition("/")
        digest = hashlib.sha256(data).hexdigest()
        destination = self.targets_dir / folder / f"{digest}.{name}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        _replace_file(destination, data)

    def read_target(self, target_path: str, sha256: str) -> bytes:
        folder, _, name = target_path.rpartition("/")
        return (self.targets_dir / folder / f"{sha256}.{name}").read_bytes()


def _replace_file(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
