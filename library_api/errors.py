"""The library API's exception hierarchy; each error knows how it crosses the wire."""

from __future__ import annotations


class LibraryError(Exception):
    """Base of every error the library package raises on purpose."""

    status = 500
    title = "Library Error"
    code = "LIBRARY_ERROR"


class InvalidRequest(LibraryError):
    """A request body or query that cannot be used; the message says which field and why."""

    status = 400
    title = "Bad Request"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class GameNotInLibrary(LibraryError):
    """The caller (or the named user) does not hold the game, or no longer does."""

    status = 404
    title = "Not Found"
    code = "GAME_NOT_IN_LIBRARY"

    def __init__(self, game_id: str) -> None:
        super().__init__(f"game {game_id} is not in this library")
        self.game_id = game_id


class StoreUnavailable(LibraryError):
    """The library database cannot be opened, migrated or reached."""

    status = 503
    title = "Service Unavailable"
    code = "DATABASE_UNAVAILABLE"


class LibraryConfigError(LibraryError):
    """The configuration cannot run a library API (for example an empty platform key)."""
