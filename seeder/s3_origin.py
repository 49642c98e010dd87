"""The origin in an S3-compatible bucket (MinIO, AWS S3, moto), through aiobotocore.

:class:`S3Bucket` is the asynchronous core the CDN node streams from (HEAD for size and
ETag, ranged GETs passed through for HTTP Range requests). :class:`S3Origin` is the publish
pipeline's blocking :class:`OriginStore` over it: an event loop in a thread of its own runs
the requests, so several upload workers share one connection pool.
Keys follow the origin layout: ``files/<game>/<release>/<path>``, ``chunks/<aa>/<sha256>``,
``torrents/<game>/<release>.torrent``, under an optional prefix.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from seeder.errors import OriginError
from seeder.origin import (
    GAME_ID,
    SHA256_HEX,
    FileCopy,
    OriginStore,
    StoredTorrent,
    check_game,
)
from seeder.origin_settings import SeederOriginSettings

PART_SIZE = 8 * 1024 * 1024  # multipart upload part (S3's minimum is 5 MiB)
READ_BLOCK = 256 * 1024
MAX_CONCURRENT_HEADS = 32
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 60.0
MAX_COPY_SIZE = 5 * 1024**3  # S3's limit for a single CopyObject
_T = TypeVar("_T")


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str  # the store's ETag, quoted
    mtime: float


def file_key(game_id: str, release: int, path: str) -> str:
    return f"files/{check_game(game_id)}/{int(release)}/{path}"


def chunk_key(sha256: str) -> str:
    if not SHA256_HEX.match(sha256):
        raise OriginError(f"{sha256!r} is not a SHA-256 hex digest")
    return f"chunks/{sha256[:2]}/{sha256}"


def torrent_key(game_id: str, release: int) -> str:
    return f"torrents/{check_game(game_id)}/{int(release)}.torrent"


_SESSION_LOCK = threading.Lock()
_SESSIONS: list[Any] = []


def s3_client(settings: SeederOriginSettings) -> contextlib.AbstractAsyncContextManager[Any]:
    """An aiobotocore S3 client for ``settings`` (path-style addressing, as MinIO wants)."""
    # One botocore session for the process: it caches the parsed service models, which
    # take a second or more to load.
    with _SESSION_LOCK:
        if not _SESSIONS:
            _SESSIONS.append(get_session())
        session = _SESSIONS[0]
    client: contextlib.AbstractAsyncContextManager[Any] = session.create_client(
        "s3",
        endpoint_url=settings.s3_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key or None,
        aws_secret_access_key=settings.secret_key or None,
        config=AioConfig(
            s3={"addressing_style": "path"},
            max_pool_connections=32,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            # A CDN request waits on these: a dead origin must fail fast, not back off.
            retries={"mode": "standard", "max_attempts": 2},
        ),
    )
    return client


class S3Bucket:
    """One bucket (and key prefix) of an S3-compatible store; use as an async context."""

    def __init__(self, settings: SeederOriginSettings) -> None:
        self.settings = settings
        self._exit = contextlib.AsyncExitStack()
        self._client: Any = None

    async def __aenter__(self) -> S3Bucket:
        self._client = await self._exit.enter_async_context(s3_client(self.settings))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._exit.aclose()
        self._client = None

    def _key(self, key: str) -> str:
        return self.settings.prefix + key

    async def head(self, key: str) -> ObjectInfo | None:
        """Size, ETag and modification time of ``key``; ``None`` if it does not exist."""
        try:
            answer = await self._client.head_object(Bucket=self.settings.bucket, Key=self._key(key))
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise OriginError(f"the S3 origin refused HEAD {key}: {_message(exc)}") from None
        except BotoCoreError as exc:
            raise OriginError(f"the S3 origin is unreachable: {exc}") from None
        return ObjectInfo(
            size=int(answer["ContentLength"]),
            etag=str(answer.get("ETag") or '""'),
            mtime=answer["LastModified"].timestamp(),
        )

    async def read_range(self, key: str, offset: int, count: int) -> AsyncIterator[bytes]:
        """The bytes ``offset .. offset + count - 1`` of ``key``, streamed in blocks."""
        try:
            answer = await self._client.get_object(
                Bucket=self.settings.bucket,
                Key=self._key(key),
                Range=f"bytes={offset}-{offset + count - 1}",
            )
        except (ClientError, BotoCoreError) as exc:
            raise OriginError(f"the S3 origin refused GET {key}: {exc}") from None
        async with answer["Body"] as body:
            async for block in body.iter_chunks(READ_BLOCK):
                yield block

    async def read(self, key: str) -> bytes:
        try:
            answer = await self._client.get_object(Bucket=self.settings.bucket, Key=self._key(key))
            async with answer["Body"] as body:
                return bytes(await body.read())
        except (ClientError, BotoCoreError) as exc:
            raise OriginError(f"the S3 origin refused GET {key}: {exc}") from None

    async def put(self, key: str, data: bytes) -> None:
        try:
            await self._client.put_object(
                Bucket=self.settings.bucket, Key=self._key(key), Body=data
            )
        except (ClientError, BotoCoreError) as exc:
            raise OriginError(f"the S3 origin refused PUT {key}: {exc}") from None

    async def copy(self, source_key: str, key: str) -> None:
        """A server-side copy: the bytes do not travel through this machine."""
        source = {"Bucket": self.settings.bucket, "Key": self._key(source_key)}
        try:
            await self._client.copy_object(
                Bucket=self.settings.bucket, Key=self._key(key), CopySource=source
            )
        except (ClientError, BotoCoreError) as exc:
            raise OriginError(f"the S3 origin refused to copy {source_key}: {exc}") from None

    async def put_file(
        self, key: str, source: Path, sha256: str, on_bytes: Callable[[int], None] | None
    ) -> None:
        """Upload ``source`` (in parts if large), completing only if its SHA-256 matches."""
        small = await asyncio.to_thread(_read_small, source)
        if small is not None:
            if hashlib.sha256(small).hexdigest() != sha256:
                raise OriginError(f"{source} changed while it was being published")
            await self.put(key, small)
            if on_bytes:
                on_bytes(len(small))
            return
        bucket, full_key = self.settings.bucket, self._key(key)
        try:
            started = await self._client.create_multipart_upload(Bucket=bucket, Key=full_key)
            upload_id = started["UploadId"]
            try:
                parts = await self._send_parts(full_key, upload_id, source, sha256, on_bytes)
            except BaseException:
                await self._client.abort_multipart_upload(
                    Bucket=bucket, Key=full_key, UploadId=upload_id
                )
                raise
            await self._client.complete_multipart_upload(
                Bucket=bucket, Key=full_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except (ClientError, BotoCoreError) as exc:
            raise OriginError(f"the S3 origin refused the upload of {key}: {exc}") from None

    async def _send_parts(
        self,
        full_key: str,
        upload_id: str,
        source: Path,
        sha256: str,
        on_bytes: Callable[[int], None] | None,
    ) -> list[dict[str, Any]]:
        digest = hashlib.sha256()
        parts: list[dict[str, Any]] = []
        try:
            reader = await asyncio.to_thread(source.open, "rb")
        except OSError as exc:
            raise OriginError(f"cannot read {source}: {exc.strerror}") from None
        with reader:
            # An empty file is still one (empty) part: S3 needs at least one.
            while (block := await asyncio.to_thread(reader.read, PART_SIZE)) or not parts:
                digest.update(block)
                answer = await self._client.upload_part(
                    Bucket=self.settings.bucket,
                    Key=full_key,
                    UploadId=upload_id,
                    PartNumber=len(parts) + 1,
                    Body=block,
                )
                parts.append({"PartNumber": len(parts) + 1, "ETag": answer["ETag"]})
                if on_bytes and block:
                    on_bytes(len(block))
                if not block:
                    break
        if digest.hexdigest() != sha256:
            raise OriginError(f"{source} changed while it was being published")
        return parts

    async def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (without the bucket's own prefix)."""
        found: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(
                Bucket=self.settings.bucket, Prefix=self._key(prefix)
            ):
                found += [
                    item["Key"][len(self.settings.prefix) :] for item in page.get("Contents", [])
                ]
        except (ClientError, BotoCoreError) as exc:
            raise OriginError(f"the S3 origin refused a listing of {prefix}: {exc}") from None
        return found

    async def torrents(self) -> list[StoredTorrent]:
        stored = []
        for key in await self.keys("torrents/"):
            parts = key.split("/")
            if len(parts) != 3 or not GAME_ID.match(parts[1]):
                continue
            stem, dot, suffix = parts[2].partition(".")
            if dot and suffix == "torrent" and stem.isdigit() and stem.isascii():
                stored.append(StoredTorrent(parts[1], int(stem), Path(key)))
        return sorted(stored, key=lambda item: (item.game_id, item.release))


