"""What a test does when a real service or tool it needs is missing."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """Fail on CI (``CI=true``), where every service and tool must be there; skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"required in CI: {message}")
    pytest.skip(message)
