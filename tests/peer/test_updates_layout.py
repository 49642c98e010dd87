"""The pointer and journal files: what is written is read back; anything else on disk is a
CorruptUpdateState, never another exception or a guess."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from peer.updates import CorruptUpdateState, CurrentRelease, Phase, UpdateJournal
from peer.updates.layout import (
    JOURNAL_NAME,
    POINTER_NAME,
    read_journal,
    read_pointer,
    write_journal,
    write_pointer,
)

releases = st.integers(min_value=1, max_value=2**40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=10,
)


@given(release=releases, previous=st.none() | releases)
@settings(max_examples=30)
def test_pointers_round_trip(release: int, previous: int | None) -> None:
    with tempfile.TemporaryDirectory() as temp:
        write_pointer(Path(temp), CurrentRelease(release, previous))
        assert read_pointer(Path(temp)) == CurrentRelease(release, previous)


@given(
    source=st.none() | releases,
    target=releases,
    phase=st.sampled_from(Phase),
    retire=st.lists(releases, max_size=3).map(tuple),
)
@settings(max_examples=30)
def test_journals_round_trip(
    source: int | None, target: int, phase: Phase, retire: tuple[int, ...]
) -> None:
    journal = UpdateJournal("space-miner", source, target, phase, retire)
    with tempfile.TemporaryDirectory() as temp:
        write_journal(Path(temp), journal)
        assert read_journal(Path(temp)) == journal


@given(data=st.binary(max_size=200) | json_values.map(lambda v: repr(v).encode()))
@settings(max_examples=100)
def test_anything_else_on_disk_is_reported_as_corrupt(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as temp:
        for name, read in ((POINTER_NAME, read_pointer), (JOURNAL_NAME, read_journal)):
            (Path(temp) / name).write_bytes(data)
            with contextlib.suppress(CorruptUpdateState):
                read(Path(temp))


@given(value=json_values)
@settings(max_examples=100)
def test_json_of_the_wrong_shape_is_reported_as_corrupt(value: object) -> None:
    with tempfile.TemporaryDirectory() as temp:
        for name, read in ((POINTER_NAME, read_pointer), (JOURNAL_NAME, read_journal)):
            (Path(temp) / name).write_text(json.dumps(value))
            with contextlib.suppress(CorruptUpdateState):
                read(Path(temp))
