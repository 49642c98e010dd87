"""The seeder's exception hierarchy: every failure a publisher or a CDN operator can see."""

from __future__ import annotations


class SeederError(Exception):
    """Base of every error raised by the publish pipeline and the CDN node."""


class PublishError(SeederError):
    """A release cannot be published; the message says why in one line."""


class OriginError(SeederError):
    """The origin store refused a read or a write."""


class RegistrationError(PublishError):
    """The tracker or the library API did not accept the new release."""
