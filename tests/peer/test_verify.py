from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from peer import NotEnoughDiskSpace, check_disk_space, verify_files


def test_intact_release_verifies(tmp_path: Path, build_release: Callable[..., Any]) -> None:
    release = build_release(tmp_path, {"a.bin": 70_000, "sub/b.txt": 10})
    assert verify_files(tmp_path / "1", release.files) == []


def test_corrupted_missing_and_truncated_files_are_named(
    tmp_path: Path, build_release: Callable[..., Any]
) -> None:
    release = build_release(tmp_path, {"a.bin": 70_000, "sub/b.txt": 10, "c.dat": 500})
    root = tmp_path / "1"
    with (root / "a.bin").open("r+b") as handle:
        handle.seek(1234)
        byte = handle.read(1)
        handle.seek(1234)
        handle.write(bytes([byte[0] ^ 0xFF]))
    (root / "sub" / "b.txt").unlink()
    (root / "c.dat").write_bytes(b"short")
    found = {item.path: item.reason for item in verify_files(root, release.files)}
    assert found == {
        "a.bin": "SHA-256 does not match the manifest",
        "sub/b.txt": "missing",
        "c.dat": "size 5 != 500",
    }


def test_disk_space_check_names_need_and_free(tmp_path: Path) -> None:
    with pytest.raises(NotEnoughDiskSpace, match="needs 1000000000000000 bytes"):
        check_disk_space(tmp_path / "games" / "g", 10**15)
    check_disk_space(tmp_path / "games" / "g", 1)
