"""Typed keys for what the library app keeps on its ``web.Application``."""

from __future__ import annotations

from aiohttp import web

from library_api.metrics import LibraryMetrics
from library_api.store import LibraryStore

STORE = web.AppKey("library_store", LibraryStore)
METRICS = web.AppKey("library_metrics", LibraryMetrics)
