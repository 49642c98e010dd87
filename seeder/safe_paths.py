"""Mapping URL paths onto the origin and trust directories without ever leaving them."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from peerpipe.problems import Problem


def resolve_inside(base: Path, relative: str) -> Path:
    """The regular file ``base/relative``; 400 for a path that tries to escape, 404 if absent.

    ``relative`` is the already percent-decoded URL path, so ``%2e%2e`` arrives here as
    ``..`` and is refused like the literal one.
    """
    check_relative(relative)
    try:
        root = base.resolve(strict=True)
        candidate = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        raise Problem(404, "Not Found", "no such file", code="NOT_FOUND") from None
    # A symlink inside the tree must not lead outside it either.
    if root not in candidate.parents or not candidate.is_file():
        raise Problem(404, "Not Found", "no such file", code="NOT_FOUND")
    return candidate


def check_relative(relative: str) -> str:
    """``relative`` if it is a plain relative path (no ``..``, no empty or control parts);
    400 otherwise. Keys of an S3 origin are built only from paths that pass this."""
    if not relative or relative.startswith("/") or "\\" in relative:
        raise _bad_path()
    if any(unicodedata.category(char) == "Cc" for char in relative):
        raise _bad_path()
    for segment in relative.split("/"):
        if segment in ("", ".", ".."):
            raise _bad_path()
    return relative


def _bad_path() -> Problem:
    return Problem(400, "Bad Request", "the path is not a valid file path", code="BAD_PATH")
