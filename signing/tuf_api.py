"""The python-tuf and securesystemslib names this package uses, imported where they are defined.

Their public modules re-export these without ``__all__``, which strict mypy (no implicit
re-export) rejects; importing from the defining modules once, here, keeps that in one place.
"""

from securesystemslib.signer._crypto_signer import CryptoSigner
from securesystemslib.signer._key import Key, SSlibKey
from securesystemslib.signer._signer import Signer
from tuf.api._payload import (
    DelegatedRole,
    Delegations,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.metadata import Metadata
from tuf.ngclient.config import UpdaterConfig
from tuf.ngclient.updater import Updater
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

__all__ = [
    "CryptoSigner",
    "DelegatedRole",
    "Delegations",
    "Key",
    "MetaFile",
    "Metadata",
    "Root",
    "SSlibKey",
    "Signer",
    "Snapshot",
    "TargetFile",
    "Targets",
    "Timestamp",
    "Updater",
    "UpdaterConfig",
    "Urllib3Fetcher",
]
