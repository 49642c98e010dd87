"""Compiled tracker modules are loaded only while they match their sources.

``tools/build_native.py`` compiles the announce path with mypyc into extension modules next to
the sources, and Python's import system prefers an extension module to a source file. After an
edit (or a checkout of another commit) that would run yesterday's code, so on import of the
package every extension module is checked against the digest of the source it was built from
(``native.json``, written by the build); where they differ, or no record says, the source file
is loaded instead and a warning says that a rebuild is due.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parent
MANIFEST = PACKAGE / "native.json"
SHARED_LIBRARY = "native__mypyc"

log = logging.getLogger(__name__)


class _SourcesFirst(importlib.abc.MetaPathFinder):
    """Finds the named tracker modules as their ``.py`` sources, ahead of any extension."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        return importlib.util.spec_from_file_location(
            fullname, PACKAGE / f"{fullname.rpartition('.')[2]}.py"
        )


def _recorded_digests() -> dict[str, str]:
    try:
        manifest = json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(manifest, dict) or manifest.get("python") != sys.implementation.cache_tag:
        return {}
    modules = manifest.get("modules")
    return {str(k): str(v) for k, v in modules.items()} if isinstance(modules, dict) else {}


def _extension_modules() -> list[str]:
    names: set[str] = set()
    for path in PACKAGE.iterdir():
        # The most specific suffix first (".cpython-311-x86_64-linux-gnu.so" before ".so").
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            if path.name.endswith(suffix):
                names.add(path.name[: -len(suffix)])
                break
    names.discard(SHARED_LIBRARY)
    return sorted(names)


def stale_extensions() -> list[str]:
    """The compiled modules whose source has changed since they were built."""
    recorded = _recorded_digests()
    stale = []
    for name in _extension_modules():
        source = PACKAGE / f"{name}.py"
        try:
            digest = hashlib.blake2b(source.read_bytes(), digest_size=16).hexdigest()
        except OSError:
            digest = ""
        if recorded.get(name) != digest:
            stale.append(name)
    return stale


def compiled_modules() -> list[str]:
    """The tracker modules running compiled in this process."""
    compiled = []
    for name, module in list(sys.modules.items()):
        loader = getattr(getattr(module, "__spec__", None), "loader", None)
        if (
            name.startswith("tracker.")
            and name != f"tracker.{SHARED_LIBRARY}"
            and isinstance(loader, importlib.machinery.ExtensionFileLoader)
        ):
            compiled.append(name.rpartition(".")[2])
    return sorted(compiled)


def load_sources_for_stale_extensions() -> None:
    stale = stale_extensions()
    if not stale:
        return
    if not any(isinstance(finder, _SourcesFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourcesFirst(frozenset(f"tracker.{name}" for name in stale)))
    log.warning(
        "compiled tracker modules are older than their sources; running the sources "
        "(rebuild with: python tools/build_native.py): %s",
        ", ".join(stale),
    )


load_sources_for_stale_extensions()
