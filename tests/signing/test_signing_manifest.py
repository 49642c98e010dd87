"""Release manifests: canonical form, round trips and strict parsing."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import replace
from datetime import UTC
from typing import Any

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st
from signing_support import make_manifest

from signing import (
    ChunkRef,
    ManifestError,
    ManifestFile,
    PartRef,
    ReleaseManifest,
    SealedRef,
    TorrentRef,
    UnsafePath,
    manifest_target_path,
)
from signing.sealing import OVERHEAD as SEAL_OVERHEAD

hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
segment = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\:"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
printable = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Z"))
game_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)


@st.composite
def chunk_parts(draw: st.DrawFn, size: int) -> tuple[PartRef, ...]:
    """No parts, or parts that sit end to end over the whole chunk."""
    if draw(st.booleans()):
        return ()
    cuts = sorted(set(draw(st.lists(st.integers(1, size - 1), max_size=4)))) if size > 1 else []
    bounds = [0, *cuts, size]
    return tuple(PartRef(draw(hex64), b - a) for a, b in itertools.pairwise(bounds))


@st.composite
def manifest_files(draw: st.DrawFn) -> ManifestFile:
    sizes = draw(st.lists(st.integers(1, 1 << 40), max_size=4))
    offset, chunks = 0, []
    for size in sizes:
        sealed = SealedRef(draw(hex64), size + SEAL_OVERHEAD) if draw(st.booleans()) else None
        chunks.append(ChunkRef(draw(hex64), offset, size, draw(chunk_parts(size)), sealed))
        offset += size
    path = "/".join(draw(st.lists(segment, min_size=1, max_size=3)))
    mode = draw(st.integers(0, 0o777)) | draw(st.sampled_from([0, 0o100000]))
    return ManifestFile(path, offset, mode, draw(hex64), tuple(chunks))


def _unsealed(file: ManifestFile) -> ManifestFile:
    return replace(file, chunks=tuple(replace(chunk, sealed=None) for chunk in file.chunks))


def _distinct_paths(files: list[ManifestFile]) -> list[ManifestFile]:
    kept: dict[str, ManifestFile] = {}
    for file in files:
        kept.setdefault(file.path.casefold(), file)
    folders = {"/".join(p.split("/")[:i]) for p in kept for i in range(1, p.count("/") + 1)}
    return [file for key, file in kept.items() if key not in folders]


@st.composite
def manifests(draw: st.DrawFn) -> ReleaseManifest:
    release = draw(st.integers(1, 1 << 31))
    files = _distinct_paths(draw(st.lists(manifest_files(), max_size=5)))
    unlock_at, check = None, None
    if draw(st.booleans()):
        unlock_at = draw(st.datetimes(timezones=st.just(UTC))).isoformat()
        check = draw(hex64)
    else:
        files = [_unsealed(file) for file in files]
    try:
        return ReleaseManifest(
            game_id=draw(game_ids),
            version=draw(st.text(printable, min_size=1, max_size=20)),
            release=release,
            created=draw(st.datetimes()).isoformat(),
            total_size=sum(file.size for file in files),
            files=tuple(files),
            torrent=TorrentRef(
                name=str(release),
                piece_length=1 << draw(st.integers(14, 24)),
                info_hash_v1=draw(st.text("0123456789abcdef", min_size=40, max_size=40)),
                info_hash_v2=draw(hex64),
                data=b"d" + draw(st.binary(max_size=64)),
            ),
            unlock_at=unlock_at,
            key_check=check,
        )
    except UnsafePath:  # NFC-equal names the simple casefold filter above missed
        reject()


@given(manifests())
def test_canonical_json_round_trips(manifest: ReleaseManifest) -> None:
    data = manifest.to_canonical_json()
    assert ReleaseManifest.from_json(data) == manifest
    value = json.loads(data)
    assert data == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert base64.b64decode(value["torrent"]["data"]) == manifest.torrent.data


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_manifest_errors(data: bytes) -> None:
    with pytest.raises(ManifestError):
        ReleaseManifest.from_json(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
)


@given(json_values)
def test_arbitrary_json_raises_only_manifest_errors(value: Any) -> None:
    with pytest.raises(ManifestError):
        ReleaseManifest.from_json(json.dumps(value).encode())


def _seal_first_chunk(document: dict[str, Any]) -> None:
    chunk = document["files"][0]["chunks"][0]
    chunk["sealed"] = {"sha256": "a" * 64, "size": chunk["size"] + SEAL_OVERHEAD}


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(make_manifest().to_canonical_json())
    return document


def _mutated(change: Any) -> bytes:
    document = _document()
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("game_id"), "missing game_id"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.update(release=True), "release must be a whole number"),
        (lambda d: d.update(release=0), "release must be at least 1"),
        (lambda d: d.update(total_size=1.0), "total_size must be a whole number"),
        (lambda d: d.update(total_size=5), "total_size 5 != sum"),
        (lambda d: d.update(created="yesterday"), "not an ISO-8601"),
        (lambda d: d.update(game_id="../etc"), "invalid game id"),
        (lambda d: d["files"][0].update(sha256="AB" * 32), "lowercase hex"),
        (lambda d: d["files"][0].update(mode=0o4755), "not a regular file"),
        (lambda d: d["files"][0].update(mode=0o40755), "not a regular file"),
        (lambda d: d["files"][0]["chunks"][0].update(offset=1), "contiguous"),
        (lambda d: d["files"][0]["chunks"][0].update(size=7), "cover 7 bytes"),
        (lambda d: d["files"][0]["chunks"][0].update(parts=[]), "must not be empty"),
        (
            _seal_first_chunk,
            "sealed chunks need an unlock_at",
        ),
        (lambda d: d.update(unlock_at="2030-01-01T00:00:00+00:00"), "come together"),
        (
            lambda d: d.update(unlock_at="2030-01-01T00:00:00", key_check="a" * 64),
            "must include a UTC offset",
        ),
        (lambda d: d.update(unlock_at="soon", key_check="a" * 64), "not an ISO-8601"),
        (
            lambda d: d.update(unlock_at="2030-01-01T00:00:00+00:00", key_check="A"),
            "key_check must be lowercase hex",
        ),
        (lambda d: d["files"][0]["chunks"][0].update(parts={}), "must be a JSON array"),
        (
            lambda d: d["files"][0]["chunks"][0].update(parts=[{"sha256": "a" * 64, "size": 1}]),
            "cover 1 bytes",
        ),
        (
            lambda d: d["files"][0]["chunks"][0].update(parts=[{"sha256": "a" * 64, "size": 0}]),
            "part size must be at least 1",
        ),
        (
            lambda d: d["files"][0]["chunks"][0].update(parts=[{"sha256": "a" * 64}]),
            "missing size",
        ),
        (lambda d: d["torrent"].update(name="2"), "must be the release number"),
        (lambda d: d["torrent"].update(piece_length=20000), "power of two"),
        (lambda d: d["torrent"].update(data="not base64!"), "not valid base64"),
        (lambda d: d["torrent"].update(info_hash_v1="00"), "info_hash_v1"),
        (lambda d: d.update(files={}), "files must be a JSON array"),
    ],
)
def test_invalid_manifests_are_refused_with_a_clear_message(change: Any, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        ReleaseManifest.from_json(_mutated(change))


def test_duplicate_keys_and_nan_are_refused() -> None:
    with pytest.raises(ManifestError, match="duplicate key"):
        ReleaseManifest.from_json(b'{"game_id":"a","game_id":"b"}')
    with pytest.raises(ManifestError, match="NaN"):
        ReleaseManifest.from_json(b'{"total_size":NaN}')


def test_regular_file_type_bit_is_accepted() -> None:
    manifest = ReleaseManifest.from_json(_mutated(lambda d: d["files"][1].update(mode=0o100644)))
    assert manifest.files[1].mode == 0o100644


def test_target_path() -> None:
    assert manifest_target_path("space-miner", 7) == "games/space-miner/7/manifest.json"
    assert make_manifest(release=3).target_path == "games/space-miner/3/manifest.json"


def _leaves(value: Any, trail: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [t for key, child in value.items() for t in _leaves(child, (*trail, key))]
    if isinstance(value, list):
        return [t for index, child in enumerate(value) for t in _leaves(child, (*trail, index))]
    return [trail]


@given(st.data(), json_values)
def test_any_field_replaced_parses_or_raises_manifest_error(
    data: st.DataObject, replacement: Any
) -> None:
    document = _document()
    *parents, last = data.draw(st.sampled_from(_leaves(document)))
    container = document
    for step in parents:
        container = container[step]
    container[last] = replacement
    try:
        manifest = ReleaseManifest.from_json(json.dumps(document).encode())
    except ManifestError:
        return
    assert ReleaseManifest.from_json(manifest.to_canonical_json()) == manifest


def _shuffled(value: Any, order: st.DataObject) -> Any:
    if isinstance(value, dict):
        keys = order.draw(st.permutations(sorted(value)))
        return {key: _shuffled(value[key], order) for key in keys}
    if isinstance(value, list):
        return [_shuffled(item, order) for item in value]
    return value


@given(manifests(), st.data(), st.sampled_from([None, 0, 2]), st.booleans())
def test_any_json_spelling_of_a_manifest_has_one_canonical_form(
    manifest: ReleaseManifest, order: st.DataObject, indent: int | None, ascii_only: bool
) -> None:
    # Key order, whitespace and \u-escapes are free in JSON; the signed bytes are not.
    document = _shuffled(json.loads(manifest.to_canonical_json()), order)
    spelled = json.dumps(document, indent=indent, ensure_ascii=ascii_only).encode()
    parsed = ReleaseManifest.from_json(spelled)
    assert parsed == manifest
    assert parsed.to_canonical_json() == manifest.to_canonical_json()
    # what the agent stores is the bytes it verified, spelled as they came
    assert parsed.encoded() == spelled
    assert ReleaseManifest.from_json(parsed.encoded()) == manifest


def test_a_changed_copy_of_a_parsed_manifest_encodes_its_own_content() -> None:
    parsed = ReleaseManifest.from_json(make_manifest().to_canonical_json())
    changed = replace(parsed, version="9.9")
    assert changed.encoded() == changed.to_canonical_json()
    assert ReleaseManifest.from_json(changed.encoded()).version == "9.9"
    built = make_manifest()
    assert built.encoded() == built.to_canonical_json()


@given(manifests())
def test_parts_appear_in_json_only_when_a_chunk_has_them(manifest: ReleaseManifest) -> None:
    # Manifests published before parts existed must keep their exact signed bytes.
    document = json.loads(manifest.to_canonical_json())
    for file, described in zip(document["files"], manifest.files, strict=True):
        for chunk, ref in zip(file["chunks"], described.chunks, strict=True):
            assert ("parts" in chunk) == bool(ref.parts)
            offsets = ref.part_offsets()
            assert list(offsets) == sorted(offsets)
            assert not ref.parts or offsets[-1] + ref.parts[-1].size == ref.size


def test_a_manifest_without_parts_keeps_its_bytes() -> None:
    manifest = make_manifest()
    assert b'"parts"' not in manifest.to_canonical_json()
    assert ReleaseManifest.from_json(manifest.to_canonical_json()).to_canonical_json() == (
        manifest.to_canonical_json()
    )
