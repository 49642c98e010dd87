"""The release manifest: a frozen data model, its canonical JSON form and strict parsing.

Sans-IO: bytes in, dataclasses out, and back. Constructing a dataclass validates it, so a
manifest object that exists is a well-formed one whether it was built by the seeder or parsed
from bytes a CDN node served.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from signing.errors import ManifestError
from signing.manifest_checks import (
    canonical_json,
    check_created,
    check_hex,
    check_int,
    check_keys,
    check_list,
    check_mode,
    check_text,
    load_json_object,
)
from signing.safe_paths import check_path_set, check_relative_path
from signing.sealing import OVERHEAD as SEAL_OVERHEAD

GAME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
HEX40 = re.compile(r"[0-9a-f]{40}")
HEX64 = re.compile(r"[0-9a-f]{64}")
MIN_PIECE_LENGTH = 16 * 1024  # BitTorrent v2 requires power-of-two pieces of at least 16 KiB


def check_game_id(game_id: object) -> str:
    """Return ``game_id`` if it is a valid game id (it becomes a path segment and URL part)."""
    if not isinstance(game_id, str) or not GAME_ID.fullmatch(game_id):
        raise ManifestError(
            f"invalid game id {game_id!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return game_id


def manifest_target_path(game_id: str, release: int) -> str:
    """The TUF target path of a release manifest: ``games/<game>/<release>/manifest.json``."""
    return f"games/{check_game_id(game_id)}/{release}/manifest.json"


def latest_target_path(game_id: str) -> str:
    """The TUF target path of a game's latest-release pointer: ``games/<game>/latest.json``."""
    return f"games/{check_game_id(game_id)}/latest.json"


@dataclass(frozen=True)
class PartRef:
    """A smaller content-defined piece of a chunk; parts sit end to end from the chunk's
    start, so an update can fetch only the parts it lacks as byte ranges of the chunk."""

    sha256: str
    size: int

    def __post_init__(self) -> None:
        check_hex(self.sha256, HEX64, "part sha256")
        check_int(self.size, "part size", minimum=1)


@dataclass(frozen=True)
class SealedRef:
    """The sealed (encrypted, see ``signing.sealing``) copy of a chunk of a preloaded release:
    stored and served as ``/chunks/<sha256>`` like any chunk."""

    sha256: str
    size: int

    def __post_init__(self) -> None:
        check_hex(self.sha256, HEX64, "sealed sha256")
        check_int(self.size, "sealed size", minimum=SEAL_OVERHEAD + 1)


@dataclass(frozen=True)
class ChunkRef:
    """One content-defined chunk of a file: its SHA-256 id, where it sits in the file and,
    optionally, its parts (empty: the chunk is only fetched whole)."""

    sha256: str
    offset: int
    size: int
    parts: tuple[PartRef, ...] = ()
    sealed: SealedRef | None = None  # set in a release published with an unlock time

    def __post_init__(self) -> None:
        check_hex(self.sha256, HEX64, "chunk sha256")
        check_int(self.offset, "chunk offset", minimum=0)
        check_int(self.size, "chunk size", minimum=1)
        object.__setattr__(self, "parts", tuple(self.parts))
        _check_parts_cover_chunk(self)
        if self.sealed is not None:
            if not isinstance(self.sealed, SealedRef):
                raise ManifestError(f"sealed copy of chunk {self.sha256} must be a SealedRef")
            if self.sealed.size != self.size + SEAL_OVERHEAD:
                raise ManifestError(
                    f"sealed copy of chunk {self.sha256} must be {SEAL_OVERHEAD} bytes larger"
                )

    def part_offsets(self) -> tuple[int, ...]:
        """Where each part starts inside the chunk."""
        offsets, at = [], 0
        for part in self.parts:
            offsets.append(at)
            at += part.size
        return tuple(offsets)


@dataclass(frozen=True)
class ManifestFile:
    """One file of a release: relative path, size, permission mode, hash and chunk list."""

    path: str
    size: int
    mode: int
    sha256: str
    chunks: tuple[ChunkRef, ...]

    def __post_init__(self) -> None:
        check_relative_path(self.path)
        check_int(self.size, f"size of {self.path!r}", minimum=0)
        check_mode(self.path, self.mode)
        check_hex(self.sha256, HEX64, f"sha256 of {self.path!r}")
        object.__setattr__(self, "chunks", tuple(self.chunks))
        _check_chunks_cover_file(self)


