"""An update (or a recovery) in its own process that dies with os._exit at checkpoint N.

``python updates_crash_child.py apply|recover GAME_DIR MANIFEST CDN_URL N``; N = 0 never
dies and prints the checkpoint names it passed as JSON, so the parent knows every point.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp

from peer.updates import Checkpoint, HttpChunkSource, UpdateApplier, recover
from signing import ReleaseManifest

KILLED = 137


async def apply(
    game_dir: Path, manifest: ReleaseManifest, cdn_url: str, checkpoint: Checkpoint
) -> None:
    async with aiohttp.ClientSession() as http:
        applier = UpdateApplier(HttpChunkSource(http, [cdn_url]), checkpoint=checkpoint)
        await applier.apply(game_dir, manifest)


def main() -> None:
    action, game_dir, manifest_path, cdn_url, crash_at = sys.argv[1:6]
    passed: list[str] = []

    def checkpoint(step: str) -> None:
        passed.append(step)
        if len(passed) == int(crash_at):
            os._exit(KILLED)  # like kill -9: no cleanup, no flush, no finally blocks

    if action == "recover":
        recover(Path(game_dir), checkpoint=checkpoint)
    else:
        manifest = ReleaseManifest.from_json(Path(manifest_path).read_bytes())
        print("started", flush=True)  # for a parent that kills at a random moment instead
        asyncio.run(apply(Path(game_dir), manifest, cdn_url, checkpoint))
    print(json.dumps(passed), flush=True)


if __name__ == "__main__":
    main()
