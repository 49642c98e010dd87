"""The release manifest: a frozen data model, its canonical JSON form and strict parsing.

Sans-IO: bytes in, dataclasses out, and back. Constructing a dataclass validates it, so a
manifest object that exists is a well-formed one whether it was built by the seeder or parsed
from bytes a CDN node served.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import stat
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from signing.errors import ManifestError
from signing.safe_paths import check_path_set, check_relative_path

GAME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
HEX40 = re.compile(r"[0-9a-f]{40}")
HEX64 = re.compile(r"[0-9a-f]{64}")
MIN_PIECE_LENGTH = 16 * 1024  # BitTorrent v2 requires power-of-two pieces of at least 16 KiB
MAX_VERSION_LENGTH = 128


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
class ChunkRef:
    """One content-defined chunk of a file: its SHA-256 id and where it sits in the file."""

    sha256: str
    offset: int
    size: int

    def __post_init__(self) -> None:
        _check_hex(self.sha256, HEX64, "chunk sha256")
        _check_int(self.offset, "chunk offset", minimum=0)
        _check_int(self.size, "chunk size", minimum=1)


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
        _check_int(self.size, f"size of {self.path!r}", minimum=0)
        _check_mode(self.path, self.mode)
        _check_hex(self.sha256, HEX64, f"sha256 of {self.path!r}")
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
        _check_text(self.name, "torrent name")
        _check_int(self.piece_length, "torrent piece_length", minimum=MIN_PIECE_LENGTH)
        if self.piece_length & (self.piece_length - 1):
            raise ManifestError(f"torrent piece_length {self.piece_length} is not a power of two")
        _check_hex(self.info_hash_v1, HEX40, "torrent info_hash_v1")
        _check_hex(self.info_hash_v2, HEX64, "torrent info_hash_v2")
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

    def __post_init__(self) -> None:
        check_game_id(self.game_id)
        _check_text(self.version, "version")
        _check_int(self.release, "release", minimum=1)
        _check_created(self.created)
        object.__setattr__(self, "files", tuple(self.files))
        check_path_set(file.path for file in self.files)
        total = sum(file.size for file in self.files)
        _check_int(self.total_size, "total_size", minimum=0)
        if self.total_size != total:
            raise ManifestError(f"total_size {self.total_size} != sum of file sizes {total}")
        if self.torrent.name != str(self.release):
            raise ManifestError(
                f"torrent name {self.torrent.name!r} must be the release number {self.release}"
            )

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
        return _manifest_from_dict(load_json_object(data, "release manifest"))


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, raw UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def load_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Strictly decode a JSON object: UTF-8, no duplicate keys, no floats or NaN."""
    if not isinstance(data, bytes | bytearray):
        raise ManifestError(f"{what} must be bytes")
    try:
        text = bytes(data).decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_float=Decimal,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError:
        raise ManifestError(f"{what} is not UTF-8") from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise ManifestError(f"{what} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ManifestError(f"{what} must be a JSON object")
    return value


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ManifestError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ManifestError(f"{name} is not allowed")


def _manifest_to_dict(manifest: ReleaseManifest) -> dict[str, Any]:
    torrent = manifest.torrent
    return {
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
                "chunks": [
                    {"sha256": chunk.sha256, "offset": chunk.offset, "size": chunk.size}
                    for chunk in file.chunks
                ],
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


_MANIFEST_KEYS = {"game_id", "version", "release", "created", "total_size", "files", "torrent"}
_FILE_KEYS = {"path", "size", "mode", "sha256", "chunks"}
_CHUNK_KEYS = {"sha256", "offset", "size"}
_TORRENT_KEYS = {"name", "piece_length", "info_hash_v1", "info_hash_v2", "data"}


def _manifest_from_dict(value: dict[str, Any]) -> ReleaseManifest:
    _check_keys(value, _MANIFEST_KEYS, "manifest")
    files = _check_list(value["files"], "files")
    return ReleaseManifest(
        game_id=value["game_id"],
        version=value["version"],
        release=value["release"],
        created=value["created"],
        total_size=value["total_size"],
        files=tuple(_file_from_dict(item, index) for index, item in enumerate(files)),
        torrent=_torrent_from_dict(value["torrent"]),
    )


def _file_from_dict(value: Any, index: int) -> ManifestFile:
    where = f"files[{index}]"
    _check_keys(value, _FILE_KEYS, where)
    chunks = _check_list(value["chunks"], f"{where}.chunks")
    for number, chunk in enumerate(chunks):
        _check_keys(chunk, _CHUNK_KEYS, f"{where}.chunks[{number}]")
    return ManifestFile(
        path=value["path"],
        size=value["size"],
        mode=value["mode"],
        sha256=value["sha256"],
        chunks=tuple(ChunkRef(c["sha256"], c["offset"], c["size"]) for c in chunks),
    )


def _torrent_from_dict(value: Any) -> TorrentRef:
    _check_keys(value, _TORRENT_KEYS, "torrent")
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


def _check_keys(value: Any, expected: set[str], where: str) -> None:
    if not isinstance(value, dict):
        raise ManifestError(f"{where} must be a JSON object")
    missing = sorted(expected - value.keys())
    if missing:
        raise ManifestError(f"{where} is missing {', '.join(missing)}")
    unknown = sorted(value.keys() - expected)
    if unknown:
        raise ManifestError(f"{where} has unknown field(s) {', '.join(unknown)}")


def _check_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ManifestError(f"{where} must be a JSON array")
    return value


def _check_int(value: object, what: str, minimum: int) -> None:
    # bool is an int subclass; True must not pass as a size of 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ManifestError(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise ManifestError(f"{what} must be at least {minimum}, got {value}")


def _check_hex(value: object, pattern: re.Pattern[str], what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ManifestError(f"{what} must be lowercase hex, got {value!r}")


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_VERSION_LENGTH:
        raise ManifestError(f"{what} must be a string of 1-{MAX_VERSION_LENGTH} characters")
    if not value.isprintable():
        raise ManifestError(f"{what} {value!r} contains control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError(f"{what} is not valid Unicode text") from None


def _check_created(value: object) -> None:
    if not isinstance(value, str):
        raise ManifestError(f"created must be an ISO-8601 string, got {value!r}")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ManifestError(f"created {value!r} is not an ISO-8601 date and time") from None


def _check_mode(path: str, mode: object) -> None:
    _check_int(mode, f"mode of {path!r}", minimum=0)
    assert isinstance(mode, int)
    # Permission bits, optionally with the regular-file type bit; no setuid/setgid/sticky,
    # no directories, links or devices.
    if mode & ~0o777 not in (0, stat.S_IFREG):
        raise ManifestError(f"mode {oct(mode)} of {path!r} is not a regular file's permissions")


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
