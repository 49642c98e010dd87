"""`.env.example` lists every PEERPIPE_* variable the configuration reads, and only those."""

from __future__ import annotations

import re
from pathlib import Path

from peerpipe.config import Config

ROOT = Path(__file__).resolve().parents[2]


def _documented() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^(PEERPIPE_[A-Z0-9_]+)=", text, re.MULTILINE))


class _RecordingEnv(dict[str, str]):
    """An empty environment that remembers every variable the configuration asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)


def test_every_variable_read_is_documented_and_nothing_else() -> None:
    env = _RecordingEnv()
    Config.from_env(env)
    assert env.asked == _documented()
