"""Publish and serving throughput of the seeder against sha256sum and nginx, in the same run.

Publish: ``publish_release`` (scan, chunking, hashing, torrent, durable copy of the files and
their chunks into a local origin, signature) of a build of incompressible files, against
``sha256sum`` of the same files; ``prepare_*`` is chunking + hashing + torrent alone (the
pipeline's CPU part, without the origin writes).
Serve: ``aria2c -x8`` downloading the release files from our CDN node, against nginx serving
the very same files from the same directory.
Both sides read from the page cache (the files are read once before timing). The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peerpipe.config import Config
from peerpipe.service import free_port, start_app
from seeder import chunk_file, create_app, create_release_torrent, publish_release, scan_build
from signing import (
    TrustRepository,
    generate_key,
    load_public_key,
    load_signer,
    public_key_path,
    save_private_key,
)

MIB = 1024 * 1024
GAME = "bench-game"
ARIA2C = "/usr/bin/aria2c"
NGINX = "/usr/sbin/nginx"


@dataclass(frozen=True)
class Sizes:
    file_mib: tuple[int, ...]
    rounds: int

    @property
    def total_bytes(self) -> int:
        return sum(self.file_mib) * MIB


QUICK = Sizes(file_mib=(96, 64, 32, 8, 1), rounds=3)
FULL = Sizes(file_mib=(512, 256, 128, 64, 32, 8, 1), rounds=3)


def make_build(root: Path, sizes: Sizes) -> list[Path]:
    paths = []
    for index, mib in enumerate(sizes.file_mib):
        path = root / "data" / f"pack{index}.pak"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            for _ in range(mib):
                handle.write(os.urandom(MIB))
        paths.append(path)
    return paths


def warm(paths: list[Path]) -> None:
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(8 * MIB):
                pass


def time_sha256sum(paths: list[Path]) -> float:
    started = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, paths)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def time_disk_write(paths: list[Path], workdir: Path) -> float:
    """Writing the build's bytes once, durably: what the disk allows a publish at best."""
    target = workdir / "disk-write.bin"
    started = time.perf_counter()
    with target.open("wb") as writer:
        for path in paths:
            with path.open("rb") as reader:
                while block := reader.read(8 * MIB):
                    writer.write(block)
        writer.flush()
        os.fsync(writer.fileno())
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


def time_prepare(build: Path) -> float:
    """Chunking + hashing + torrent alone, overlapped as the publish pipeline overlaps them."""
    files = scan_build(build)
    started = time.perf_counter()
    with ThreadPoolExecutor(1) as hasher:
        torrent = hasher.submit(create_release_torrent, files, GAME, 1, [], "http://t")
        for entry in files:
            chunk_file(entry.source)
        torrent.result()
    return time.perf_counter() - started


def trust_setup(workdir: Path) -> tuple[Config, Path]:
    config = Config().with_data_dir(workdir / "data")
    keys = workdir / "keys"
    keys.mkdir(parents=True)
    admin_path, publisher_path = keys / "admin.key", keys / "bench.key"
    save_private_key(generate_key(), admin_path, None)
    save_private_key(generate_key(), publisher_path, None)
    admin = load_signer(admin_path, None)
    repository = TrustRepository(config.trust_dir)
    repository.init([admin])
    repository.add_publisher(
        "bench", load_public_key(public_key_path(publisher_path)), [GAME], [admin]
    )
    return config, publisher_path


def time_publish(build: Path, workdir: Path) -> tuple[float, Config]:
    config, key = trust_setup(workdir)
    started = time.perf_counter()
    publish_release(build, GAME, "1.0", key, None, config, register=False)
    return time.perf_counter() - started, config


NGINX_CONF = """\
daemon off;
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        location /files/ {{ alias {origin}/files/; }}
    }}
}}
"""


