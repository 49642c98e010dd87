"""Keeps the trust metadata a CDN node serves fresh: the online timestamp (and snapshot)
are re-signed before they expire, so agents never see a frozen repository just because no
release was published for a while."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from peerpipe.logs import fields
from signing import TrustError, TrustRepository

log = logging.getLogger("peerpipe.seeder.metadata")

REFRESH_EVERY_SECONDS = 600.0


class MetadataRefresher:
    """Calls :meth:`TrustRepository.refresh_if_expiring` now and then in a worker thread."""

    def __init__(self, repository: TrustRepository, every_seconds: float = REFRESH_EVERY_SECONDS):
        self._repository = repository
        self._every = every_seconds
        self._task: asyncio.Task[None] | None = None

    async def refresh_once(self) -> bool:
        try:
            refreshed = await asyncio.to_thread(self._repository.refresh_if_expiring)
        except (TrustError, OSError) as exc:
            log.error("trust metadata refresh failed", extra=fields(error=str(exc)))
            return False
        if refreshed:
            log.info("trust metadata re-signed before expiry")
        return refreshed

    async def _run(self) -> None:
        while True:
            await self.refresh_once()
            await asyncio.sleep(self._every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="trust-metadata-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
