"""The generated game and patches of ``bench/delta.py``: pack files made of incompressible
"assets" plus small files, and patches that record the bytes a perfect delta would need
(``Patch.changed``: inserted and rewritten bytes, new files; renames, moves and deletions
cost nothing)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Shape:
    packs: int
    pack_mib: int
    small_files: int
    new_pack_mib: int


QUICK = Shape(packs=3, pack_mib=48, small_files=30, new_pack_mib=12)
FULL = Shape(packs=6, pack_mib=160, small_files=120, new_pack_mib=48)


@dataclass
class Game:
    """Pack files as lists of assets (so a patch edits at asset boundaries) and flat files."""

    packs: dict[str, list[bytes]]
    flat: dict[str, bytes]

    def files(self) -> dict[str, bytes]:
        joined = {path: b"".join(assets) for path, assets in self.packs.items()}
        return dict(sorted({**joined, **self.flat}.items()))

    def copy(self) -> Game:
        return Game({p: list(a) for p, a in self.packs.items()}, dict(self.flat))


@dataclass
class Patch:
    game: Game
    changed: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, changed: int = 0) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.changed += changed


def asset_size(rng: random.Random) -> int:
    # Compressed game assets: median ~128 KiB, a long tail of multi-MiB textures and audio.
    return int(min(8 * MIB, max(4 * KIB, rng.lognormvariate(11.8, 1.2))))


def make_game(shape: Shape, rng: random.Random) -> Game:
    packs = {}
    for index in range(shape.packs):
        assets, size = [], 0
        while size < shape.pack_mib * MIB:
            assets.append(rng.randbytes(asset_size(rng)))
            size += len(assets[-1])
        packs[f"data/pack{index}.pak"] = assets
    flat = {
        f"config/file{index:03d}.dat": rng.randbytes(rng.randint(1 * KIB, 200 * KIB))
        for index in range(shape.small_files)
    }
    flat["bin/game"] = rng.randbytes(8 * MIB)
    return Game(packs, flat)


def small_edits(patch: Patch, rng: random.Random, per_pack: int) -> None:
    """Bytes rewritten in place inside pack assets (a tweaked header, a fixed table)."""
    for assets in patch.game.packs.values():
        for _ in range(per_pack):
            index = rng.randrange(len(assets))
            asset = assets[index]
            size = min(len(asset), rng.randint(64, 4 * KIB))
            at = rng.randrange(len(asset) - size + 1)
            assets[index] = asset[:at] + rng.randbytes(size) + asset[at + size :]
            patch.count("small_edit", size)


def asset_changes(patch: Patch, rng: random.Random, per_pack: int) -> None:
    """Assets replaced (new size: the rest of the pack shifts), inserted and deleted."""
    for assets in patch.game.packs.values():
        for _ in range(per_pack):
            assets[rng.randrange(len(assets))] = fresh = rng.randbytes(asset_size(rng))
            patch.count("asset_replaced", len(fresh))
            assets.insert(rng.randrange(len(assets) + 1), fresh := rng.randbytes(asset_size(rng)))
            patch.count("asset_inserted", len(fresh))
        del assets[rng.randrange(len(assets))]
        patch.count("asset_deleted")


def file_changes(patch: Patch, rng: random.Random, shape: Shape) -> None:
    """A renamed pack, a new pack and new small files, removed small files."""
    game = patch.game
    game.packs["data/renamed/pack0-hd.pak"] = game.packs.pop("data/pack0.pak")
    patch.count("file_renamed")
    game.flat["data/dlc1.pak"] = rng.randbytes(shape.new_pack_mib * MIB)
    patch.count("file_added", shape.new_pack_mib * MIB)
    for index in range(3):
        game.flat[f"config/new{index}.dat"] = data = rng.randbytes(rng.randint(KIB, 100 * KIB))
        patch.count("file_added", len(data))
    for path in sorted(game.flat)[:3]:
        del game.flat[path]
        patch.count("file_removed")


def make_patch(game: Game, shape: Shape, seed: int, kinds: set[str]) -> Patch:
    rng = random.Random(seed)
    patch = Patch(game.copy())
    if "assets" in kinds:
        asset_changes(patch, rng, per_pack=2)
    if "small" in kinds:
        small_edits(patch, rng, per_pack=3)
    if "files" in kinds:
        file_changes(patch, rng, shape)
    return patch
