"""The torrent inside a manifest must describe exactly the manifest's files, and no links.

The manifest cannot express a symlink or a device (see ``safe_paths``), but the .torrent it
carries could (BEP 47 ``attr`` "l" with a ``symlink path``), and the agent hands that torrent
to libtorrent, which writes what the torrent says. So before anything is written the agent
checks that the torrent's v1 file list and v2 file tree name the same regular files, with the
same sizes, as the signed manifest. Sans-IO: bytes in, exceptions out.
"""

from __future__ import annotations

import itertools
from typing import Any

from signing.errors import ManifestError, UnsafePath
from signing.manifest import ReleaseManifest

MAX_DEPTH = 64  # a file tree deeper than any real path; bounds the recursion
PAD_FOLDER = ".pad"


def check_torrent_files(manifest: ReleaseManifest) -> None:
    """Raise ``UnsafePath`` for links or special files in the torrent, ``ManifestError`` when
    its files differ from the manifest's."""
    info = _info_dict(manifest.torrent.data)
    if info.get(b"name") != str(manifest.release).encode():
        raise ManifestError(f"torrent name must be the release number {manifest.release}")
    expected = {file.path: file.size for file in manifest.files}
    listings = []
    if b"files" in info or b"length" in info:
        listings.append(("v1 file list", _v1_files(info)))
    if b"file tree" in info:
        listings.append(("v2 file tree", _v2_files(info[b"file tree"], (), 0)))
    if not listings:
        raise ManifestError("torrent info has neither a v1 file list nor a v2 file tree")
    for what, files in listings:
        if files != expected:
            missing = sorted(expected.keys() - files.keys())
            extra = sorted(files.keys() - expected.keys())
            resized = sorted(p for p in files.keys() & expected.keys() if files[p] != expected[p])
            raise ManifestError(
                f"torrent {what} does not match the manifest: missing {missing[:3]}, "
                f"extra {extra[:3]}, different sizes {resized[:3]}"
            )


def _info_dict(data: bytes) -> dict[bytes, Any]:
    try:
        value, end = bdecode(data)
    except (ValueError, IndexError, RecursionError):
        raise ManifestError("torrent data is not a valid bencoded .torrent file") from None
    if end != len(data) or not isinstance(value, dict) or not isinstance(value.get(b"info"), dict):
        raise ManifestError("torrent data is not a .torrent file with an info dictionary")
    info: dict[bytes, Any] = value[b"info"]
    return info


def _v1_files(info: dict[bytes, Any]) -> dict[str, int]:
    if b"files" not in info:
        raise ManifestError("single-file torrents cannot describe a release folder")
    files: dict[str, int] = {}
    for entry in _typed(info[b"files"], list, "v1 files"):
        entry = _typed(entry, dict, "v1 file entry")
        segments = [_text(s) for s in _typed(entry.get(b"path"), list, "v1 path")]
        path = "/".join(segments)
        attr = entry.get(b"attr", b"")
        if b"p" in _typed(attr, bytes, "attr") and segments[:1] == [PAD_FOLDER]:
            continue  # BEP 47 padding, never written to disk
        _check_attr(path, attr)
        files[path] = _typed(entry.get(b"length"), int, "v1 length")
    return files


def _v2_files(tree: Any, parents: tuple[str, ...], depth: int) -> dict[str, int]:
    if depth > MAX_DEPTH:
        raise ManifestError("torrent v2 file tree is too deep")
    files: dict[str, int] = {}
    for name, child in _typed(tree, dict, "v2 file tree").items():
        child = _typed(child, dict, "v2 file tree node")
        if name == b"":
            path = "/".join(parents)
            _check_attr(path, child.get(b"attr", b""))
            files[path] = _typed(child.get(b"length"), int, "v2 length")
        else:
            files.update(_v2_files(child, (*parents, _text(name)), depth + 1))
    return files


def _check_attr(path: str, attr: Any) -> None:
    flags = _typed(attr, bytes, "attr")
    if b"l" in flags:
        raise UnsafePath(f"unsafe path {path!r}: the torrent makes it a symlink")
    if b"p" in flags:
        raise UnsafePath(f"unsafe path {path!r}: a pad file outside {PAD_FOLDER}/")


def _typed(value: Any, kind: type[Any], what: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"torrent {what} is malformed")
    return value


def _text(value: Any) -> str:
    try:
        return str(_typed(value, bytes, "path segment").decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError("torrent path is not UTF-8") from None


def bdecode(data: bytes, index: int = 0) -> tuple[Any, int]:
    """One bencoded value at ``data[index:]`` and the index after it (BEP 3), strictly:
    canonical integers, string lengths within the data, dictionary keys sorted and unique.

    Iterative with an explicit stack: a 100,000-file torrent has millions of tokens.
    """
    stack: list[list[Any]] = []  # open containers: [b"l" or b"d", items...]
    while True:
        lead = data[index : index + 1]
        if lead in (b"l", b"d"):
            if len(stack) >= MAX_DEPTH:
                raise ValueError("nested too deeply")
            stack.append([lead])
            index += 1
            continue
        if lead == b"e" and stack:
            kind, *items = stack.pop()
            value: Any = items if kind == b"l" else _dictionary(items)
            index += 1
        elif lead == b"i":
            end = data.index(b"e", index)
            digits = data[index + 1 : end]
            value = int(digits)
            if digits != str(value).encode():  # no leading zeros, no "-0", no spaces
                raise ValueError("non-canonical integer")
            index = end + 1
        else:
            colon = data.index(b":", index)
            digits = data[index:colon]
            if not digits.isdigit():
                raise ValueError("bad string length")
            start, index = colon + 1, colon + 1 + int(digits)
            if index > len(data):
                raise ValueError("string runs past the end")
            value = data[start:index]
        if not stack:
            return value, index
        stack[-1].append(value)


def _dictionary(items: list[Any]) -> dict[bytes, Any]:
    keys = items[0::2]
    if len(items) % 2 or not all(isinstance(key, bytes) for key in keys):
        raise ValueError("bad dictionary")
    # Sorted and unique: a duplicate key could be read one way here, another by libtorrent.
    if not all(a < b for a, b in itertools.pairwise(keys)):
        raise ValueError("dictionary keys are not sorted and unique")
    return dict(zip(keys, items[1::2], strict=True))


def bencode(value: Any) -> bytes:
    """Bencode ints, bytes, str, lists and dicts (keys sorted), for tests and benchmarks."""
    if isinstance(value, bool):
        raise TypeError("booleans have no bencoding")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(item) for item in value) + b"e"
    if isinstance(value, dict):
        pairs = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in pairs) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")
