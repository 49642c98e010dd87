"""A build folder becomes a sorted list of regular files, or a clear PublishError."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
from seeder_helpers import BuildMaker

from seeder import PublishError, scan_build


def test_files_are_listed_sorted_with_posix_paths_sizes_and_modes(make_build: BuildMaker) -> None:
    root = make_build({"bin/game": b"\x7fELF", "data/b.pak": b"bb", "a.txt": b"a"})
    os.chmod(root / "bin/game", 0o755)
    os.chmod(root / "a.txt", 0o644)
    files = scan_build(root)
    assert [(f.path, f.size) for f in files] == [("a.txt", 1), ("bin/game", 4), ("data/b.pak", 2)]
    assert files[1].mode == 0o755 and files[0].mode == 0o644


def test_empty_build_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(PublishError, match="holds no files"):
        scan_build(tmp_path / "empty")


def test_missing_build_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="cannot be opened"):
        scan_build(tmp_path / "nope")


def test_only_empty_files_is_refused(make_build: BuildMaker) -> None:
    with pytest.raises(PublishError, match="only empty files"):
        scan_build(make_build({"a": b"", "b/c": b""}))


def test_unreadable_file_is_refused() -> None:
    # Outside pytest's private tmp folders, so that ``nobody`` can reach the build.
    root = Path(tempfile.mkdtemp(prefix="peerpipe-build-"))
    try:
        root.chmod(0o755)
        (root / "ok.bin").write_bytes(b"fine")
        (root / "secret.bin").write_bytes(b"x")
        os.chmod(root / "secret.bin", 0)
        assert "cannot read secret.bin" in _scan_error_unprivileged(root)
    finally:
        shutil.rmtree(root)


def _scan_error_unprivileged(root: Path) -> str:
    """The PublishError message of scanning ``root`` in a forked child that, when the tests
    run as root (as CI does), first becomes ``nobody``: root reads every file."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(reader)
        message = "scan raised no PublishError"
        try:
            if os.geteuid() == 0:
                nobody = pwd.getpwnam("nobody")
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            scan_build(root)
        except PublishError as exc:
            message = str(exc)
        except BaseException as exc:
            message = f"unexpected {exc!r}"
        os.write(writer, message.encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(child, 0)
    return message


def test_symlink_leaving_the_build_is_refused(make_build: BuildMaker, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not yours")
    root = make_build({"a": b"a"})
    (root / "escape").symlink_to(outside)
    with pytest.raises(PublishError, match="escape is a symlink leaving the build"):
        scan_build(root)


def test_symlink_inside_the_build_is_read_as_its_target(make_build: BuildMaker) -> None:
    root = make_build({"real/data.bin": b"12345"})
    (root / "alias.bin").symlink_to(root / "real/data.bin")
    files = scan_build(root)
    assert [(f.path, f.size) for f in files] == [("alias.bin", 5), ("real/data.bin", 5)]


def test_symlink_loop_is_refused(make_build: BuildMaker) -> None:
    root = make_build({"dir/a": b"a"})
    (root / "dir" / "up").symlink_to(root)
    with pytest.raises(PublishError, match="links back"):
        scan_build(root)


def test_broken_symlink_is_refused(make_build: BuildMaker) -> None:
    root = make_build({"a": b"a"})
    (root / "dangling").symlink_to(root / "gone")
    with pytest.raises(PublishError, match="broken symlink"):
        scan_build(root)


def test_fifo_is_refused(make_build: BuildMaker) -> None:
    root = make_build({"a": b"a"})
    os.mkfifo(root / "pipe")
    with pytest.raises(PublishError, match="pipe is a named pipe"):
        scan_build(root)


def test_socket_is_refused(make_build: BuildMaker) -> None:
    root = make_build({"a": b"a"})
    # AF_UNIX paths are limited to ~108 bytes; bind relative to the build folder.
    cwd = Path.cwd()
    os.chdir(root)
    try:
        with socket.socket(socket.AF_UNIX) as server:
            server.bind("sock")
            with pytest.raises(PublishError, match="sock is a socket"):
                scan_build(root)
    finally:
        os.chdir(cwd)


def test_backslash_in_a_name_is_refused(make_build: BuildMaker) -> None:
    with pytest.raises(PublishError, match="forbidden character"):
        scan_build(make_build({"a\\b": b"x"}))
