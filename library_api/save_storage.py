"""Where cloud-save bytes live, reached through presigned, expiring URLs.

``LocalSaveStorage`` (the default) keeps files under the data directory and signs URLs with
an HMAC key derived from the platform key; the library API itself serves them.
``s3_storage.S3SaveStorage`` hands out real S3 presigned URLs instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

BLOB_PATH = "/api/v1/library/savegames/blob"
CHUNK = 1 << 16


@dataclass(frozen=True)
class PresignedUrl:
    url: str
    method: str
    expires_at: int
    headers: dict[str, str]

    def to_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "method": self.method,
            "expires_at": self.expires_at,
            "headers": self.headers,
        }


@dataclass(frozen=True)
class StoredObject:
    size: int
    sha256: str


class SaveStorage(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def upload_url(self, base_url: str, key: str, size: int, ttl: int) -> PresignedUrl: ...

    async def download_url(self, base_url: str, key: str, ttl: int) -> PresignedUrl: ...

    async def stat(self, key: str) -> StoredObject | None:
        """Size and SHA-256 of what was uploaded under ``key``, or None if nothing was."""
        ...

    async def delete(self, key: str) -> None: ...


class UrlSigner:
    """HMAC-SHA256 over (operation, key, expiry): a URL cannot be altered or outlive itself."""

    def __init__(self, platform_key: str) -> None:
        self._key = hashlib.sha256(b"peerpipe-savegame-urls\0" + platform_key.encode()).digest()

    def signature(self, operation: str, key: str, expires: int) -> str:
        message = f"{operation}\n{key}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def valid(self, operation: str, key: str, expires: str, signature: str) -> bool:
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(self.signature(operation, key, int(expires)), signature)


def _hash_file(path: Path) -> StoredObject:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK * 16):
            digest.update(chunk)
    return StoredObject(size=path.stat().st_size, sha256=digest.hexdigest())


class LocalSaveStorage:
    def __init__(self, directory: Path, signer: UrlSigner) -> None:
        self.directory = directory
        self.signer = signer

    async def start(self) -> None:
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    def _url(self, base_url: str, operation: str, key: str, ttl: int) -> PresignedUrl:
        expires = int(time.time()) + ttl
        query = urlencode(
            {
                "op": operation,
                "expires": expires,
                "sig": self.signer.signature(operation, key, expires),
            }
        )
        method = "PUT" if operation == "put" else "GET"
        return PresignedUrl(f"{base_url}{BLOB_PATH}/{key}?{query}", method, expires, {})

    async def upload_url(self, base_url: str, key: str, size: int, ttl: int) -> PresignedUrl:
        return self._url(base_url, "put", key, ttl)

    async def download_url(self, base_url: str, key: str, ttl: int) -> PresignedUrl:
        return self._url(base_url, "get", key, ttl)

    def path(self, key: str) -> Path:
        return self.directory / key

    async def stat(self, key: str) -> StoredObject | None:
        path = self.path(key)
        if not await asyncio.to_thread(path.exists):
            return None
        return await asyncio.to_thread(_hash_file, path)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def receive(self, key: str, chunks: AsyncIterator[bytes], limit: int) -> int:
        """Write an upload (at most ``limit`` bytes) atomically; the byte count, or -1 if over."""
        partial = self.directory / f".{key}.{os.getpid()}.{time.monotonic_ns()}.part"
        handle = await asyncio.to_thread(partial.open, "wb")
        written = 0
        complete = False
        try:
            async for chunk in chunks:
                written += len(chunk)
                if written > limit:
                    return -1
                await asyncio.to_thread(handle.write, chunk)
            complete = True
        finally:
            await asyncio.to_thread(handle.close)
            if not complete:
                await asyncio.to_thread(partial.unlink, missing_ok=True)
        await asyncio.to_thread(os.replace, partial, self.path(key))
        return written