class S3Origin(OriginStore):
    """The publish pipeline's view of an S3 origin (blocking calls, safe from many threads)."""

    def __init__(self, settings: SeederOriginSettings) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="s3-origin", daemon=True
        )
        self._thread.start()
        self._bucket = S3Bucket(settings)
        try:
            self._run(self._bucket.__aenter__())
        except BaseException:
            self._stop_loop()
            raise

    def close(self) -> None:
        try:
            self._run(self._bucket.__aexit__())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> S3Origin:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, work: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def put_file(
        self,
        game_id: str,
        release: int,
        path: str,
        source: Path,
        sha256: str,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self._run(self._bucket.put_file(file_key(game_id, release, path), source, sha256, on_bytes))

    def reuse_file(self, game_id: str, release: int, path: str, earlier: FileCopy) -> bool:
        return self._run(self._reuse(file_key(game_id, release, path), earlier))

    async def _reuse(self, key: str, earlier: FileCopy) -> bool:
        source = file_key(earlier.game_id, earlier.release, earlier.path)
        info = await self._bucket.head(source)
        if info is None or info.size != earlier.size or info.size > MAX_COPY_SIZE:
            return False
        await self._bucket.copy(source, key)
        return True

    def has_chunk(self, sha256: str) -> bool:
        return self._run(self._bucket.head(chunk_key(sha256))) is not None

    def present_chunks(self, sha256s: Sequence[str]) -> set[str]:
        return self._run(self._present(list(sha256s)))

    async def _present(self, sha256s: list[str]) -> set[str]:
        limit = asyncio.Semaphore(MAX_CONCURRENT_HEADS)

        async def present(sha256: str) -> bool:
            async with limit:
                return await self._bucket.head(chunk_key(sha256)) is not None

        found = await asyncio.gather(*(present(sha256) for sha256 in sha256s))
        return {sha256 for sha256, there in zip(sha256s, found, strict=True) if there}

    def put_chunk(self, sha256: str, data: bytes, *, verified: bool = False) -> None:
        if not verified and hashlib.sha256(data).hexdigest() != sha256:
            raise OriginError(f"chunk {sha256} does not match its content")
        self._run(self._put_chunk(sha256, data))

    async def _put_chunk(self, sha256: str, data: bytes) -> None:
        key = chunk_key(sha256)
        if await self._bucket.head(key) is None:
            await self._bucket.put(key, data)

    def put_torrent(self, game_id: str, release: int, data: bytes) -> None:
        self._run(self._bucket.put(torrent_key(game_id, release), data))

    def torrents(self) -> Iterator[StoredTorrent]:
        yield from self._run(self._bucket.torrents())


def _read_small(source: Path) -> bytes | None:
    """The whole file if it fits in one part (one PUT instead of a multipart upload)."""
    try:
        with source.open("rb") as reader:
            data = reader.read(PART_SIZE + 1)
    except OSError as exc:
        raise OriginError(f"cannot read {source}: {exc.strerror}") from None
    return data if len(data) <= PART_SIZE else None


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message") or error)
