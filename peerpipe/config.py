"""One typed configuration object, built once from ``PEERPIPE_*`` environment variables.

Every service starts with none of them set: defaults give a single-machine network on
loopback with all state under ``PEERPIPE_DATA_DIR``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "peerpipe"


class ConfigError(ValueError):
    """A ``PEERPIPE_*`` variable holds a value that cannot be used."""


@dataclass(frozen=True)
class S3Location:
    """An S3-compatible bucket (AWS, MinIO, moto); an empty ``endpoint_url`` means none."""

    endpoint_url: str = ""
    bucket: str = ""
    access_key: str = ""
    secret_key: str = ""
    region: str = "us-east-1"
    prefix: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.endpoint_url)


@dataclass(frozen=True)
class LibraryConfig:
    host: str = "127.0.0.1"
    port: int = 8700
    database_url: str = ""
    redis_url: str = ""
    public_url: str = "http://127.0.0.1:8700"
    saves_s3: S3Location = field(default_factory=S3Location)


@dataclass(frozen=True)
class TrackerConfig:
    host: str = "127.0.0.1"
    port: int = 8701
    udp_port: int = 0
    public_url: str = "http://127.0.0.1:8701"
    library_url: str = "http://127.0.0.1:8700"
    redis_url: str = ""
    announce_interval: int = 1800
    min_announce_interval: int = 60
    access_cache_ttl: float = 60.0
    max_numwant: int = 200
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class SeederConfig:
    host: str = "127.0.0.1"
    port: int = 8702
    region: str = "local"
    public_url: str = "http://127.0.0.1:8702"
    origin_dir: Path = DEFAULT_DATA_DIR / "origin"
    bt_port: int = 0
    upload_rate_limit: int = 0
    http_rate_limit: int = 0
    origin_s3: S3Location = field(default_factory=S3Location)


@dataclass(frozen=True)
class AgentConfig:
    host: str = "127.0.0.1"
    port: int = 8703
    data_dir: Path = DEFAULT_DATA_DIR / "agent"
    install_dir: Path = DEFAULT_DATA_DIR / "games"
    cdn_urls: tuple[str, ...] = ("http://127.0.0.1:8702",)
    tracker_url: str = "http://127.0.0.1:8701"
    library_url: str = "http://127.0.0.1:8700"
    trusted_root: Path | None = None
    user_token: str = ""
    download_rate_limit: int = 0
    upload_rate_limit: int = 0


@dataclass(frozen=True)
class Config:
    data_dir: Path = DEFAULT_DATA_DIR
    log_level: str = "INFO"
    log_json: bool = True
    platform_key: str = ""
    jwt_public_key_file: Path | None = None
    # None: not set, so commands that need it prompt; "" means "keys are not encrypted".
    key_passphrase: str | None = None
    trust_dir: Path = DEFAULT_DATA_DIR / "trust"
    library: LibraryConfig = field(default_factory=LibraryConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    seeder: SeederConfig = field(default_factory=SeederConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Build the configuration from ``env`` (the process environment by default)."""
        source = os.environ if env is None else env
        return _Reader(source).build()

    def with_data_dir(self, data_dir: Path) -> Config:
        """The same configuration with every default path moved under ``data_dir``."""
        return replace(
            self,
            data_dir=data_dir,
            trust_dir=data_dir / "trust",
            library=replace(
                self.library, database_url=f"sqlite+aiosqlite:///{data_dir / 'library.db'}"
            ),
            seeder=replace(self.seeder, origin_dir=data_dir / "origin"),
            agent=replace(self.agent, data_dir=data_dir / "agent", install_dir=data_dir / "games"),
        )