@dataclass(frozen=True)
class TorrentRef:
    """The release's BitTorrent v2/hybrid torrent: its info-hashes and the .torrent bytes."""

    name: str
    piece_length: int
    info_hash_v1: str
    info_hash_v2: str
    data: bytes

    def __post_init__(self) -> None:
        check_text(self.name, "torrent name")
        check_int(self.piece_length, "torrent piece_length", minimum=MIN_PIECE_LENGTH)
        if self.piece_length & (self.piece_length - 1):
            raise ManifestError(f"torrent piece_length {self.piece_length} is not a power of two")
        check_hex(self.info_hash_v1, HEX40, "torrent info_hash_v1")
        check_hex(self.info_hash_v2, HEX64, "torrent info_hash_v2")
        if not isinstance(self.data, bytes) or not self.data.startswith(b"d"):
            raise ManifestError("torrent data must be the bytes of a bencoded .torrent file")


@dataclass(frozen=True)
class ReleaseManifest:
    """What a publisher signs for one release of one game."""

    game_id: str
    version: str
    release: int
    created: str
    total_size: int
    files: tuple[ManifestFile, ...]
    torrent: TorrentRef
    unlock_at: str | None = None  # a preload: new chunks are sealed until this time
    key_check: str | None = None  # ``signing.sealing.key_check`` of the release key

    def __post_init__(self) -> None:
        check_game_id(self.game_id)
        _check_lock(self)
        check_text(self.version, "version")
        check_int(self.release, "release", minimum=1)
        check_created(self.created)
        object.__setattr__(self, "files", tuple(self.files))
        check_path_set(file.path for file in self.files)
        total = sum(file.size for file in self.files)
        check_int(self.total_size, "total_size", minimum=0)
        if self.total_size != total:
            raise ManifestError(f"total_size {self.total_size} != sum of file sizes {total}")
        if self.torrent.name != str(self.release):
            raise ManifestError(
                f"torrent name {self.torrent.name!r} must be the release number {self.release}"
            )

    @property
    def locked(self) -> bool:
        """Published with an unlock time: its new chunks are sealed."""
        return self.unlock_at is not None

    @property
    def target_path(self) -> str:
        """Where this manifest lives in the trust repository."""
        return manifest_target_path(self.game_id, self.release)

    def to_canonical_json(self) -> bytes:
        """Sorted keys, no whitespace, UTF-8; the exact bytes that get signed."""
        return canonical_json(_manifest_to_dict(self))

    @classmethod
    def from_json(cls, data: bytes) -> ReleaseManifest:
        """Parse and validate manifest bytes; raise ``ManifestError`` or ``UnsafePath``."""
        manifest = _manifest_from_dict(load_json_object(data, "release manifest"))
        object.__setattr__(manifest, "_encoded", bytes(data))
        return manifest

    def encoded(self) -> bytes:
        """Bytes that parse back to this manifest: the ones it was parsed from (for a TUF
        target, the bytes whose hash was verified), else the canonical form. Encoding a
        large release again costs tens of milliseconds (thousands of chunks and parts)."""
        data: bytes | None = getattr(self, "_encoded", None)
        return data if data is not None else self.to_canonical_json()


def _manifest_to_dict(manifest: ReleaseManifest) -> dict[str, Any]:
    torrent = manifest.torrent
    lock = {"unlock_at": manifest.unlock_at, "key_check": manifest.key_check}
    return {
        **(lock if manifest.locked else {}),
        "game_id": manifest.game_id,
        "version": manifest.version,
        "release": manifest.release,
        "created": manifest.created,
        "total_size": manifest.total_size,
        "files": [
            {
                "path": file.path,
                "size": file.size,
                "mode": file.mode,
                "sha256": file.sha256,
                "chunks": [_chunk_to_dict(chunk) for chunk in file.chunks],
            }
            for file in manifest.files
        ],
        "torrent": {
            "name": torrent.name,
            "piece_length": torrent.piece_length,
            "info_hash_v1": torrent.info_hash_v1,
            "info_hash_v2": torrent.info_hash_v2,
            "data": base64.b64encode(torrent.data).decode("ascii"),
        },
    }


def _chunk_to_dict(chunk: ChunkRef) -> dict[str, Any]:
    value: dict[str, Any] = {"sha256": chunk.sha256, "offset": chunk.offset, "size": chunk.size}
    # Only when present, so manifests without parts keep their exact bytes (and signatures).
    if chunk.parts:
        value["parts"] = [{"sha256": part.sha256, "size": part.size} for part in chunk.parts]
    if chunk.sealed is not None:
        value["sealed"] = {"sha256": chunk.sealed.sha256, "size": chunk.sealed.size}
    return value


_MANIFEST_KEYS = {"game_id", "version", "release", "created", "total_size", "files", "torrent"}
_FILE_KEYS = {"path", "size", "mode", "sha256", "chunks"}
_CHUNK_KEYS = {"sha256", "offset", "size"}
_PART_KEYS = {"sha256", "size"}
_SEALED_KEYS = {"sha256", "size"}
_LOCK_KEYS = {"unlock_at", "key_check"}
_TORRENT_KEYS = {"name", "piece_length", "info_hash_v1", "info_hash_v2", "data"}


