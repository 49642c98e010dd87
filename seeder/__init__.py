"""The publish pipeline (build → chunks → torrent → manifest → origin → signature → swarm)
and the CDN node (trust metadata, release files as a BEP 19 web seed, chunks, BT seed)."""

from seeder.build import BuildFile, scan_build
from seeder.cdn import create_app
from seeder.chunking import ChunkParams, FileDigest, chunk_file, chunk_stream
from seeder.errors import OriginError, PublishError, RegistrationError, SeederError
from seeder.origin import LocalOrigin, OriginStore, StoredTorrent
from seeder.origin_settings import SeederOriginSettings
from seeder.publish import PublishResult, publish_release
from seeder.ranges import ByteRange, RangeNotSatisfiable, parse_range
from seeder.s3_origin import S3Origin
from seeder.torrent import create_release_torrent, piece_length_for, web_seed_urls

__all__ = [
    "BuildFile",
    "ByteRange",
    "ChunkParams",
    "FileDigest",
    "LocalOrigin",
    "OriginError",
    "OriginStore",
    "PublishError",
    "PublishResult",
    "RangeNotSatisfiable",
    "RegistrationError",
    "S3Origin",
    "SeederError",
    "SeederOriginSettings",
    "StoredTorrent",
    "chunk_file",
    "chunk_stream",
    "create_app",
    "create_release_torrent",
    "parse_range",
    "piece_length_for",
    "publish_release",
    "scan_build",
    "web_seed_urls",
]
