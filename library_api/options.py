"""Tunable rules of the library service that ``peerpipe.config`` does not carry (yet).

Defaults are the platform's policy; tests and benches pass their own values to
``create_app(config, options)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from peerpipe.config import Config


@dataclass(frozen=True)
class S3Settings:
    """An S3-compatible store for cloud saves (MinIO, AWS, moto); empty endpoint: local store."""

    endpoint_url: str = ""
    bucket: str = "peerpipe-saves"
    access_key: str = ""
    secret_key: str = ""
    region: str = "us-east-1"


@dataclass(frozen=True)
class LibraryOptions:
    # A session with no heartbeat for this long is closed at its last heartbeat.
    afk_limit_seconds: float = 900.0
    # Heartbeats closer together than this are refused (clients send one a minute).
    min_heartbeat_interval_seconds: float = 30.0
    # Client clocks may run this far ahead of ours before their times count as "future".
    clock_skew_seconds: float = 5.0
    family_max_members: int = 5
    page_size_max: int = 100
    save_versions_kept: int = 10
    save_quota_bytes: int = 1 << 30
    save_quota_files: int = 100
    save_max_bytes: int = 256 << 20
    signed_url_ttl_seconds: int = 900
    # None: ``<data_dir>/saves``.
    save_dir: Path | None = None
    s3: S3Settings | None = None
    settings_max_bytes: int = 64 << 10
    events_stream: str = "peerpipe:library:events"
    payments_stream: str = "peerpipe:payments:events"
    consumer_group: str = "library-api"


def options_from_config(config: Config) -> LibraryOptions:
    """The platform's defaults, with cloud saves in S3 when ``PEERPIPE_SAVES_S3_*`` name a bucket."""
    location = config.library.saves_s3
    if not location.configured:
        return LibraryOptions()
    return LibraryOptions(
        s3=S3Settings(
            endpoint_url=location.endpoint_url,
            bucket=location.bucket,
            access_key=location.access_key,
            secret_key=location.secret_key,
            region=location.region,
        )
    )
