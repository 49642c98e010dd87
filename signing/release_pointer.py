"""``games/<game>/latest.json``: the signed pointer to a game's newest release.

Besides which release is the latest, the publisher signs whether it is critical (the agent
then refuses to launch the game until it is updated) and the changelog players see. Both are
omitted from the JSON when unset, so pointers published before they existed keep their bytes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from signing.errors import ManifestError
from signing.manifest import check_game_id
from signing.manifest_checks import canonical_json, load_json_object

_KEYS = {"game_id", "release", "version"}
_OPTIONAL_KEYS = {"critical", "changelog"}
MAX_CHANGELOG_LENGTH = 64 * 1024
_CHANGELOG_CONTROLS = {"\n", "\t"}  # line breaks and tabs are fine in release notes


@dataclass(frozen=True)
class ReleasePointer:
    """Which release of a game is the latest, as its publisher signed it."""

    game_id: str
    release: int
    version: str
    critical: bool = False
    changelog: str = ""

    def __post_init__(self) -> None:
        check_game_id(self.game_id)
        if not isinstance(self.release, int) or isinstance(self.release, bool) or self.release < 1:
            raise ManifestError(f"latest release must be a whole number >= 1, got {self.release!r}")
        if not isinstance(self.version, str) or not self.version:
            raise ManifestError(f"latest version must be a non-empty string, got {self.version!r}")
        if not isinstance(self.critical, bool):
            raise ManifestError(f"critical must be true or false, got {self.critical!r}")
        _check_changelog(self.changelog)

    def to_canonical_json(self) -> bytes:
        value: dict[str, Any] = {
            "game_id": self.game_id,
            "release": self.release,
            "version": self.version,
        }
        if self.critical:
            value["critical"] = True
        if self.changelog:
            value["changelog"] = self.changelog
        return canonical_json(value)

    @classmethod
    def from_json(cls, data: bytes) -> ReleasePointer:
        value = load_json_object(data, "latest.json")
        keys = value.keys()
        if not keys >= _KEYS or not keys <= _KEYS | _OPTIONAL_KEYS:
            raise ManifestError(
                f"latest.json must hold {', '.join(sorted(_KEYS))} and optionally "
                f"{', '.join(sorted(_OPTIONAL_KEYS))}"
            )
        return cls(
            game_id=value["game_id"],
            release=value["release"],
            version=value["version"],
            critical=value.get("critical", False),
            changelog=value.get("changelog", ""),
        )


def _check_changelog(changelog: object) -> None:
    if not isinstance(changelog, str):
        raise ManifestError(f"changelog must be a string, got {changelog!r}")
    if len(changelog) > MAX_CHANGELOG_LENGTH:
        raise ManifestError(f"changelog is longer than {MAX_CHANGELOG_LENGTH} characters")
    if any(unicodedata.category(c) == "Cc" and c not in _CHANGELOG_CONTROLS for c in changelog):
        raise ManifestError("changelog contains control characters")
    try:
        changelog.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError("changelog is not valid Unicode text") from None
