"""``games/<game>/latest.json``: the signed pointer to a game's newest release."""

from __future__ import annotations

from dataclasses import dataclass

from signing.errors import ManifestError
from signing.manifest import canonical_json, check_game_id, load_json_object

_KEYS = {"game_id", "release", "version"}


@dataclass(frozen=True)
class ReleasePointer:
    """Which release of a game is the latest, as its publisher signed it."""

    game_id: str
    release: int
    version: str

    def __post_init__(self) -> None:
        check_game_id(self.game_id)
        if not isinstance(self.release, int) or isinstance(self.release, bool) or self.release < 1:
            raise ManifestError(f"latest release must be a whole number >= 1, got {self.release!r}")
        if not isinstance(self.version, str) or not self.version:
            raise ManifestError(f"latest version must be a non-empty string, got {self.version!r}")

    def to_canonical_json(self) -> bytes:
        return canonical_json(
            {"game_id": self.game_id, "release": self.release, "version": self.version}
        )

    @classmethod
    def from_json(cls, data: bytes) -> ReleasePointer:
        value = load_json_object(data, "latest.json")
        if value.keys() != _KEYS:
            raise ManifestError(f"latest.json must hold exactly {', '.join(sorted(_KEYS))}")
        return cls(game_id=value["game_id"], release=value["release"], version=value["version"])
