"""Compile the tracker's announce path to C extension modules with mypyc.

An announce runs through the same dozen modules every time; compiled, the tracker spends about
a quarter less CPU on each (bench/README.md). The sources stay the truth: ``tracker.native``
loads a compiled module only while it was built from the source file as it is now, so an edited
checkout falls back to the Python source until this runs again (``make`` runs it every time;
it does nothing while every compiled module matches its source).

Compiled code is stricter than the interpreter in two ways that matter here, and the compiled
modules are written around both: values must have their annotated types at run time (hence
``bencode`` stays interpreted: it refuses values of any type itself), and mypyc 2.4 turns a
bytes slice that starts past its end into a SystemError rather than ``b""`` and misreads a slice
object held in a global, so those modules slice bytes from one side or with ``start <= end``.

Usage: ``python tools/build_native.py [--check] [--clean]``. Needs a C compiler and mypy.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tracker"
BUILD_DIR = ROOT / "build" / "native"
# The import name of mypyc's shared library: inside the package, so it is found wherever the
# package is (the editable install maps packages, not the checkout's root).
GROUP = "tracker.native"
# What one announce or scrape runs through, from the request head to the bencoded reply
# (bencode.py is left out: it takes values of any type and must refuse them as BencodeError).
MODULES = (
    "access_cache",
    "announce",
    "announce_counts",
    "gate",
    "http_accept",
    "http_answers",
    "http_heads",
    "http_server",
    "memory_store",
    "peer_list",
    "peer_records",
    "rate_limit",
    "reply_pool",
)


def _load_rules() -> ModuleType:
    # By file, not through the package: importing the package would import the very
    # extensions this script replaces (and run its stale-extension check here).
    spec = importlib.util.spec_from_file_location("tracker_native_rules", PACKAGE / "native.py")
    assert spec is not None and spec.loader is not None
    rules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rules)
    return rules


# tracker/native.py: how an extension is tied to its source, shared with the check at import.
RULES = _load_rules()


def up_to_date() -> bool:
    present = RULES.extension_files().keys() >= {*MODULES, RULES.SHARED_LIBRARY}
    return bool(present and RULES.recorded_manifest() == RULES.manifest_for(MODULES))


def clean() -> None:
    # Unlinked, not overwritten: a running tracker keeps the copy it has mapped.
    for extension in RULES.extension_files().values():
        extension.unlink()
    RULES.MANIFEST.unlink(missing_ok=True)
    shutil.rmtree(BUILD_DIR, ignore_errors=True)


def missing_toolchain() -> str | None:
    """What a build would lack here: a C compiler or Python's headers (None: nothing)."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python headers (Python.h)"
    return None


def build() -> None:
    from mypyc.build import mypycify
    from setuptools import setup

    clean()
    os.chdir(ROOT)
    # The sources' digests as they were before compiling: a source edited during the build is
    # then seen as newer than its extension and run from source, not taken for compiled.
    manifest = json.dumps(RULES.manifest_for(MODULES), indent=2, sort_keys=True)
    extensions = mypycify(
        [f"tracker/{name}.py" for name in MODULES],
        group_name=GROUP,
        target_dir=str(BUILD_DIR / "c"),
    )
    setup(
        name="peerpipe-tracker-native",
        ext_modules=extensions,
        script_args=[
            "--quiet",
            "build_ext",
            "--inplace",
            "--parallel",
            str(os.cpu_count() or 1),
            "--build-temp",
            str(BUILD_DIR / "temp"),
            "--build-lib",
            str(BUILD_DIR / "lib"),
        ],
    )
    # Written last: a build that failed half-way leaves no manifest, so nothing is loaded.
    RULES.MANIFEST.write_text(manifest + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a rebuild is due")
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    args = parser.parse_args()
    if args.clean:
        clean()
    elif args.check:
        sys.exit(0 if up_to_date() else 1)
    elif not up_to_date():
        if (missing := missing_toolchain()) is not None:
            # The sources run as they are, only slower; CI has a compiler and checks it is used.
            clean()
            print(f"tracker stays interpreted: {missing}", file=sys.stderr)
            return
        print("compiling the tracker's announce path with mypyc", flush=True)
        build()


if __name__ == "__main__":
    main()
