"""Ed25519 key files: PEM PKCS#8 private keys (optionally encrypted) and their public halves."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from signing.errors import KeyFileError
from signing.tuf_api import CryptoSigner, Key, Signer, SSlibKey


def generate_key() -> Ed25519PrivateKey:
    """A new Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def public_key_path(path: Path) -> Path:
    """Where ``save_private_key`` puts the public half of the key at ``path``."""
    return path.with_name(path.name + ".pub")


def save_private_key(key: Ed25519PrivateKey, path: Path, passphrase: bytes | None) -> None:
    """Write ``path`` (PEM PKCS#8, mode 0600, encrypted if ``passphrase``) and ``path.pub``.

    Refuses to overwrite an existing key file: losing a root or publisher key is not undoable.
    """
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new_file(path, private_pem, 0o600)
    _write_new_file(public_key_path(path), public_pem, 0o644)


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite it") from None
    except OSError as error:
        raise KeyFileError(f"cannot write key file {path}: {error.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # umask must not loosen or tighten the mode
        handle.write(data)


def load_private_key(path: Path, passphrase: bytes | None) -> Ed25519PrivateKey:
    """Read an Ed25519 private key file, decrypting it with ``passphrase`` if it is encrypted."""
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        if passphrase:
            raise KeyFileError(f"key file {path} is not encrypted; give no passphrase") from None
        raise KeyFileError(f"key file {path} is encrypted; a passphrase is required") from None
    except ValueError:
        if is_encrypted_key_file(path):
            raise KeyFileError(f"wrong passphrase for key file {path}") from None
        raise KeyFileError(f"{path} is not a PEM private key file") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"key file {path} does not hold an Ed25519 key")
    return key


def is_encrypted_key_file(path: Path) -> bool:
    """Whether ``path`` holds an encrypted PEM private key (so a passphrase is needed)."""
    return b"ENCRYPTED PRIVATE KEY" in _read_key_file(path)


def load_signer(path: Path, passphrase: bytes | None) -> Signer:
    """A securesystemslib signer for the Ed25519 private key file at ``path``."""
    return CryptoSigner(load_private_key(path, passphrase))


def load_public_key(path: Path) -> Key:
    """The TUF key of a public key PEM file (as written next to a private key as ``.pub``)."""
    data = _read_key_file(path)
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError:
        raise KeyFileError(f"{path} is not a PEM public key file") from None
    if not isinstance(public, Ed25519PublicKey):
        raise KeyFileError(f"public key file {path} does not hold an Ed25519 key")
    return SSlibKey.from_crypto(public)


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as error:
        raise KeyFileError(f"cannot read key file {path}: {error.strerror}") from None
