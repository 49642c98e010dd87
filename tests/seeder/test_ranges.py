"""The Range header parser (RFC 9110 §14) against a direct reading of the RFC, by hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seeder import ByteRange, RangeNotSatisfiable, parse_range
from seeder.ranges import MAX_RANGES

Spec = tuple[int | None, int | None]


def _reference(specs: list[Spec], size: int) -> list[ByteRange] | None:
    """What RFC 9110 says each spec selects; None if no spec is satisfiable."""
    chosen = []
    for first, last in specs:
        if first is None:
            assert last is not None
            if last == 0 or size == 0:
                continue
            chosen.append(ByteRange(max(0, size - last), size - 1))
        elif first < size:
            chosen.append(ByteRange(first, size - 1 if last is None else min(last, size - 1)))
    return chosen or None


def _text(spec: Spec) -> str:
    first, last = spec
    return f"{'' if first is None else first}-{'' if last is None else last}"


valid_spec = st.one_of(
    st.tuples(st.integers(0, 10**6), st.none()),
    st.tuples(st.none(), st.integers(0, 10**6)),
    st.integers(0, 10**6).flatmap(lambda a: st.tuples(st.just(a), st.integers(a, a + 10**6))),
)


@given(st.lists(valid_spec, min_size=1, max_size=MAX_RANGES), st.integers(0, 2 * 10**6))
def test_well_formed_ranges_select_what_the_rfc_says(specs: list[Spec], size: int) -> None:
    header = "bytes=" + ", ".join(_text(spec) for spec in specs)
    expected = _reference(specs, size)
    if expected is None:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
        return
    ranges = parse_range(header, size)
    assert ranges == expected
    assert all(0 <= r.start <= r.end < size and r.length == r.end - r.start + 1 for r in ranges)


@given(st.text(max_size=80), st.integers(0, 10**6))
def test_any_header_is_parsed_refused_or_ignored_never_crashes(header: str, size: int) -> None:
    try:
        ranges = parse_range(header, size)
    except RangeNotSatisfiable:
        return
    if ranges is not None:
        assert all(0 <= r.start <= r.end < size for r in ranges)


def test_too_many_ranges_are_refused() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=" + ",".join("0-0" for _ in range(MAX_RANGES + 1)), 10)
