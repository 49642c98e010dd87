"""Signed-release building blocks shared by the signing and e2e trust tests: a valid
manifest over given file contents, a matching minimal .torrent, a fresh signing key."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from signing import (
    ChunkRef,
    ManifestFile,
    ReleaseManifest,
    TorrentRef,
    generate_key,
    load_signer,
    save_private_key,
)
from signing.torrent_files import bencode
from signing.tuf_api import Signer

EXECUTABLE = "bin/game"


def make_manifest(game_id: str, release: int, files: Mapping[str, bytes]) -> ReleaseManifest:
    """A valid manifest over ``files`` (path → content), one chunk per non-empty file;
    ``bin/game`` is executable."""
    entries = []
    for path, content in files.items():
        digest = hashlib.sha256(content).hexdigest()
        entries.append(
            ManifestFile(
                path=path,
                size=len(content),
                mode=0o755 if path == EXECUTABLE else 0o644,
                sha256=digest,
                chunks=(ChunkRef(sha256=digest, offset=0, size=len(content)),) if content else (),
            )
        )
    return ReleaseManifest(
        game_id=game_id,
        version=f"1.{release}.0",
        release=release,
        created="2026-11-23T05:00:00+00:00",
        total_size=sum(len(content) for content in files.values()),
        files=tuple(entries),
        torrent=TorrentRef(
            name=str(release),
            piece_length=16384,
            info_hash_v1="ab" * 20,
            info_hash_v2="cd" * 32,
            data=torrent_for(release, {path: len(content) for path, content in files.items()}),
        ),
    )


def torrent_for(
    release: int,
    files: Mapping[str, int],
    attrs: Mapping[str, dict[str, object]] | None = None,
    extra: dict[str, object] | None = None,
) -> bytes:
    """A v1 .torrent listing ``files`` (path → size) under the release folder, with extra
    keys per file from ``attrs`` and ``extra`` keys in the info dictionary. Piece hashes are
    irrelevant to these tests."""
    entries = [
        {"length": size, "path": path.split("/"), **(attrs or {}).get(path, {})}
        for path, size in files.items()
    ]
    info = {"name": str(release), "piece length": 16384, "pieces": b"", "files": entries}
    return bencode({"info": {**info, **(extra or {})}})


def new_signer(directory: Path, name: str) -> Signer:
    path = directory / f"{name}.pem"
    save_private_key(generate_key(), path, passphrase=None)
    return load_signer(path, passphrase=None)
