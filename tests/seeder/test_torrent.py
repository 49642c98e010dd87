"""The release torrent: private, hybrid v1+v2, deterministic, with the CDN as BEP 19 web seed."""

from __future__ import annotations

import os

import libtorrent as lt
import pytest
from seeder_helpers import BuildMaker, random_bytes

from seeder import create_release_torrent, piece_length_for, scan_build, web_seed_urls

KIB, MIB, GIB = 1024, 1024 * 1024, 1024 * 1024 * 1024


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (1, 256 * KIB),
        (100 * MIB, 256 * KIB),
        (1 * GIB, 1 * MIB),
        (4 * GIB, 4 * MIB),
        (50 * GIB, 4 * MIB),
    ],
)
def test_piece_length_aims_at_a_few_thousand_pieces(total: int, expected: int) -> None:
    assert piece_length_for(total) == expected


def test_web_seed_urls_end_with_a_slash() -> None:
    assert web_seed_urls(["http://cdn-a:8702/", "http://cdn-b"], "g") == [
        "http://cdn-a:8702/files/g/",
        "http://cdn-b/files/g/",
    ]


def test_same_build_gives_the_same_private_hybrid_torrent(make_build: BuildMaker) -> None:
    root = make_build(
        {"bin/game": random_bytes(300_000, 1), "data/level1.pak": random_bytes(700_000, 2)}
    )
    os.chmod(root / "bin/game", 0o755)
    files = scan_build(root)
    cdns = ["http://127.0.0.1:8702", "http://cdn2.example"]
    first = create_release_torrent(files, "space-miner", 3, cdns, "http://tracker:8701")
    second = create_release_torrent(files, "space-miner", 3, cdns, "http://tracker:8701")
    assert first == second
    info = lt.torrent_info(first.data)
    assert info.priv()
    assert info.name() == "3" and first.name == "3"
    assert str(info.info_hashes().v1) == first.info_hash_v1
    assert str(info.info_hashes().v2) == first.info_hash_v2
    assert len(first.info_hash_v1) == 40 and len(first.info_hash_v2) == 64
    assert first.piece_length == info.piece_length() == 256 * KIB
    decoded = lt.bdecode(first.data)
    assert decoded[b"url-list"] == [
        b"http://127.0.0.1:8702/files/space-miner/",
        b"http://cdn2.example/files/space-miner/",
    ]
    assert decoded[b"announce"] == b"http://tracker:8701/announce"
    real = [
        b"/".join(entry[b"path"])
        for entry in decoded[b"info"][b"files"]
        if entry.get(b"attr") != b"p"  # pad files
    ]
    assert real == [b"bin/game", b"data/level1.pak"]
    assert decoded[b"info"][b"name"] == b"3"
    assert b"creation date" not in decoded


def test_another_release_number_is_another_swarm(make_build: BuildMaker) -> None:
    files = scan_build(make_build({"a": b"same bytes"}))
    one = create_release_torrent(files, "g", 1, [], "http://t")
    two = create_release_torrent(files, "g", 2, [], "http://t")
    assert one.info_hash_v2 != two.info_hash_v2
