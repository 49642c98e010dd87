"""Trust chain: keys, TUF roles, signed release manifests and their verification."""

from signing.client import TrustClient
from signing.errors import (
    ArbitrarySoftware,
    EndlessDataAttack,
    FreezeAttack,
    KeyFileError,
    ManifestError,
    MetadataUnavailable,
    MixAndMatchAttack,
    RepositoryStateError,
    RevokedKey,
    RollbackAttack,
    TrustError,
    UnauthorizedAdmin,
    UnauthorizedPublisher,
    UnsafePath,
    WrongSoftware,
)
from signing.key_management import KeyRevocation, Renewal, RootRotation
from signing.keys import (
    generate_key,
    load_private_key,
    load_public_key,
    load_signer,
    public_key_path,
    save_private_key,
)
from signing.manifest import (
    ChunkRef,
    ManifestFile,
    PartRef,
    ReleaseManifest,
    SealedRef,
    TorrentRef,
    latest_target_path,
    manifest_target_path,
)
from signing.release_pointer import ReleasePointer
from signing.repository import TrustRepository
from signing.torrent_files import check_torrent_files

__all__ = [
    "ArbitrarySoftware",
    "ChunkRef",
    "EndlessDataAttack",
    "FreezeAttack",
    "KeyFileError",
    "KeyRevocation",
    "ManifestError",
    "ManifestFile",
    "MetadataUnavailable",
    "MixAndMatchAttack",
    "PartRef",
    "ReleaseManifest",
    "ReleasePointer",
    "Renewal",
    "RepositoryStateError",
    "RevokedKey",
    "RollbackAttack",
    "RootRotation",
    "SealedRef",
    "TorrentRef",
    "TrustClient",
    "TrustError",
    "TrustRepository",
    "UnauthorizedAdmin",
    "UnauthorizedPublisher",
    "UnsafePath",
    "WrongSoftware",
    "check_torrent_files",
    "generate_key",
    "latest_target_path",
    "load_private_key",
    "load_public_key",
    "load_signer",
    "manifest_target_path",
    "public_key_path",
    "save_private_key",
]
