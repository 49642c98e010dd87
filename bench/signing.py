"""Signing and verifying the release manifest of a 100,000-file release, against the floor.

Sign (publish side): ``ReleaseManifest.to_canonical_json`` plus ``TrustRepository.
publish_release`` (hashing, the publisher's signature, snapshot and timestamp, files written).
Verify (agent side): ``TrustClient.fetch_release`` from a fresh cache over loopback HTTP
(root, timestamp, snapshot, targets and publisher metadata; the manifest download, its hash
check, strict parsing and every path-safety check).
Reference, in the same run: the floor any scheme pays for the same bytes — ``json.dumps``
(sorted keys), SHA-256 and one Ed25519 signature; ``json.loads``, SHA-256 and one
verification. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from peerpipe.service import start_app
from signing import (
    ChunkRef,
    ManifestFile,
    ReleaseManifest,
    TorrentRef,
    TrustClient,
    TrustRepository,
    generate_key,
    load_signer,
    save_private_key,
)
from signing.torrent_files import bencode

GAME = "bench-game"
FULL_FILES = 100_000
QUICK_FILES = 10_000


def make_manifest(files: int) -> ReleaseManifest:
    entries = []
    for index in range(files):
        digest = hashlib.sha256(index.to_bytes(8, "big")).hexdigest()
        size = 1024 + index
        entries.append(
            ManifestFile(
                path=f"data/pack{index // 1000:03d}/asset{index:06d}.bin",
                size=size,
                mode=0o644,
                sha256=digest,
                chunks=(ChunkRef(digest, 0, size),),
            )
        )
    return ReleaseManifest(
        game_id=GAME,
        version="1.0.0",
        release=1,
        created="2026-11-23T06:00:00+00:00",
        total_size=sum(entry.size for entry in entries),
        files=tuple(entries),
        # A v1 file list without piece hashes: the agent checks the torrent's files against
        # the manifest, and piece hashes are not what this benchmark measures.
        torrent=TorrentRef("1", 1 << 20, "ab" * 20, "cd" * 32, _torrent(entries)),
    )


def _torrent(entries: list[ManifestFile]) -> bytes:
    files = [{"length": entry.size, "path": entry.path.split("/")} for entry in entries]
    return bencode({"info": {"name": "1", "piece length": 1 << 20, "pieces": b"", "files": files}})


def repository(root: Path) -> tuple[TrustRepository, Path]:
    keys = root / "keys"
    keys.mkdir()
    for name in ("admin", "publisher"):
        save_private_key(generate_key(), keys / f"{name}.pem", passphrase=None)
    admin = load_signer(keys / "admin.pem", None)
    publisher = load_signer(keys / "publisher.pem", None)
    trust = TrustRepository(root / "trust")
    trust.init([admin])
    trust.add_publisher("bench", publisher.public_key, [GAME], [admin])
    return trust, keys / "publisher.pem"


def reference(document: bytes) -> tuple[float, float]:
    key = Ed25519PrivateKey.generate()
    value = json.loads(document)
    began = time.perf_counter()
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).digest()
    signature = key.sign(digest)
    signed = time.perf_counter()
    json.loads(data)
    key.public_key().verify(signature, hashlib.sha256(data).digest())
    return signed - began, time.perf_counter() - signed


async def measure(files: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        manifest = make_manifest(files)
        built = time.perf_counter() - began
        trust, key_path = repository(root)
        signer = load_signer(key_path, None)
        began = time.perf_counter()
        data = manifest.to_canonical_json()
        await asyncio.to_thread(trust.publish_release, manifest, signer)
        sign_seconds = time.perf_counter() - began

        app = web.Application()
        app.router.add_static("/metadata/", trust.path / "metadata")
        app.router.add_static("/targets/", trust.path / "targets")
        cdn = await start_app(app)
        try:
            client = TrustClient(
                f"{cdn.url}/metadata/", f"{cdn.url}/targets/", root / "agent", trust.trusted_root()
            )
            began = time.perf_counter()
            fetched = await asyncio.to_thread(client.fetch_release, GAME)
            verify_seconds = time.perf_counter() - began
        finally:
            await cdn.stop()
        assert fetched == manifest
        reference_sign, reference_verify = reference(data)
    return {
        "build_manifest_seconds": round(built, 3),
        "manifest_bytes": len(data),
        "sign_seconds": round(sign_seconds, 3),
        "verify_seconds": round(verify_seconds, 3),
        "reference_sign_seconds": round(reference_sign, 3),
        "reference_verify_seconds": round(reference_verify, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_FILES:,} files, scaled linearly to 100,000 in the result",
    )
    args = parser.parse_args()
    files = QUICK_FILES if args.quick else FULL_FILES
    figures = asyncio.run(measure(files))
    scale = FULL_FILES / files
    for name, value in figures.items():
        print(f"{name:>26}: {value}", file=sys.stderr)
    result = {
        "quick": args.quick,
        "files_measured": files,
        "scaled_to_100k": scale != 1,
        **figures,
        "sign_seconds_100k_files": round(figures["sign_seconds"] * scale, 3),
        "verify_seconds_100k_files": round(figures["verify_seconds"] * scale, 3),
        "sign_vs_reference": round(
            figures["sign_seconds"] / max(figures["reference_sign_seconds"], 1e-6), 2
        ),
        "verify_vs_reference": round(
            figures["verify_seconds"] / max(figures["reference_verify_seconds"], 1e-6), 2
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
