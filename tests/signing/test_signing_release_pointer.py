"""latest.json: critical releases and changelogs are signed with the pointer, optional in its
JSON (older pointers keep their bytes) and reach the agent verified."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from signing_support import make_manifest

from signing import ManifestError, ReleasePointer, TrustClient, TrustRepository
from signing.tuf_api import Signer

changelogs = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), whitelist_characters="\n\t"), max_size=200
)


@given(st.integers(1, 1 << 31), st.text(min_size=1, max_size=20), st.booleans(), changelogs)
def test_pointers_round_trip(release: int, version: str, critical: bool, changelog: str) -> None:
    pointer = ReleasePointer("space-miner", release, version, critical, changelog)
    data = pointer.to_canonical_json()
    assert ReleasePointer.from_json(data) == pointer
    document = json.loads(data)
    assert ("critical" in document) == critical
    assert ("changelog" in document) == bool(changelog)


def test_a_plain_pointer_keeps_its_bytes() -> None:
    pointer = ReleasePointer("space-miner", 3, "1.3")
    assert pointer.to_canonical_json() == b'{"game_id":"space-miner","release":3,"version":"1.3"}'


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"critical": "yes"}, "critical must be true or false"),
        ({"critical": 1}, "critical must be true or false"),
        ({"changelog": 5}, "changelog must be a string"),
        ({"changelog": "a\x00b"}, "control characters"),
        ({"changelog": "x" * (64 * 1024 + 1)}, "longer than"),
        ({"extra": 1}, "optionally"),
    ],
)
def test_bad_pointer_fields_are_refused(document: dict[str, object], message: str) -> None:
    value = {"game_id": "space-miner", "release": 1, "version": "1.0", **document}
    with pytest.raises(ManifestError, match=message):
        ReleasePointer.from_json(json.dumps(value).encode())


async def test_the_agent_gets_the_critical_flag_and_changelog_verified(
    repository: TrustRepository, publisher: Signer, make_client: Callable[..., TrustClient]
) -> None:
    first, second = make_manifest(release=1), make_manifest(release=2)
    repository.publish_release(first, publisher)
    client = make_client()
    manifest, pointer = await asyncio.to_thread(client.fetch_latest, "space-miner")
    assert manifest == first and not pointer.critical and pointer.changelog == ""

    notes = "Fixes the save-game exploit.\n- crash on start fixed"
    repository.publish_release(second, publisher, critical=True, changelog=notes)

    manifest, pointer = await asyncio.to_thread(client.fetch_latest, "space-miner")
    assert manifest == second
    assert (pointer.release, pointer.critical, pointer.changelog) == (2, True, notes)
