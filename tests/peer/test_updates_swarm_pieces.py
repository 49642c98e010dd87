"""Which BitTorrent pieces an update asks peers for: the release's own torrent (as the publish
pipeline makes it, files piece-aligned), ranges mapped to pieces, small edits left to the CDN."""

from __future__ import annotations

import os
from pathlib import Path

from peer.updates import PieceMap
from seeder.build import scan_build
from seeder.torrent import create_release_torrent

KIB = 1024
PIECE = 256 * KIB  # the smallest piece the platform uses


def release_torrent(root: Path) -> PieceMap:
    files = {"data/a.pak": 600 * KIB, "data/b.pak": 300 * KIB}
    for path, size in files.items():
        (root / "1" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "1" / path).write_bytes(os.urandom(size))
    torrent = create_release_torrent(scan_build(root / "1"), "space-miner", 1, [], "")
    assert torrent.piece_length == PIECE
    return PieceMap(torrent.data)


def test_ranges_map_to_the_pieces_of_their_file(tmp_path: Path) -> None:
    pieces = release_torrent(tmp_path)

    assert pieces.pieces("data/a.pak", 0, 1) == range(0, 1)
    assert pieces.pieces("data/a.pak", PIECE - 1, 2) == range(0, 2)
    assert pieces.pieces("data/a.pak", 0, 600 * KIB) == range(0, 3)
    assert pieces.pieces("data/b.pak", 0, 10) == range(3, 4)  # each file starts a piece
    assert pieces.pieces("data/missing.pak", 0, 10) == range(0)
    assert pieces.overlaps("data/a.pak", PIECE - 10, 30) == [(0, 10), (1, 20)]
    assert pieces.payload(2) == 600 * KIB - 2 * PIECE  # the rest is padding, never sent
    assert pieces.payload(3) == 256 * KIB


def test_only_pieces_mostly_needed_are_worth_asking_peers_for(tmp_path: Path) -> None:
    pieces = release_torrent(tmp_path)
    small_edit = ("data/a.pak", 1000, 4 * KIB)
    rewritten = ("data/a.pak", PIECE, 200 * KIB)
    tail = ("data/a.pak", 2 * PIECE, 60 * KIB)  # most of the last, short piece of the file

    assert pieces.worth_fetching([small_edit, rewritten, tail], 0.5) == {1, 2}
    assert pieces.worth_fetching([small_edit], 0.0) == {0}
    # ranges add up: many small edits in one piece make it worth a piece
    edits = [("data/b.pak", at * 16 * KIB, 10 * KIB) for at in range(16)]
    assert pieces.worth_fetching(edits, 0.5) == {3}
