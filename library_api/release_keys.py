"""Content keys of locked releases: held wrapped, handed to owners from the unlock time.

A key is stored only wrapped (AES-256-GCM) under a key-encryption key derived from the
platform key with HKDF-SHA256, bound by the AAD to its game and release: a copied row cannot
be unwrapped as another release's key, and a database dump alone reveals no key.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from library_api.database import insert_ignoring_conflict
from library_api.errors import Conflict, LibraryError
from library_api.models import GAME_ID, Base, utc_now

KEY_SIZE = 32
NONCE_SIZE = 12
ALGORITHM = "AES-256-GCM"
_KEK_INFO = b"peerpipe/v1|library|release-key-wrap"


class ReleaseKeyRow(Base):
    __tablename__ = "release_keys"

    game_id: Mapped[str] = mapped_column(GAME_ID, primary_key=True)
    release: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # nonce ‖ AES-GCM(kek, key) ‖ tag, hex: never the key itself.
    wrapped_key: Mapped[str] = mapped_column(String(128))
    unlock_at: Mapped[datetime] = mapped_column()
    key_check: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class KeyUnwrapError(LibraryError):
    """A stored key cannot be unwrapped: another platform key, or a damaged row."""


@dataclass(frozen=True)
class ReleaseKey:
    game_id: str
    release: int
    key: bytes
    unlock_at: datetime
    key_check: str

    def to_json(self) -> dict[str, object]:
        """What the publish pipeline sees of a stored key (never the key itself)."""
        return {
            "game_id": self.game_id,
            "release": self.release,
            "unlock_at": self.unlock_at.isoformat(),
            "key_check": self.key_check,
        }


class KeyWrapper:
    """Wraps and unwraps release keys under the key-encryption key of one platform key."""

    def __init__(self, platform_key: str) -> None:
        kek = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=_KEK_INFO).derive(
            platform_key.encode()
        )
        self._cipher = AESGCM(kek)

    def wrap(self, game_id: str, release: int, key: bytes) -> str:
        nonce = os.urandom(NONCE_SIZE)
        return (nonce + self._cipher.encrypt(nonce, key, _aad(game_id, release))).hex()

    def unwrap(self, game_id: str, release: int, wrapped: str) -> bytes:
        data = bytes.fromhex(wrapped)
        try:
            return self._cipher.decrypt(
                data[:NONCE_SIZE], data[NONCE_SIZE:], _aad(game_id, release)
            )
        except InvalidTag:
            raise KeyUnwrapError(
                f"the key of {game_id} release {release} cannot be unwrapped with this platform key"
            ) from None


def _aad(game_id: str, release: int) -> bytes:
    return f"peerpipe/v1|release-key|{game_id}|{int(release)}".encode()


class ReleaseKeyRepository:
    def __init__(self, session: AsyncSession, wrapper: KeyWrapper) -> None:
        self.session = session
        self.wrapper = wrapper

    async def find(self, game_id: str, release: int) -> ReleaseKey | None:
        row = await self.session.get(ReleaseKeyRow, (game_id, release))
        if row is None:
            return None
        key = self.wrapper.unwrap(game_id, release, row.wrapped_key)
        return ReleaseKey(game_id, release, key, row.unlock_at, row.key_check)

    async def store(self, wanted: ReleaseKey) -> tuple[ReleaseKey, bool]:
        """Store the key (True) or find it already stored (False); a different key for the
        same release is a 409, since players may already hold chunks sealed with the first.
        The same key with another unlock time moves the unlock."""
        values = {
            "game_id": wanted.game_id,
            "release": wanted.release,
            "wrapped_key": self.wrapper.wrap(wanted.game_id, wanted.release, wanted.key),
            "unlock_at": wanted.unlock_at,
            "key_check": wanted.key_check,
            "created_at": utc_now(),
        }
        table = ReleaseKeyRow.__table__
        statement = insert_ignoring_conflict(
            self.session,
            table,  # type: ignore[arg-type]
            values,
            ["game_id", "release"],
        )
        inserted = await self.session.execute(statement)
        if inserted.rowcount:  # type: ignore[attr-defined]
            return wanted, True
        stored = await self.find(wanted.game_id, wanted.release)
        assert stored is not None, "the conflicting row is there"
        if not hmac.compare_digest(stored.key, wanted.key):
            raise Conflict(
                "RELEASE_KEY_CONFLICT",
                f"release {wanted.release} of {wanted.game_id} already has a different key",
            )
        if stored.unlock_at != wanted.unlock_at:
            row = await self.session.get(ReleaseKeyRow, (wanted.game_id, wanted.release))
            assert row is not None
            row.unlock_at = wanted.unlock_at
            await self.session.flush()
        return wanted, False