def _manifest_from_dict(value: dict[str, Any]) -> ReleaseManifest:
    check_keys(value, _MANIFEST_KEYS | (_LOCK_KEYS & value.keys()), "manifest")
    files = check_list(value["files"], "files")
    return ReleaseManifest(
        game_id=value["game_id"],
        version=value["version"],
        release=value["release"],
        created=value["created"],
        total_size=value["total_size"],
        files=tuple(_file_from_dict(item, index) for index, item in enumerate(files)),
        torrent=_torrent_from_dict(value["torrent"]),
        unlock_at=value.get("unlock_at"),
        key_check=value.get("key_check"),
    )


def _file_from_dict(value: Any, index: int) -> ManifestFile:
    where = f"files[{index}]"
    check_keys(value, _FILE_KEYS, where)
    chunks = check_list(value["chunks"], f"{where}.chunks")
    return ManifestFile(
        path=value["path"],
        size=value["size"],
        mode=value["mode"],
        sha256=value["sha256"],
        chunks=tuple(
            _chunk_from_dict(chunk, f"{where}.chunks[{number}]")
            for number, chunk in enumerate(chunks)
        ),
    )


def _chunk_from_dict(value: Any, where: str) -> ChunkRef:
    optional = {"parts", "sealed"} & value.keys() if isinstance(value, dict) else set()
    check_keys(value, _CHUNK_KEYS | optional, where)
    sealed = None
    if "sealed" in optional:
        check_keys(value["sealed"], _SEALED_KEYS, f"{where}.sealed")
        sealed = SealedRef(value["sealed"]["sha256"], value["sealed"]["size"])
    parts: list[PartRef] = []
    if "parts" in optional:
        items = check_list(value["parts"], f"{where}.parts")
        if not items:
            # The canonical form omits an empty list; accepting one would give two encodings.
            raise ManifestError(f"{where}.parts must not be empty (omit it instead)")
        for number, item in enumerate(items):
            check_keys(item, _PART_KEYS, f"{where}.parts[{number}]")
            parts.append(PartRef(item["sha256"], item["size"]))
    return ChunkRef(value["sha256"], value["offset"], value["size"], tuple(parts), sealed)


def _torrent_from_dict(value: Any) -> TorrentRef:
    check_keys(value, _TORRENT_KEYS, "torrent")
    encoded = value["data"]
    if not isinstance(encoded, str):
        raise ManifestError("torrent data must be a base64 string")
    try:
        data = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ManifestError("torrent data is not valid base64") from None
    if base64.b64encode(data).decode("ascii") != encoded:
        raise ManifestError("torrent data is not canonical base64")
    return TorrentRef(
        name=value["name"],
        piece_length=value["piece_length"],
        info_hash_v1=value["info_hash_v1"],
        info_hash_v2=value["info_hash_v2"],
        data=data,
    )


def _check_lock(manifest: ReleaseManifest) -> None:
    if (manifest.unlock_at is None) != (manifest.key_check is None):
        raise ManifestError("unlock_at and key_check come together (a preload) or not at all")
    if manifest.unlock_at is None:
        if any(chunk.sealed for file in manifest.files for chunk in file.chunks):
            raise ManifestError("sealed chunks need an unlock_at time")
        return
    check_created(manifest.unlock_at, "unlock_at")
    if datetime.fromisoformat(manifest.unlock_at).tzinfo is None:
        raise ManifestError(f"unlock_at {manifest.unlock_at!r} must include a UTC offset")
    check_hex(manifest.key_check, HEX64, "key_check")


def _check_parts_cover_chunk(chunk: ChunkRef) -> None:
    if not chunk.parts:
        return
    for part in chunk.parts:
        if not isinstance(part, PartRef):
            raise ManifestError(f"parts of chunk {chunk.sha256} must be PartRef values")
    covered = sum(part.size for part in chunk.parts)
    if covered != chunk.size:
        raise ManifestError(
            f"parts of chunk {chunk.sha256} cover {covered} bytes, the chunk has {chunk.size}"
        )


def _check_chunks_cover_file(file: ManifestFile) -> None:
    offset = 0
    for chunk in file.chunks:
        if not isinstance(chunk, ChunkRef):
            raise ManifestError(f"chunks of {file.path!r} must be ChunkRef values")
        if chunk.offset != offset:
            raise ManifestError(
                f"chunks of {file.path!r} must be contiguous: expected offset {offset}, "
                f"got {chunk.offset}"
            )
        offset += chunk.size
    if offset != file.size:
        raise ManifestError(f"chunks of {file.path!r} cover {offset} bytes, file has {file.size}")
