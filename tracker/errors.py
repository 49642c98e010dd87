"""The tracker's exception hierarchy: every refusal it can give has a class and a clear message."""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error the tracker raises on purpose."""


class BencodeError(TrackerError, ValueError):
    """Bytes are not canonical bencode, or a value cannot be bencoded."""


class AnnounceError(TrackerError, ValueError):
    """An announce or scrape request is malformed; the message becomes the failure reason."""


class SwarmConflict(TrackerError):
    """An info-hash is already registered to a different game or release."""


class AccessUnavailable(TrackerError):
    """The library API could not answer an access question (down, slow or refusing us)."""


class UnknownSwarm(TrackerError):
    """An info-hash is not registered with this tracker."""


class SwarmFull(TrackerError):
    """Tracking one more peer would exceed the store's memory bound."""