def load_or_create_platform_key(data_dir: Path) -> str:
    """The platform's token-signing secret, created (mode 0600) on first use."""
    key_file = data_dir / "platform.key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        return self._env.get(f"PEERPIPE_{name}", default).strip() or default

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        raw = self._env.get(f"PEERPIPE_{name}", "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"PEERPIPE_{name} must be a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"PEERPIPE_{name} must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self._env.get(f"PEERPIPE_{name}", "").strip()
        if not raw:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"PEERPIPE_{name} must be a number, got {raw!r}") from None

    def items(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self._env.get(f"PEERPIPE_{name}", "")
        values = tuple(part.strip() for part in raw.split(",") if part.strip())
        return values or default

    def optional(self, name: str) -> str | None:
        return self._env.get(f"PEERPIPE_{name}")

    def s3_location(self, name: str) -> S3Location:
        location = S3Location(
            endpoint_url=self.text(f"{name}_S3_URL", ""),
            bucket=self.text(f"{name}_S3_BUCKET", ""),
            access_key=self.text(f"{name}_S3_ACCESS_KEY", ""),
            secret_key=self.text(f"{name}_S3_SECRET_KEY", ""),
            region=self.text(f"{name}_S3_REGION", "us-east-1"),
            prefix=self.text(f"{name}_S3_PREFIX", ""),
        )
        if location.configured and not location.bucket:
            raise ConfigError(f"PEERPIPE_{name}_S3_BUCKET must be set with PEERPIPE_{name}_S3_URL")
        return location

    def path(self, name: str, default: Path) -> Path:
        raw = self._env.get(f"PEERPIPE_{name}", "").strip()
        return Path(raw).expanduser() if raw else default

    def build(self) -> Config:
        data_dir = self.path("DATA_DIR", DEFAULT_DATA_DIR)
        base = Config().with_data_dir(data_dir)
        library_port = self.integer("LIBRARY_PORT", 8700)
        tracker_port = self.integer("TRACKER_PORT", 8701)
        seeder_port = self.integer("SEEDER_PORT", 8702)
        library_url = self.text("LIBRARY_URL", f"http://127.0.0.1:{library_port}")
        tracker_url = self.text("TRACKER_URL", f"http://127.0.0.1:{tracker_port}")
        seeder_url = self.text("SEEDER_PUBLIC_URL", f"http://127.0.0.1:{seeder_port}")
        redis_url = self.text("REDIS_URL", "")
        public_key = self.text("JWT_PUBLIC_KEY_FILE", "")
        return Config(
            data_dir=data_dir,
            log_level=self.text("LOG_LEVEL", "INFO").upper(),
            log_json=self.text("LOG_FORMAT", "json") == "json",
            platform_key=self.text("PLATFORM_KEY", ""),
            jwt_public_key_file=Path(public_key) if public_key else None,
            key_passphrase=self.optional("KEY_PASSPHRASE"),
            trust_dir=self.path("TRUST_DIR", base.trust_dir),
            library=LibraryConfig(
                host=self.text("LIBRARY_HOST", "127.0.0.1"),
                port=library_port,
                database_url=self.text("LIBRARY_DATABASE_URL", base.library.database_url),
                redis_url=redis_url,
                public_url=library_url,
                saves_s3=self.s3_location("SAVES"),
            ),
            tracker=TrackerConfig(
                host=self.text("TRACKER_HOST", "127.0.0.1"),
                port=tracker_port,
                udp_port=self.integer("TRACKER_UDP_PORT", 0),
                public_url=tracker_url,
                library_url=library_url,
                redis_url=redis_url,
                announce_interval=self.integer("TRACKER_ANNOUNCE_INTERVAL", 1800, minimum=1),
                min_announce_interval=self.integer("TRACKER_MIN_INTERVAL", 60, minimum=1),
                access_cache_ttl=min(self.number("TRACKER_ACCESS_CACHE_TTL", 60.0), 60.0),
                max_numwant=self.integer("TRACKER_MAX_NUMWANT", 200, minimum=1),
                trusted_proxies=self.items("TRACKER_TRUSTED_PROXIES", ()),
            ),
            seeder=SeederConfig(
                host=self.text("SEEDER_HOST", "127.0.0.1"),
                port=seeder_port,
                region=self.text("SEEDER_REGION", "local"),
                public_url=seeder_url,
                origin_dir=self.path("ORIGIN_DIR", base.seeder.origin_dir),
                bt_port=self.integer("SEEDER_BT_PORT", 0),
                upload_rate_limit=self.integer("SEEDER_UPLOAD_RATE_LIMIT", 0),
                http_rate_limit=self.integer("SEEDER_HTTP_RATE_LIMIT", 0),
                origin_s3=self.s3_location("ORIGIN"),
            ),
            agent=AgentConfig(
                host=self.text("AGENT_HOST", "127.0.0.1"),
                port=self.integer("AGENT_PORT", 8703),
                data_dir=self.path("AGENT_DATA_DIR", base.agent.data_dir),
                install_dir=self.path("AGENT_INSTALL_DIR", base.agent.install_dir),
                cdn_urls=self.items("CDN_URLS", (seeder_url,)),
                tracker_url=tracker_url,
                library_url=library_url,
                trusted_root=self.path("TRUSTED_ROOT", Path())
                if self.text("TRUSTED_ROOT", "")
                else None,
                user_token=self.text("USER_TOKEN", ""),
                download_rate_limit=self.integer("AGENT_DOWNLOAD_RATE_LIMIT", 0),
                upload_rate_limit=self.integer("AGENT_UPLOAD_RATE_LIMIT", 0),
            ),
        )
