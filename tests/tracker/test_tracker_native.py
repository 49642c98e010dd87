"""The compiled announce path: run when current, never when its source has changed since."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import build_native
from tracker import native

EXTENSION_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def copy_of_the_tracker(tmp_path: Path) -> Path:
    package = tmp_path / "tracker"
    shutil.copytree(
        native.PACKAGE, package, ignore=shutil.ignore_patterns("*.so", "native.json", "__pycache__")
    )
    return package


def import_in_child(root: Path, module: str) -> subprocess.CompletedProcess[str]:
    code = f"import {module} as m; print(m.__file__)"
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=environment, capture_output=True, text=True
    )


def test_an_extension_built_from_another_source_is_passed_over_for_the_source(
    tmp_path: Path,
) -> None:
    package = copy_of_the_tracker(tmp_path)
    # Not even a loadable extension: importing it would fail outright.
    (package / f"announce{EXTENSION_SUFFIX}").write_bytes(b"not an ELF file")
    manifest = {"python": sys.implementation.cache_tag, "modules": {"announce": "0123"}}
    (package / "native.json").write_text(json.dumps(manifest))

    child = import_in_child(tmp_path, "tracker.announce")

    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == str(package / "announce.py")
    assert "older than their sources" in child.stderr
    assert "announce" in child.stderr


def test_one_changed_source_passes_over_every_extension(tmp_path: Path) -> None:
    package = copy_of_the_tracker(tmp_path)
    for name in ("announce", "memory_store"):
        (package / f"{name}{EXTENSION_SUFFIX}").write_bytes(b"not an ELF file")
    # The store's extension matches its source; the announce module's does not. Compiled, the
    # store would refuse the Announce objects the announce module's source builds.
    digests = {"announce": "0123", "memory_store": native.source_digest("memory_store")}
    manifest = {"python": sys.implementation.cache_tag, "modules": digests}
    (package / "native.json").write_text(json.dumps(manifest))

    child = import_in_child(tmp_path, "tracker.memory_store")

    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == str(package / "memory_store.py")


def test_an_extension_with_no_record_of_its_source_is_passed_over(tmp_path: Path) -> None:
    package = copy_of_the_tracker(tmp_path)
    (package / f"gate{EXTENSION_SUFFIX}").write_bytes(b"not an ELF file")

    child = import_in_child(tmp_path, "tracker.gate")

    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == str(package / "gate.py")


def test_the_suite_runs_the_announce_path_compiled_when_it_is_built() -> None:
    if not build_native.up_to_date():
        if os.environ.get("CI") == "true":
            pytest.fail("make test builds the compiled tracker modules; they are missing or stale")
        pytest.skip("compiled tracker modules not built (python tools/build_native.py)")
    for name in build_native.MODULES:
        importlib.import_module(f"tracker.{name}")

    assert native.stale_extensions() == []
    assert native.compiled_modules() == sorted(build_native.MODULES)
