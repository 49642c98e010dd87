from __future__ import annotations

from pathlib import Path

import pytest

from peerpipe.config import Config, ConfigError, load_or_create_platform_key


def test_no_variables_gives_a_loopback_network_under_the_default_data_dir() -> None:
    config = Config.from_env({})
    assert config.library.public_url == "http://127.0.0.1:8700"
    assert config.tracker.library_url == config.library.public_url
    assert config.agent.cdn_urls == (config.seeder.public_url,)
    assert config.library.database_url.startswith("sqlite+aiosqlite:///")
    assert config.seeder.origin_dir == config.data_dir / "origin"


def test_data_dir_moves_every_default_path(tmp_path: Path) -> None:
    config = Config.from_env({"PEERPIPE_DATA_DIR": str(tmp_path)})
    assert config.trust_dir == tmp_path / "trust"
    assert config.agent.install_dir == tmp_path / "games"
    assert str(tmp_path / "library.db") in config.library.database_url


def test_ports_feed_the_urls_other_services_use() -> None:
    config = Config.from_env(
        {"PEERPIPE_LIBRARY_PORT": "9100", "PEERPIPE_CDN_URLS": "http://a, http://b"}
    )
    assert config.library.port == 9100
    assert config.tracker.library_url == "http://127.0.0.1:9100"
    assert config.agent.cdn_urls == ("http://a", "http://b")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PEERPIPE_LIBRARY_PORT", "eighty", "whole number"),
        ("PEERPIPE_SEEDER_HTTP_RATE_LIMIT", "-5", "at least 0"),
        ("PEERPIPE_TRACKER_ACCESS_CACHE_TTL", "soon", "a number"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        Config.from_env({name: value})
    assert message in str(caught.value)


def test_access_cache_ttl_is_capped_at_sixty_seconds() -> None:
    config = Config.from_env({"PEERPIPE_TRACKER_ACCESS_CACHE_TTL": "3600"})
    assert config.tracker.access_cache_ttl == 60.0


def test_platform_key_is_created_once_and_private(tmp_path: Path) -> None:
    first = load_or_create_platform_key(tmp_path)
    second = load_or_create_platform_key(tmp_path)
    assert first == second and len(first) >= 32
    assert (tmp_path / "platform.key").stat().st_mode & 0o777 == 0o600


def test_s3_locations_are_read_and_a_missing_bucket_is_named() -> None:
    config = Config.from_env(
        {
            "PEERPIPE_ORIGIN_S3_URL": "http://127.0.0.1:9000",
            "PEERPIPE_ORIGIN_S3_BUCKET": "origin",
            "PEERPIPE_SAVES_S3_URL": "http://127.0.0.1:9000",
            "PEERPIPE_SAVES_S3_BUCKET": "saves",
            "PEERPIPE_SAVES_S3_REGION": "eu-west-1",
        }
    )
    assert config.seeder.origin_s3.configured and config.seeder.origin_s3.bucket == "origin"
    assert config.library.saves_s3.region == "eu-west-1"
    assert not Config.from_env({}).library.saves_s3.configured
    with pytest.raises(ConfigError, match="PEERPIPE_SAVES_S3_BUCKET"):
        Config.from_env({"PEERPIPE_SAVES_S3_URL": "http://127.0.0.1:9000"})


def test_key_passphrase_distinguishes_unset_from_empty() -> None:
    assert Config.from_env({}).key_passphrase is None
    assert Config.from_env({"PEERPIPE_KEY_PASSPHRASE": ""}).key_passphrase == ""
