"""Reading a publisher's build folder into the list of files a release is made of.

Everything is checked before anything is written: a release must never be half-published
because a file turned out to be unreadable or a symlink pointed outside the build.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from seeder.errors import PublishError


@dataclass(frozen=True)
class BuildFile:
    """One regular file of a build: where it is read from and what the manifest says of it."""

    path: str  # relative POSIX path inside the release
    source: Path  # absolute path on the publisher's disk (symlinks resolved)
    size: int
    mode: int  # permission bits, e.g. 0o644 == 420


def scan_build(build_dir: Path) -> tuple[BuildFile, ...]:
    """The regular files under ``build_dir``, sorted by path; :class:`PublishError` if unusable."""
    try:
        root = build_dir.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise PublishError(f"build folder {build_dir} cannot be opened: {exc}") from None
    if not root.is_dir():
        raise PublishError(f"build folder {build_dir} is not a directory")
    files: list[BuildFile] = []
    _walk(root, root, "", files, visited={_identity(root)})
    if not files:
        raise PublishError(f"build folder {build_dir} holds no files")
    if sum(entry.size for entry in files) == 0:
        raise PublishError(f"build folder {build_dir} holds only empty files")
    return tuple(sorted(files, key=lambda entry: entry.path))


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def _walk(
    root: Path, folder: Path, prefix: str, out: list[BuildFile], visited: set[tuple[int, int]]
) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError as exc:
        raise PublishError(f"cannot list {prefix or '.'} in the build: {exc.strerror}") from None
    for entry in entries:
        relative = _release_path(prefix, entry.name)
        target = _inside_build(root, Path(entry.path), relative)
        try:
            info = target.stat()
        except OSError as exc:
            raise PublishError(f"cannot read {relative}: {exc.strerror}") from None
        if stat.S_ISDIR(info.st_mode):
            # A symlinked folder may point back up the tree; visit each real folder once.
            key = (info.st_dev, info.st_ino)
            if key in visited:
                raise PublishError(f"{relative} links back into a folder already in the build")
            _walk(root, target, relative, out, visited | {key})
        elif stat.S_ISREG(info.st_mode):
            _check_readable(target, relative)
            out.append(BuildFile(relative, target, info.st_size, info.st_mode & 0o777))
        else:
            raise PublishError(f"{relative} is a {_kind(info.st_mode)}, not a regular file")


def _release_path(prefix: str, name: str) -> str:
    # Names must survive the trip through JSON, URLs and other operating systems unchanged.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise PublishError(f"{prefix}/{name!r} is not a valid UTF-8 file name") from None
    if "\\" in name or "\x00" in name or any(ord(ch) < 0x20 for ch in name):
        raise PublishError(f"file name {name!r} in {prefix or '.'} holds a forbidden character")
    return f"{prefix}/{name}" if prefix else name


def _inside_build(root: Path, path: Path, relative: str) -> Path:
    if not path.is_symlink():
        return path
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise PublishError(f"{relative} is a broken symlink") from None
    if target != root and root not in target.parents:
        raise PublishError(f"{relative} is a symlink leaving the build folder ({target})")
    return target


def _check_readable(path: Path, relative: str) -> None:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise PublishError(f"cannot read {relative}: {exc.strerror}") from None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"
