"""Typed keys for what the library app keeps on its ``web.Application``."""

from __future__ import annotations

import weakref

from aiohttp import web

from library_api.events import EventBus
from library_api.metrics import LibraryMetrics
from library_api.options import LibraryOptions
from library_api.playtime import SessionRules
from library_api.save_storage import SaveStorage
from library_api.store import LibraryStore

STORE = web.AppKey("library_store", LibraryStore)
METRICS = web.AppKey("library_metrics", LibraryMetrics)
BUS = web.AppKey("library_bus", EventBus)
OPTIONS = web.AppKey("library_options", LibraryOptions)
# The playtime rules of OPTIONS, built once: every heartbeat consults them.
RULES = web.AppKey("library_session_rules", SessionRules)
SAVES = web.AppKey("library_saves", SaveStorage)
SOCKETS = web.AppKey("library_sockets", weakref.WeakSet[web.WebSocketResponse[bool]])
