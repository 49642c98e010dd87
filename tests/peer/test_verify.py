import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from peer import NotEnoughDiskSpace, check_disk_space, verify_files
from peer.verify import ReleaseCheck


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


class WriteBehind:
    """libtorrent as the early check sees it: a file's bytes count as verified once its
    pieces pass, and reach the file some time later (its disk cache writes behind)."""

    def __init__(self) -> None:
        self.verified: dict[str, int] = {}

    def verified_end(self, path: str, offset: int) -> int:
        return max(offset, self.verified.get(path, 0))


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the condition is a worker thread's progress
            await asyncio.sleep(0.01)


def sparse(path: Path, size: int) -> None:
    """A file of ``size`` bytes that is all hole, as libtorrent leaves one it has not
    written yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)


async def test_files_are_checked_as_they_arrive_and_not_before_they_are_written(
    tmp_path: Path, build_release: Callable[..., Any]
) -> None:
    release = build_release(tmp_path / "build", {"a.bin": 3_000_000, "sub/b.txt": 10})
    source, target = tmp_path / "build" / "1", tmp_path / "install"
    pieces = WriteBehind()
    check = ReleaseCheck(target, release.files, pieces, ["a.bin", "sub/b.txt"])
    check.start()
    try:
        sparse(target / "a.bin", 3_000_000)
        pieces.verified["a.bin"] = 3_000_000  # verified, still in the disk cache
        await asyncio.sleep(0.1)
        assert check.passed_early == 0  # a hole is not hashed
        shutil.copyfile(source / "a.bin", target / "a.bin")
        await until(lambda: check.passed_early == 1)
        sparse(target / "sub" / "b.txt", 10)
        shutil.copyfile(source / "sub" / "b.txt", target / "sub" / "b.txt")
        pieces.verified["sub/b.txt"] = 10
        await until(lambda: check.passed_early == 2)
        assert await check.finish() == []
    finally:
        check.stop()


async def test_bytes_that_changed_after_an_early_read_are_judged_at_the_end(
    tmp_path: Path, build_release: Callable[..., Any]
) -> None:
    # On a file system without holes an early read can see bytes not written yet: that
    # read must not fail the install; only the check after the flush decides.
    release = build_release(tmp_path / "build", {"a.bin": 200_000, "c.bin": 100_000})
    source, target = tmp_path / "build" / "1", tmp_path / "install"
    target.mkdir()
    (target / "a.bin").write_bytes(bytes(200_000))  # zeros, as if not written yet
    (target / "c.bin").write_bytes(bytes(100_000))
    pieces = WriteBehind()
    pieces.verified.update({"a.bin": 200_000, "c.bin": 100_000})
    check = ReleaseCheck(target, release.files, pieces, ["a.bin", "c.bin"])
    check.start()
    try:
        await asyncio.sleep(0.1)
        shutil.copyfile(source / "a.bin", target / "a.bin")  # the real bytes land
        found = await check.finish()  # c.bin never got its bytes: it is corrupt
    finally:
        check.stop()
    assert [(item.path, item.reason) for item in found] == [
        ("c.bin", "SHA-256 does not match the manifest")
    ]
