"""The trust package's one exception tree.

Modelled on python-tuf's ``tuf/api/exceptions.py``, but named after the attack each error
stops (the TUF specification's threat list), so a refusal reads as what happened.
"""

from __future__ import annotations


class TrustError(Exception):
    """A release or its trust metadata cannot be trusted, read or written."""


class FreezeAttack(TrustError):
    """Metadata has expired: someone may be replaying an old, frozen repository view."""


class RollbackAttack(TrustError):
    """Metadata is older than what the client already trusts."""


class MixAndMatchAttack(TrustError):
    """Metadata files do not belong to the same repository snapshot."""


class EndlessDataAttack(TrustError):
    """A server sent more data than the trusted metadata allows."""


class UnauthorizedPublisher(TrustError):
    """No publisher delegated for the game signed this target, or the signer is not one."""


class WrongSoftware(TrustError):
    """A correctly signed manifest describes another game or release than the one asked for."""


class ArbitrarySoftware(TrustError):
    """Content or metadata does not match its signed hashes or lacks valid signatures."""


class RevokedKey(TrustError):
    """Something was signed by a key the root of trust no longer accepts."""


class ManifestError(TrustError):
    """A release manifest is malformed."""


class UnsafePath(ManifestError):
    """A manifest file path could escape the install directory or collide with another."""


class UnauthorizedAdmin(TrustError):
    """The given admin keys do not meet the root's threshold for a top-level role."""


class KeyFileError(TrustError):
    """A key file is missing, unreadable, of the wrong kind, or its passphrase is wrong."""


class RepositoryStateError(TrustError):
    """The trust repository is not in a state that allows the operation."""


class MetadataUnavailable(TrustError):
    """Trust metadata or a target could not be downloaded (network, HTTP error, timeout)."""
