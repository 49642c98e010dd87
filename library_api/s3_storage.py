"""Cloud-save bytes in an S3-compatible store (MinIO, AWS S3, moto), through real S3
presigned URLs: clients upload and download without the library API in the path."""

from __future__ import annotations

import hashlib
import time
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

from library_api.errors import StoreUnavailable
from library_api.options import S3Settings
from library_api.save_storage import PresignedUrl, StoredObject

KEY_PREFIX = "saves/"


class S3SaveStorage:
    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def start(self) -> None:
        settings = self._settings
        client = get_session().create_client(
            "s3",
            endpoint_url=settings.endpoint_url,
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            region_name=settings.region,
            config=AioConfig(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        self._client = await self._stack.enter_async_context(client)
        try:
            await self._client.head_bucket(Bucket=settings.bucket)
        except ClientError:
            try:
                await self._client.create_bucket(Bucket=settings.bucket)
            except (ClientError, BotoCoreError) as exc:
                await self._stack.aclose()
                raise StoreUnavailable(f"cannot use S3 bucket {settings.bucket}: {exc}") from None
        except BotoCoreError as exc:
            await self._stack.aclose()
            raise StoreUnavailable(f"cannot reach S3 at {settings.endpoint_url}: {exc}") from None

    async def close(self) -> None:
        await self._stack.aclose()

    async def _presign(self, operation: str, key: str, ttl: int) -> str:
        url: str = await self._client.generate_presigned_url(
            operation,
            Params={"Bucket": self._settings.bucket, "Key": KEY_PREFIX + key},
            ExpiresIn=ttl,
        )
        return url

    async def upload_url(self, base_url: str, key: str, size: int, ttl: int) -> PresignedUrl:
        url = await self._presign("put_object", key, ttl)
        return PresignedUrl(url, "PUT", int(time.time()) + ttl, {})

    async def download_url(self, base_url: str, key: str, ttl: int) -> PresignedUrl:
        url = await self._presign("get_object", key, ttl)
        return PresignedUrl(url, "GET", int(time.time()) + ttl, {})

    async def stat(self, key: str) -> StoredObject | None:
        try:
            answer = await self._client.get_object(
                Bucket=self._settings.bucket, Key=KEY_PREFIX + key
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise StoreUnavailable(f"S3 refused to read {key}: {exc}") from None
        digest = hashlib.sha256()
        size = 0
        async with answer["Body"] as body:
            while chunk := await body.read(1 << 16):
                digest.update(chunk)
                size += len(chunk)
        return StoredObject(size=size, sha256=digest.hexdigest())

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self._settings.bucket, Key=KEY_PREFIX + key)