async def start_nginx(origin: Path, workdir: Path) -> tuple[asyncio.subprocess.Process, str]:
    tmp = workdir / "nginx"
    tmp.mkdir()
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, origin=origin))
    process = await asyncio.create_subprocess_exec(
        NGINX, "-e", str(tmp / "error.log"), "-p", str(tmp), "-c", str(conf)
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return process, url
        except OSError:
            if time.monotonic() > deadline or process.returncode is not None:
                raise RuntimeError("nginx did not start") from None
            await asyncio.sleep(0.05)


async def time_aria2c(base_url: str, names: list[str], target: Path) -> float:
    _fresh_folder(target)
    listing = target / "urls.txt"
    listing.write_bytes("".join(f"{base_url}/{name}\n" for name in names).encode())
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        ARIA2C,
        *("-x8", "-s8", "-k1M", "-j1", "-q", "--file-allocation=none"),
        *("--allow-overwrite=true", "--auto-file-renaming=false"),
        *("-d", str(target), "-i", str(listing)),
    )
    if await process.wait() != 0:
        raise RuntimeError(f"aria2c failed downloading from {base_url}")
    return time.perf_counter() - started


def _fresh_folder(target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)


async def time_serving(config: Config, sizes: Sizes, workdir: Path) -> tuple[float, float]:
    release_dir = config.seeder.origin_dir / "files" / GAME / "1"
    names = sorted(str(path.relative_to(release_dir)) for path in release_dir.rglob("*.pak"))
    warm([release_dir / name for name in names])
    downloads = Path(tempfile.mkdtemp(prefix="peerpipe-bench-", dir=_scratch()))
    node = await start_app(create_app(config, seed=False))
    nginx, nginx_url = await start_nginx(config.seeder.origin_dir, workdir)
    try:
        ours = theirs = float("inf")
        for _ in range(sizes.rounds):
            ours = min(ours, await time_aria2c(f"{node.url}/files/{GAME}/1", names, downloads))
            theirs = min(theirs, await time_aria2c(f"{nginx_url}/files/{GAME}/1", names, downloads))
    finally:
        await node.stop()
        nginx.terminate()
        await nginx.wait()
        shutil.rmtree(downloads, ignore_errors=True)
    return ours, theirs


def _scratch() -> str | None:
    # Downloads land in memory when possible, so the disk does not decide the figures.
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


def mb_s(total_bytes: int, seconds: float) -> float:
    return round(total_bytes / seconds / 1e6, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small build, under a minute")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="peerpipe-bench-") as temp:
        workdir = Path(temp)
        workdir.chmod(0o755)  # nginx workers run as another user when started by root
        build = workdir / "build"
        paths = make_build(build, sizes)
        warm(paths)
        # Rounds alternate between the contenders, so a busy moment of the machine does not
        # land on one of them only; each keeps its best round.
        sha_seconds = prepare_seconds = publish_seconds = disk_seconds = float("inf")
        for round_number in range(sizes.rounds):
            disk_seconds = min(disk_seconds, time_disk_write(paths, workdir))
            sha_seconds = min(sha_seconds, time_sha256sum(paths))
            prepare_seconds = min(prepare_seconds, time_prepare(build))
            seconds, config = time_publish(build, workdir / f"publish-{round_number}")
            publish_seconds = min(publish_seconds, seconds)
        config = replace(config, seeder=replace(config.seeder, http_rate_limit=0))
        serve_seconds, nginx_seconds = asyncio.run(time_serving(config, sizes, workdir))
    total = sizes.total_bytes
    result = {
        "bench": "seeder",
        "quick": args.quick,
        "total_mb": round(total / 1e6, 1),
        "files": len(sizes.file_mib),
        "publish_mb_s": mb_s(total, publish_seconds),
        "sha256sum_mb_s": mb_s(total, sha_seconds),
        "publish_ratio": round(sha_seconds / publish_seconds, 3),
        "prepare_mb_s": mb_s(total, prepare_seconds),
        # A local-origin publish writes every byte twice (release files + chunk store),
        # durably: half the disk's write speed bounds it.
        "disk_write_mb_s": mb_s(total, disk_seconds),
        "prepare_ratio": round(sha_seconds / prepare_seconds, 3),
        "serve_mb_s": mb_s(total, serve_seconds),
        "nginx_mb_s": mb_s(total, nginx_seconds),
        "serve_ratio": round(nginx_seconds / serve_seconds, 3),
        "goals": {"publish_ratio": 0.5, "serve_ratio": 0.7},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
