"""Naming the attack behind an ngclient failure, so a refusal says what happened.

ngclient does every check; its exceptions say which check failed. This module maps them onto
the TUF threat list (``signing.errors``), and tells a signature by a *revoked* key (listed in
the trusted root or targets, see ``roles.REVOKED_FIELD``) from one by an unknown key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tuf.api import exceptions as tuf_errors

from signing.errors import (
    ArbitrarySoftware,
    EndlessDataAttack,
    FreezeAttack,
    MetadataUnavailable,
    MixAndMatchAttack,
    RevokedKey,
    RollbackAttack,
    TrustError,
    UnauthorizedPublisher,
)
from signing.roles import TOP_LEVEL_ROLES, revoked_keyids
from signing.tuf_api import Metadata, Root, Targets, Urllib3Fetcher

# "Expected acme.json version 3, got 5." is ngclient refusing a snapshot that lists an older
# version of a role than the trusted snapshot did: a rollback, not a mix-and-match.
_SNAPSHOT_ROLLBACK = re.compile(r"Expected \S+\.json version")


class RecordingFetcher(Urllib3Fetcher):
    """ngclient's urllib3 fetcher, keeping the last metadata bytes downloaded per role, so a
    signature failure can be examined for revoked keys."""

    def __init__(self, socket_timeout: int) -> None:
        super().__init__(socket_timeout=socket_timeout)
        self.metadata: dict[str, bytes] = {}

    def download_bytes(self, url: str, max_length: int) -> bytes:
        data: bytes = super().download_bytes(url, max_length)
        name = unquote(url.rsplit("/", 1)[-1]).removesuffix(".json")
        role = name.split(".", 1)[1] if name.split(".", 1)[0].isdigit() else name
        self.metadata[role] = data
        return data


def metadata_error(
    error: Exception, fetcher: RecordingFetcher | None = None, cache_dir: Path | None = None
) -> TrustError:
    """The package error for an ngclient failure while loading trust metadata."""
    if isinstance(error, tuf_errors.ExpiredMetadataError):
        return FreezeAttack(f"freeze attack: {error}")
    if isinstance(error, tuf_errors.BadVersionNumberError):
        # ngclient says "Expected …" when a file's version differs from what snapshot or
        # timestamp lists for it (files from different snapshots); otherwise a version
        # went backwards compared to what this client already trusts.
        if str(error).startswith("Expected") and not _SNAPSHOT_ROLLBACK.match(str(error)):
            return MixAndMatchAttack(f"mix-and-match attack: {error}")
        return RollbackAttack(f"rollback attack: {error}")
    if type(error) is tuf_errors.RepositoryError and "snapshot is missing info" in str(error):
        return RollbackAttack(f"rollback attack: {error} (metadata the client trusts vanished)")
    if isinstance(error, tuf_errors.LengthOrHashMismatchError):
        return MixAndMatchAttack(f"mix-and-match attack: metadata does not match its hash: {error}")
    if isinstance(error, tuf_errors.UnsignedMetadataError):
        return _signature_error(error, fetcher, cache_dir)
    if isinstance(error, tuf_errors.DownloadLengthMismatchError):
        return EndlessDataAttack(f"endless data attack: {error}")
    if isinstance(error, tuf_errors.SlowRetrievalError):
        # urllib3 reports a refused connection as a connect timeout too: name both.
        return MetadataUnavailable(
            "trust metadata unavailable (slow retrieval attack or network failure): "
            f"{error.__cause__ or error}"
        )
    if isinstance(error, tuf_errors.DownloadHTTPError):
        return MetadataUnavailable(f"trust metadata unavailable: HTTP {error.status_code}: {error}")
    if isinstance(error, tuf_errors.DownloadError):
        return MetadataUnavailable(f"trust metadata unavailable: {error.__cause__ or error}")
    if isinstance(error, OSError):
        return TrustError(f"cannot use the trust metadata cache: {error}")
    return TrustError(f"trust metadata rejected: {error}")


def _signature_error(
    error: Exception, fetcher: RecordingFetcher | None, cache_dir: Path | None
) -> TrustError:
    role = str(error).split(" ", 1)[0]
    revoked = _revoked_signers(role, fetcher, cache_dir)
    if revoked:
        return RevokedKey(
            f"revoked key: {role} metadata is signed by revoked key {revoked[0][:16]}… ({error})"
        )
    if role and role not in TOP_LEVEL_ROLES:
        return UnauthorizedPublisher(f"unauthorized publisher: {error}")
    return ArbitrarySoftware(f"arbitrary software attack: untrusted signatures: {error}")


def _revoked_signers(
    role: str, fetcher: RecordingFetcher | None, cache_dir: Path | None
) -> list[str]:
    """Key ids among the signatures of the refused ``role`` metadata that its (already
    trusted) delegator lists as revoked."""
    if fetcher is None or cache_dir is None or role not in fetcher.metadata:
        return []
    delegator = Root.type if role in TOP_LEVEL_ROLES else Targets.type
    try:
        refused = Metadata[Any].from_bytes(fetcher.metadata[role])
        trusted = Metadata[Any].from_bytes((cache_dir / f"{delegator}.json").read_bytes())
    except (OSError, ValueError, tuf_errors.RepositoryError):
        return []
    if not isinstance(trusted.signed, Root | Targets):
        return []
    revoked = set(revoked_keyids(trusted.signed))
    return sorted(keyid for keyid in refused.signatures if keyid in revoked)
