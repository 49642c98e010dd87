"""Which origin store the seeder uses: a local directory (default) or an S3-compatible bucket.

Built from ``config.seeder.origin_s3`` (the ``PEERPIPE_ORIGIN_S3_*`` variables), or from an
explicit mapping in tests; nothing here reads the environment by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from peerpipe.config import S3Location
from seeder.errors import OriginError

VARIABLES = (
    "PEERPIPE_ORIGIN_S3_URL",
    "PEERPIPE_ORIGIN_S3_BUCKET",
    "PEERPIPE_ORIGIN_S3_ACCESS_KEY",
    "PEERPIPE_ORIGIN_S3_SECRET_KEY",
    "PEERPIPE_ORIGIN_S3_REGION",
    "PEERPIPE_ORIGIN_S3_PREFIX",
)


@dataclass(frozen=True)
class SeederOriginSettings:
    """Where the origin lives; with an empty ``s3_url`` it is ``config.seeder.origin_dir``."""

    s3_url: str = ""  # endpoint, e.g. http://127.0.0.1:9000 (MinIO) or https://s3.amazonaws.com
    bucket: str = ""
    access_key: str = ""
    secret_key: str = ""
    region: str = "us-east-1"
    prefix: str = ""  # key prefix inside the bucket, e.g. "peerpipe/"

    def __post_init__(self) -> None:
        if self.s3_url and not self.bucket:
            raise OriginError("PEERPIPE_ORIGIN_S3_BUCKET must be set with PEERPIPE_ORIGIN_S3_URL")
        if self.prefix and not self.prefix.endswith("/"):
            object.__setattr__(self, "prefix", self.prefix + "/")

    @property
    def uses_s3(self) -> bool:
        return bool(self.s3_url)

    @classmethod
    def from_location(cls, location: S3Location) -> SeederOriginSettings:
        """The origin named by the shared configuration (``config.seeder.origin_s3``)."""
        return cls(
            s3_url=location.endpoint_url,
            bucket=location.bucket,
            access_key=location.access_key,
            secret_key=location.secret_key,
            region=location.region,
            prefix=location.prefix,
        )

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> SeederOriginSettings:
        """Read the ``PEERPIPE_ORIGIN_S3_*`` entries of ``env`` (e.g. ``os.environ``)."""

        def text(name: str, default: str = "") -> str:
            return env.get(f"PEERPIPE_ORIGIN_S3_{name}", "").strip() or default

        return cls(
            s3_url=text("URL"),
            bucket=text("BUCKET"),
            access_key=text("ACCESS_KEY"),
            secret_key=text("SECRET_KEY"),
            region=text("REGION", "us-east-1"),
            prefix=text("PREFIX"),
        )
