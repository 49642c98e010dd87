"""Checks that manifest file paths stay inside the install directory on every platform.

A manifest is attacker-controlled input until its signature is checked, and a publisher's
build folder may hold names that work on Linux but break or escape on Windows or macOS
(case-insensitive file systems). Every rule here rejects rather than normalises.

Links and special files cannot be expressed at all: a manifest entry has no type field, only
a ``mode`` that must be a regular file's permission bits (``manifest._check_mode`` refuses
symlink, device, FIFO, socket and directory type bits, and setuid/setgid/sticky), so an
installer creates plain files only, each at a path checked here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from signing.errors import UnsafePath

MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 4096


def check_relative_path(path: str) -> None:
    """Raise ``UnsafePath`` unless ``path`` is a plain relative POSIX path of file names."""
    if not isinstance(path, str) or not path:
        raise UnsafePath("unsafe path: file path must be a non-empty string")
    if _has_control_character(path):
        raise UnsafePath(f"unsafe path {path!r}: contains a NUL or control character")
    if "\\" in path:
        raise UnsafePath(f"unsafe path {path!r}: contains a backslash")
    if path.startswith("/"):
        raise UnsafePath(f"unsafe path {path!r}: absolute paths are not allowed")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise UnsafePath(f"unsafe path {path[:40]!r}…: longer than {MAX_PATH_BYTES} bytes")
    for segment in path.split("/"):
        _check_segment(path, segment)


def _check_segment(path: str, segment: str) -> None:
    if not segment:
        raise UnsafePath(f"unsafe path {path!r}: empty path segment")
    if segment in (".", ".."):
        raise UnsafePath(f"unsafe path {path!r}: '{segment}' segments are not allowed")
    if ":" in segment:
        # Drive letters ("C:x") and NTFS alternate data streams ("a:b") both use ':'.
        raise UnsafePath(f"unsafe path {path!r}: contains ':' (drive letter or stream)")
    try:
        encoded = segment.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePath(f"unsafe path {path!r}: not valid Unicode text") from None
    if len(encoded) > MAX_SEGMENT_BYTES:
        raise UnsafePath(f"unsafe path {path!r}: a name is longer than {MAX_SEGMENT_BYTES} bytes")


# Unicode category Cc is exactly C0, DEL and C1; a regex scans a name far faster than
# asking unicodedata about every character (100,000-file manifests).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _has_control_character(text: str) -> bool:
    return _CONTROL.search(text) is not None


def check_path_set(paths: Iterable[str]) -> None:
    """Raise ``UnsafePath`` if two paths collide case-insensitively or one is another's folder."""
    seen: dict[str, str] = {}
    for path in paths:
        key = _fold(path)
        if key in seen:
            raise UnsafePath(
                f"unsafe path {path!r}: collides with {seen[key]!r} on case-insensitive disks"
            )
        seen[key] = path
    for key, path in seen.items():
        parts = key.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in seen:
                raise UnsafePath(f"unsafe path {path!r}: {seen[folder]!r} is a file, not a folder")


def _fold(path: str) -> str:
    # NFC first: macOS stores names decomposed, so "é" and "e\u0301" are the same file there.
    return unicodedata.normalize("NFC", path).casefold()
