"""What can go wrong while updating, rolling back or recovering an installed game."""

from __future__ import annotations

from peer.errors import AgentError


class UpdateError(AgentError):
    """An update cannot go on; the installed release is left as it was."""


class GameNotInstalled(UpdateError):
    """No current release of the game is recorded in the install directory."""


class UpdateInProgress(UpdateError):
    """Another update, rollback or recovery holds the game directory."""


class ChunkUnavailable(UpdateError):
    """No chunk source could deliver a chunk whose bytes match its SHA-256."""


class UpdateVerificationFailed(UpdateError):
    """A staged file does not match the new manifest (size, SHA-256 or mode)."""


class NotEnoughSpaceForUpdate(UpdateError):
    """The file system cannot hold the staged release next to the installed one."""


class RollbackUnavailable(UpdateError):
    """There is no previous release to switch back to, or it no longer verifies."""


class CorruptUpdateState(UpdateError):
    """The pointer, journal or a stored manifest in a game directory cannot be read."""


class WrongReleaseKey(UpdateError):
    """The key handed over for a locked release does not match its manifest's key check."""
