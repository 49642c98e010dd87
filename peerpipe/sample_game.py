"""A deterministic sample game build: the same seed always gives the same bytes."""

from __future__ import annotations

import random
from pathlib import Path

BLOCK = 1024 * 1024


def generate_sample_game(build_dir: Path, total_bytes: int, seed: int = 7) -> list[Path]:
    """Write a build of several files adding up to ``total_bytes`` under ``build_dir``.

    The layout mimics a real game: one large pack file, a few medium ones, small configs.
    """
    shares = [
        ("data/pack0.pak", 0.55),
        ("data/pack1.pak", 0.25),
        ("data/audio/music.bank", 0.12),
        ("bin/game.bin", 0.075),
    ]
    sizes = [int(total_bytes * share) for _, share in shares]
    written: list[Path] = []
    rng = random.Random(seed)
    for (relative, _), size in zip(shares, sizes, strict=True):
        written.append(_write_random_file(build_dir / relative, size, rng))
    remainder = total_bytes - sum(sizes)
    config = b"[graphics]\nquality=high\nvsync=1\n"
    readme = b"Starfall sample build. Deterministic content for PeerPipe demos.\n"
    small = {"config/default.ini": config, "README.txt": readme}
    for relative, content in small.items():
        path = build_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    if remainder > 0:
        written.append(_write_random_file(build_dir / "data/tail.dat", remainder, rng))
    return written


def _write_random_file(path: Path, size: int, rng: random.Random) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        remaining = size
        while remaining > 0:
            block = min(BLOCK, remaining)
            handle.write(rng.randbytes(block))
            remaining -= block
    return path
