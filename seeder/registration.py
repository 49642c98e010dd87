"""Telling the tracker and the library API about a newly published release (and the library
API about a locked release's key).

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


def register_release_key(config: Config, manifest: ReleaseManifest, key: bytes | None) -> None:
    """Hand a locked release's key to the library API, which gives it to owners from the
    unlock time. The same key again is accepted; a different one (409) is an error, since
    players may already hold chunks sealed with the first.

    Without ``key`` (republishing the same build to retry the registration) the key kept
    under ``<data_dir>/release-keys`` is sent.
    """
    key = key if key is not None else _kept_key(config, manifest)
    if not config.platform_key:
        raise RegistrationError("no platform key configured: cannot authenticate to the library")
    if manifest.unlock_at is None or manifest.key_check is None:
        raise RegistrationError(f"release {manifest.release} is not locked: it has no key")
    token = mint_token(config.platform_key, PUBLISHER_IDENTITY, Role.SERVICE)
    _send(
        "PUT",
        f"{config.library.public_url.rstrip('/')}/api/v1/library/internal/release-keys/"
        f"{manifest.game_id}/{manifest.release}",
        {"key": key.hex(), "unlock_at": manifest.unlock_at, "key_check": manifest.key_check},
        token,
        "library API",
        conflict_is_done=False,
    )


def _kept_key(config: Config, manifest: ReleaseManifest) -> bytes:
    path = config.data_dir / "release-keys" / manifest.game_id / f"{manifest.release}.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        raise RegistrationError(
            f"the key of locked release {manifest.release} is not at {path}"
        ) from None


def _send(
    method: str,
    url: str,
    body: dict[str, Any],
    token: str,
    service: str,
    *,
    conflict_is_done: bool = True,
) -> None:
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
        if exc.code == 409 and conflict_is_done:
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
