from hypothesis import given
from hypothesis import strategies as st

from peer import ByteLedger, ConnectionSample, Source


def sample(port: int, source: Source, total: int) -> ConnectionSample:
    return ConnectionSample(key=("1", "127.0.0.1", port), source=source, total_download=total)


def test_live_connections_count_by_source() -> None:
    ledger = ByteLedger()
    ledger.observe([sample(1, Source.PEER, 100), sample(2, Source.CDN, 50)])
    ledger.observe([sample(1, Source.PEER, 300), sample(2, Source.CDN, 70)])
    split = ledger.observed()
    assert (split.peer, split.cdn) == (300, 70)


def test_closed_connections_keep_their_last_bytes() -> None:
    ledger = ByteLedger()
    ledger.observe([sample(1, Source.PEER, 400), sample(2, Source.CDN, 50)])
    ledger.observe([sample(2, Source.CDN, 90)])
    ledger.observe([])
    split = ledger.observed()
    assert (split.peer, split.cdn) == (400, 90)


def test_reconnect_on_same_endpoint_is_a_new_connection() -> None:
    ledger = ByteLedger()
    ledger.observe([sample(1, Source.PEER, 500)])
    ledger.observe([sample(1, Source.PEER, 20)])
    assert ledger.observed().peer == 520


def test_reconciled_split_sums_to_torrent_payload() -> None:
    ledger = ByteLedger()
    ledger.observe([sample(1, Source.PEER, 300), sample(2, Source.CDN, 100)])
    split = ledger.reconciled(800)
    assert (split.peer, split.cdn) == (600, 200)


def test_unobserved_payload_is_counted_as_cdn() -> None:
    assert ByteLedger().reconciled(1000).cdn == 1000


@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(1, 5), st.sampled_from(list(Source)), st.integers(0, 10**9)),
            max_size=5,
        ),
        max_size=10,
    ),
    st.integers(0, 10**10),
)
def test_reconciled_split_is_never_negative_and_sums_exactly(
    polls: list[list[tuple[int, Source, int]]], total: int
) -> None:
    ledger = ByteLedger()
    for poll in polls:
        unique = {port: (port, source, n) for port, source, n in poll}
        ledger.observe(sample(port, source, n) for port, source, n in unique.values())
    split = ledger.reconciled(total)
    assert split.peer >= 0 and split.cdn >= 0
    assert split.total == total
