"""The whole network on loopback, every service a real ``peerpipe`` process."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from peerpipe.demo import GAME_ID, MIB, NON_OWNERS, OWNERS, ScenarioOptions, run_scenario

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


async def test_owners_install_from_swarm_and_cdn_and_non_owner_is_refused(tmp_path: Path) -> None:
    options = ScenarioOptions(root=tmp_path, game_bytes=24 * MIB, cdn_rate_limit=6 * MIB)

    result = await run_scenario(options)

    by_user = {agent.user: agent for agent in result.agents}
    build = _tree_digest(tmp_path / "build")
    for user in OWNERS:
        agent = by_user[user]
        assert agent.state in {"installed", "seeding"}, agent
        assert agent.verified
        installed = _tree_digest(tmp_path / "agents" / user / "games" / GAME_ID / "1")
        assert installed == build
    for user in NON_OWNERS:
        assert by_user[user].state == "refused"
        assert not (tmp_path / "agents" / user / "games" / GAME_ID / "1").exists()
    assert len(result.refused) == 1
    assert result.refused[0].startswith("carol: ") and "own" in result.refused[0]
    assert result.release_bytes >= 24 * MIB
    assert result.peer_bytes > 0, "the owners never traded a byte with each other"
    assert result.cdn_bytes < 2 * result.release_bytes
    assert dict(result.library_status) == dict.fromkeys(OWNERS, "installed")
    owners_total = sum(by_user[u].peer_bytes + by_user[u].cdn_bytes for u in OWNERS)
    assert owners_total >= 2 * result.release_bytes * 0.95
