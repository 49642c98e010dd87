"""Key files: encrypted and plain PEM private keys, public halves, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from signing import (
    KeyFileError,
    generate_key,
    load_public_key,
    load_signer,
    public_key_path,
    save_private_key,
)


def test_encrypted_key_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "admin.pem"
    save_private_key(generate_key(), path, b"correct horse")
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    signer = load_signer(path, b"correct horse")
    public = load_public_key(public_key_path(path))
    assert public.keyid == signer.public_key.keyid
    signature = signer.sign(b"release")
    public.verify_signature(signature, b"release")


def test_key_file_misuse_gives_clear_errors(tmp_path: Path) -> None:
    encrypted, plain = tmp_path / "enc.pem", tmp_path / "plain.pem"
    save_private_key(generate_key(), encrypted, b"secret")
    save_private_key(generate_key(), plain, None)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_signer(encrypted, b"guess")
    with pytest.raises(KeyFileError, match="passphrase is required"):
        load_signer(encrypted, None)
    with pytest.raises(KeyFileError, match="not encrypted"):
        load_signer(plain, b"secret")
    with pytest.raises(KeyFileError, match="does not exist"):
        load_signer(tmp_path / "missing.pem", None)
    with pytest.raises(KeyFileError, match="already exists"):
        save_private_key(generate_key(), plain, None)
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(plain)
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        load_signer(public_key_path(plain), None)
