"""Sealed chunks for preloads: a release's new chunks encrypted until its unlock time.

Sans-IO, pure functions over bytes. A sealed chunk is::

    b"PPE1" ‖ nonce (12 bytes) ‖ AES-256-GCM ciphertext ‖ tag (16 bytes)

- ``nonce = HMAC-SHA256(key, bytes.fromhex(plain_sha256))[:12]``: deterministic, so sealing the
  same chunk twice (a retried publish) gives the same bytes and the same content address, and
  distinct chunks of one release key never share a nonce (their SHA-256s differ);
- ``aad = "peerpipe/v1|<game>|<release>|<plain_sha256>"``: a sealed chunk cannot be passed off
  as another chunk, release or game.

One random 256-bit key per locked release. The manifest records :func:`key_check` of it, so an
agent handed a key (by the library API, from the unlock time, to owners only) can tell a
wrong key from a damaged chunk before decrypting anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from signing.errors import TrustError

MAGIC = b"PPE1"
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = len(MAGIC) + NONCE_SIZE + TAG_SIZE  # sealed size = plain size + OVERHEAD
_KEY_CHECK_LABEL = b"peerpipe/v1|key-check"


class SealError(TrustError):
    """A sealed chunk cannot be opened: wrong key, damaged or substituted bytes."""


def new_release_key() -> bytes:
    """A fresh random key for one locked release."""
    return os.urandom(KEY_SIZE)


def key_check(key: bytes) -> str:
    """A public value identifying ``key`` (HMAC-SHA256 of a fixed label, hex); it reveals
    nothing about the key but lets an agent refuse a wrong one."""
    _check_key(key)
    return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()


def key_matches(key: bytes, expected_check: str) -> bool:
    try:
        return hmac.compare_digest(key_check(key), expected_check)
    except SealError:
        return False


def chunk_aad(game_id: str, release: int, plain_sha256: str) -> bytes:
    return f"peerpipe/v1|{game_id}|{int(release)}|{plain_sha256}".encode()


def chunk_nonce(key: bytes, plain_sha256: str) -> bytes:
    digest = hmac.new(key, bytes.fromhex(plain_sha256), hashlib.sha256).digest()
    return digest[:NONCE_SIZE]


def seal_chunk(key: bytes, game_id: str, release: int, plaintext: bytes) -> bytes:
    """The sealed form of one chunk of ``release`` of ``game_id``."""
    _check_key(key)
    plain_sha256 = hashlib.sha256(plaintext).hexdigest()
    nonce = chunk_nonce(key, plain_sha256)
    sealed = AESGCM(key).encrypt(nonce, plaintext, chunk_aad(game_id, release, plain_sha256))
    return MAGIC + nonce + sealed


def open_chunk(key: bytes, game_id: str, release: int, plain_sha256: str, sealed: bytes) -> bytes:
    """The plaintext of a sealed chunk, checked against ``plain_sha256``; :class:`SealError`
    for a wrong key, a damaged or substituted chunk."""
    _check_key(key)
    if len(sealed) < OVERHEAD or not sealed.startswith(MAGIC):
        raise SealError("not a sealed chunk (PPE1)")
    nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_SIZE]
    if not hmac.compare_digest(nonce, chunk_nonce(key, plain_sha256)):
        # Either another key sealed it or it is another chunk: no need to try the cipher.
        raise SealError(f"sealed chunk {plain_sha256} was not sealed with this key for it")
    try:
        plaintext = AESGCM(key).decrypt(
            nonce, sealed[len(MAGIC) + NONCE_SIZE :], chunk_aad(game_id, release, plain_sha256)
        )
    except InvalidTag:
        raise SealError(f"sealed chunk {plain_sha256} is damaged or not of this release") from None
    if hashlib.sha256(plaintext).hexdigest() != plain_sha256:
        raise SealError(f"opened chunk does not match its SHA-256 {plain_sha256}")
    return plaintext


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise SealError(f"a release key is {KEY_SIZE} bytes")
