"""Compiled tracker modules are loaded only while they match their sources.

``tools/build_native.py`` compiles the announce path with mypyc into extension modules next to
the sources, and Python's import system prefers an extension module to a source file. After an
edit (or a checkout of another commit) that would run yesterday's code, so on import of the
package every extension module is checked against the digest of the source it was built from
(``native.json``, written by the build); where one differs, or no record says, every module is
loaded from its source file instead and a warning says that a rebuild is due. All of them, not
only the changed one: compiled modules pass each other's classes around (an ``Announce`` from
``tracker.announce`` to the store) and refuse an instance of the class's source twin.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import sys
from collections.abc import Iterable, Sequence
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


def source_digest(name: str) -> str:
    """The digest that ties module ``name``'s extension to the source it was built from."""
    try:
        return hashlib.blake2b((PACKAGE / f"{name}.py").read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return ""


def manifest_for(names: Iterable[str]) -> dict[str, object]:
    """What the build records for extensions of ``names`` built from the sources as they are."""
    return {
        "python": sys.implementation.cache_tag,
        "modules": {name: source_digest(name) for name in names},
    }


def recorded_manifest() -> object:
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return None


def extension_files() -> dict[str, Path]:
    """Every extension module in the package (mypyc's shared library too), by module name."""
    found = {}
    for path in PACKAGE.iterdir():
        # The most specific suffix first (".cpython-311-x86_64-linux-gnu.so" before ".so").
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            if path.name.endswith(suffix):
                found[path.name[: -len(suffix)]] = path
                break
    return found


def stale_extensions() -> list[str]:
    """The compiled modules whose source has changed since they were built."""
    names = sorted(extension_files().keys() - {SHARED_LIBRARY})
    recorded = recorded_manifest()
    if not isinstance(recorded, dict) or recorded.get("python") != sys.implementation.cache_tag:
        return names
    digests = recorded.get("modules")
    if not isinstance(digests, dict):
        return names
    return [name for name in names if digests.get(name) != source_digest(name)]


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
    every = extension_files().keys() - {SHARED_LIBRARY}
    if not any(isinstance(finder, _SourcesFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourcesFirst(frozenset(f"tracker.{name}" for name in every)))
    log.warning(
        "compiled tracker modules are older than their sources; running every module from "
        "its source (rebuild with: python tools/build_native.py): %s",
        ", ".join(stale),
    )


# Imported as part of the package, before its other modules. (tools/build_native.py loads this
# file under another name, for the rules above alone.)
if __name__ == "tracker.native":
    load_sources_for_stale_extensions()
