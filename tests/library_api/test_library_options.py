from __future__ import annotations

from library_api.options import options_from_config
from peerpipe.config import Config


def test_saves_go_to_s3_only_when_configured() -> None:
    assert options_from_config(Config.from_env({})).s3 is None
    configured = Config.from_env(
        {"PEERPIPE_SAVES_S3_URL": "http://127.0.0.1:9000", "PEERPIPE_SAVES_S3_BUCKET": "saves"}
    )
    s3 = options_from_config(configured).s3
    assert s3 is not None and (s3.endpoint_url, s3.bucket) == ("http://127.0.0.1:9000", "saves")
