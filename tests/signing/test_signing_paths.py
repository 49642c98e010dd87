"""Manifest file paths that could escape the install directory or collide are refused."""

from __future__ import annotations

import dataclasses

import pytest
from signing_support import make_manifest

from signing import ManifestError, ManifestFile, UnsafePath


def _with_paths(*paths: str) -> None:
    template = make_manifest().files[1]  # the empty file: size 0, no chunks
    files = tuple(dataclasses.replace(template, path=path) for path in paths)
    dataclasses.replace(make_manifest(), files=files, total_size=0)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "absolute"),
        ("../evil", "'..' segments"),
        ("bin/../../evil", "'..' segments"),
        ("./bin", "'.' segments"),
        ("C:/Windows/evil.dll", "drive letter"),
        ("C:evil", "drive letter"),
        ("file.txt:stream", "drive letter or stream"),
        ("bin\\evil", "backslash"),
        ("bin//evil", "empty path segment"),
        ("bin/", "empty path segment"),
        ("", "non-empty"),
        ("bin/ev\x00il", "NUL or control"),
        ("bin/\nevil", "NUL or control"),
        ("bin/\x7f", "NUL or control"),
        ("a" * 256, "longer than 255"),
        ("bad\udc80name", "not valid Unicode"),
    ],
)
def test_unsafe_paths_are_refused(path: str, reason: str) -> None:
    with pytest.raises(UnsafePath, match=reason):
        ManifestFile(path=path, size=0, mode=0o644, sha256="0" * 64, chunks=())


@pytest.mark.parametrize(
    "paths",
    [
        ("Data/Level1.pak", "data/level1.PAK"),
        ("caf\u00e9.txt", "cafe\u0301.txt"),  # the same name, composed and decomposed
        ("data", "data/level1.pak"),
        ("Data", "data/level1.pak"),
    ],
)
def test_colliding_paths_are_refused(paths: tuple[str, ...]) -> None:
    with pytest.raises(UnsafePath):
        _with_paths(*paths)


def test_ordinary_paths_are_accepted() -> None:
    _with_paths("bin/game", "data/levels/1.pak", "Ünïcødé name.txt", ".hidden", "a..b")


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        (0o120777, "symlink"),
        (0o020666, "character device"),
        (0o060660, "block device"),
        (0o010644, "fifo"),
        (0o140755, "socket"),
        (0o040755, "directory"),
        (0o104755, "setuid"),
        (0o102755, "setgid"),
        (0o101777, "sticky"),
    ],
)
def test_only_regular_files_can_be_described(mode: int, kind: str) -> None:
    # A manifest has no entry type but the mode: anything but a regular file's permission
    # bits (optionally with S_IFREG) is refused, so links and devices cannot be expressed.
    with pytest.raises(ManifestError, match="not a regular file's permissions"):
        ManifestFile(path=f"bin/{kind}", size=0, mode=mode, sha256="0" * 64, chunks=())
