"""The torrent a manifest carries must list exactly the manifest's regular files."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from release_factory import torrent_for
from signing_support import make_manifest

from signing import ChunkRef, ManifestError, ManifestFile, ReleaseManifest, TorrentRef, UnsafePath
from signing.torrent_files import bdecode, bencode, check_torrent_files

FILES = {"bin/game": 1200, "data/empty.pak": 0}


def with_torrent(data: bytes) -> ReleaseManifest:
    manifest = make_manifest()
    return dataclasses.replace(manifest, torrent=dataclasses.replace(manifest.torrent, data=data))


def test_a_torrent_listing_the_manifest_files_passes() -> None:
    check_torrent_files(make_manifest())


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (
            torrent_for(
                1,
                FILES | {"bin/link": 0},
                {"bin/link": {"attr": "l", "symlink path": ["..", "..", ".bashrc"]}},
            ),
            UnsafePath,
            "symlink",
        ),
        (
            torrent_for(1, FILES, {"bin/game": {"attr": "l"}}),
            UnsafePath,
            "'bin/game': the torrent makes it a symlink",
        ),
        (
            torrent_for(1, FILES).replace(b"6:lengthi0e", b"6:lengthi0e6:lengthi9e"),
            ManifestError,
            "not a valid bencoded",
        ),
        (torrent_for(1, FILES | {"extra.dll": 4}), ManifestError, "extra ['extra.dll']"),
        (torrent_for(1, {"bin/game": 1201, "data/empty.pak": 0}), ManifestError, "sizes"),
        (torrent_for(1, {"bin/game": 1200}), ManifestError, "missing ['data/empty.pak']"),
        (torrent_for(2, FILES), ManifestError, "torrent name"),
        (b"d4:infod4:name1:1ee", ManifestError, "neither a v1 file list"),
        (b"d4:infoi1ee", ManifestError, "info dictionary"),
        (b"d4:info", ManifestError, "not a valid bencoded"),
        (torrent_for(1, FILES) + b"x", ManifestError, "info dictionary"),
        (
            torrent_for(1, {}, extra={"file tree": {"bin": {"game": {"": {"length": 1200}}}}}),
            ManifestError,
            "v1 file list does not match",
        ),
        (
            torrent_for(
                1,
                FILES,
                extra={"file tree": {"bin": {"game": {"": {"length": 1200, "attr": "l"}}}}},
            ),
            UnsafePath,
            "symlink",
        ),
    ],
)
def test_torrents_that_differ_or_hold_links_are_refused(
    data: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_torrent_files(with_torrent(data))


def test_pad_files_are_skipped_only_under_the_pad_folder() -> None:
    padded = torrent_for(1, FILES | {".pad/16384": 16384}, {".pad/16384": {"attr": "p"}})
    check_torrent_files(with_torrent(padded))
    sneaky = torrent_for(1, FILES | {"bin/pad": 5}, {"bin/pad": {"attr": "p"}})
    with pytest.raises(UnsafePath, match="pad file"):
        check_torrent_files(with_torrent(sneaky))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the file_storage API peers use
def test_a_hybrid_torrent_made_by_libtorrent_matches_its_manifest(tmp_path: Path) -> None:
    release_dir = tmp_path / "1"
    contents = {"bin/game": os.urandom(70_000), "data/empty.pak": b"", "readme.txt": b"hi"}
    for path, data in contents.items():
        (release_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (release_dir / path).write_bytes(data)
    storage = lt.file_storage()
    lt.add_files(storage, str(release_dir))
    creator = lt.create_torrent(storage, 16384)
    lt.set_piece_hashes(creator, str(tmp_path))
    data = lt.bencode(creator.generate())
    files = tuple(
        ManifestFile(path, len(body), 0o644, digest, chunks)
        for path, body in sorted(contents.items())
        for digest in [hashlib.sha256(body).hexdigest()]
        for chunks in [(ChunkRef(digest, 0, len(body)),) if body else ()]
    )
    manifest = dataclasses.replace(
        make_manifest(),
        files=files,
        total_size=sum(len(body) for body in contents.values()),
        torrent=TorrentRef("1", 16384, "ab" * 20, "cd" * 32, data),
    )

    info = bdecode(data)[0][b"info"]
    assert b"file tree" in info and b"files" in info  # both listings are checked
    check_torrent_files(manifest)


bencodable = st.recursive(
    st.integers() | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.binary(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(bencodable)
def test_bencode_round_trips(value: Any) -> None:
    data = bencode(value)
    assert bdecode(data) == (value, len(data))


@given(st.binary(max_size=200))
def test_arbitrary_torrent_bytes_raise_only_manifest_errors(data: bytes) -> None:
    with pytest.raises(ManifestError):
        check_torrent_files(with_torrent(b"d" + data))
