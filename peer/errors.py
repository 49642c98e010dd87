"""The agent's exception hierarchy: every failure of an install is one of these."""

from __future__ import annotations


class AgentError(Exception):
    """An install cannot go on; the message is shown to the player as is."""


class AccessRefused(AgentError):
    """The library says the player does not own the game (download state ``refused``)."""


class LibraryUnavailable(AgentError):
    """The library API could not be reached or rejected the player's token."""


class ReleaseUnavailable(AgentError):
    """No trusted release manifest could be fetched (trust failure or no reachable CDN)."""


class NotEnoughDiskSpace(AgentError):
    """The install directory cannot hold the release."""


class TorrentError(AgentError):
    """The manifest's torrent is unusable or libtorrent reported a fatal error."""


class ContentRejected(AgentError):
    """Bytes served for a release keep failing its signed piece hashes and no source sends
    valid ones: a compromised CDN node or swarm (TUF's arbitrary software attack)."""


class VerificationFailed(AgentError):
    """Installed files do not match the signed manifest."""


class SettingsInvalid(AgentError):
    """A settings change the agent cannot apply (the message names the field)."""


class DownloadNotFound(AgentError):
    """No download (or no installed game) by that id."""


class DownloadConflict(AgentError):
    """The download is in a state that does not allow the request (e.g. resume when installed)."""


class ReleaseLocked(AgentError):
    """The library holds the release key back until the unlock time."""

    def __init__(self, message: str, unlock_at: str | None) -> None:
        super().__init__(message)
        self.unlock_at = unlock_at


class KeyRefused(AgentError):
    """The library refuses the release key: the player does not own the game."""
