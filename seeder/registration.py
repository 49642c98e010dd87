"""Telling the tracker and the library API about a newly published release.

Blocking HTTP (urllib) on purpose: publishing is a command-line job, and this keeps
``publish_release`` callable from any thread without an event loop of its own.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from peerpipe.config import Config
from peerpipe.tokens import Role, mint_token
from seeder.errors import RegistrationError
from signing import ReleaseManifest

TIMEOUT_SECONDS = 10.0
PUBLISHER_IDENTITY = "publisher"


def register_release(config: Config, manifest: ReleaseManifest, title: str, publisher: str) -> None:
    """Register the release's swarm with the tracker and its catalog entry with the library."""
    if not config.platform_key:
        raise RegistrationError("no platform key configured: cannot authenticate to the tracker")
    token = mint_token(config.platform_key, PUBLISHER_IDENTITY, Role.SERVICE)
    torrent = manifest.torrent
    _send(
        "POST",
        f"{config.tracker.public_url.rstrip('/')}/api/v1/admin/swarms",
        {
            "game_id": manifest.game_id,
            "release": manifest.release,
            "info_hash_v1": torrent.info_hash_v1,
            "info_hash_v2": torrent.info_hash_v2,
        },
        token,
        "tracker",
    )
    _send(
        "PUT",
        f"{config.library.public_url.rstrip('/')}/api/v1/library/internal/catalog/"
        f"{manifest.game_id}",
        {"title": title, "publisher": publisher},
        token,
        "library API",
    )


def _send(method: str, url: str, body: dict[str, Any], token: str, service: str) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        # 409: the swarm is already registered (republishing the same build) — that is fine.
        if exc.code == 409:
            return
        raise RegistrationError(
            f"the {service} at {url} refused the release: HTTP {exc.code} {_detail(exc)}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RegistrationError(f"the {service} at {url} is unreachable: {reason}") from None


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        problem = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        return ""
    if isinstance(problem, dict):
        return str(problem.get("detail") or problem.get("title") or "")
    return ""
