"""The library API's exception hierarchy; each error knows how it crosses the wire."""

from __future__ import annotations


class LibraryError(Exception):
    """Base of every error the library package raises on purpose."""

    status = 500
    title = "Library Error"
    code = "LIBRARY_ERROR"
    extensions: dict[str, object] = {}


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


class NotFound(LibraryError):
    """Something the caller named does not exist (for them)."""

    status = 404
    title = "Not Found"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class Unprocessable(LibraryError):
    """Well-formed, but what it describes does not match (an upload's size or hash)."""

    status = 422
    title = "Unprocessable Content"

    def __init__(self, code: str, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.code = code
        self.extensions = extensions


class Refused(LibraryError):
    """The caller may not do this now (not while not playing, not with this role…)."""

    status = 403
    title = "Forbidden"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class Conflict(LibraryError):
    """The request contradicts the current state; extensions carry what the client needs."""

    status = 409
    title = "Conflict"

    def __init__(self, code: str, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.code = code
        self.extensions = extensions


class InvalidSessionOperation(LibraryError):
    """A playtime call that breaks the session rules (closed, future, too fast, duplicate)."""

    status = 400
    title = "Bad Request"
    code = "INVALID_SESSION_OPERATION"


class QuotaExceeded(LibraryError):
    status = 403
    title = "Forbidden"
    code = "QUOTA_EXCEEDED"

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.extensions = extensions


class StoreUnavailable(LibraryError):
    """The library database cannot be opened, migrated or reached."""

    status = 503
    title = "Service Unavailable"
    code = "DATABASE_UNAVAILABLE"


class LibraryConfigError(LibraryError):
    """The configuration cannot run a library API (for example an empty platform key)."""
