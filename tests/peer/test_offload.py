import itertools

from hypothesis import given
from hypothesis import strategies as st

from peer import OffloadController, OffloadPolicy, SwarmSample
from peer.offload import cdn_intake_limit, unavailable_pieces, useful_sources

MIB = 1024 * 1024
POLICY = OffloadPolicy(target_rate=4 * MIB, grace_seconds=2, patience_seconds=3, calm_seconds=6)


def run(controller: OffloadController, samples: list[tuple[float, int, int, int]]) -> list[bool]:
    return [
        controller.observe(SwarmSample(at, rate, sources, unavailable))
        for at, rate, sources, unavailable in samples
    ]


def test_web_seeds_stay_out_while_the_swarm_delivers() -> None:
    controller = OffloadController(POLICY, started_at=0.0, p2p_enabled=True)
    decisions = run(controller, [(t, 6 * MIB, 3, 0) for t in range(30)])
    assert not any(decisions)


def test_web_seeds_come_in_at_once_when_nobody_has_anything() -> None:
    controller = OffloadController(POLICY, started_at=0.0, p2p_enabled=True)
    decisions = run(controller, [(0.5, 0, 0, 10), (1.5, 0, 0, 10), (2.0, 0, 0, 10)])
    assert decisions == [False, False, True]


def test_web_seeds_come_in_after_a_sustained_shortfall_and_leave_after_calm() -> None:
    controller = OffloadController(POLICY, started_at=0.0, p2p_enabled=True)
    slow = [(float(t), MIB, 2, 0) for t in range(2, 7)]
    assert run(controller, slow) == [False, False, False, True, True]
    fast = [(float(t), 6 * MIB, 2, 0) for t in range(7, 15)]
    assert run(controller, fast) == [True] * 6 + [False, False]


def test_pieces_missing_from_the_swarm_bring_web_seeds_in() -> None:
    controller = OffloadController(POLICY, started_at=0.0, p2p_enabled=True)
    decisions = run(controller, [(float(t), 8 * MIB, 2, 3) for t in range(2, 7)])
    assert decisions[-1] is True


def test_without_p2p_web_seeds_are_always_on() -> None:
    controller = OffloadController(POLICY, started_at=0.0, p2p_enabled=False)
    assert run(controller, [(0.0, 9 * MIB, 3, 0), (10.0, 9 * MIB, 3, 0)]) == [True, True]


def test_the_cdn_is_held_back_only_while_players_hold_every_missing_piece() -> None:
    target = 4 * MIB
    # pieces nobody else holds: only the CDN can send them, as fast as it can
    assert cdn_intake_limit(fresh_pieces=3, peer_rate=9 * MIB, target_rate=target, share=0.5) == 0
    # players hold everything but deliver too little: the CDN fills in
    assert cdn_intake_limit(fresh_pieces=0, peer_rate=MIB, target_rate=target, share=0.5) == 0
    # players hold everything and deliver: the CDN trickles
    limit = cdn_intake_limit(fresh_pieces=0, peer_rate=9 * MIB, target_rate=target, share=0.5)
    assert limit == 2 * MIB


def test_piece_availability_counts() -> None:
    have = [True, False, False, False]
    sources = [[True, True, False, False], [False, False, True, False]]
    assert unavailable_pieces(have, sources) == 1
    assert useful_sources(have, sources) == 2
    assert useful_sources(have, [[True, False, False, False]]) == 0


@given(
    st.lists(
        st.tuples(st.integers(0, 20 * MIB), st.integers(0, 5), st.integers(0, 5)),
        max_size=40,
    )
)
def test_controller_never_flaps_faster_than_its_hysteresis(
    samples: list[tuple[int, int, int]],
) -> None:
    controller = OffloadController(POLICY, started_at=0.0, p2p_enabled=True)
    changes = []
    previous = False
    for index, (rate, sources, unavailable) in enumerate(samples):
        on = controller.observe(SwarmSample(float(index), rate, sources, unavailable))
        if on != previous:
            changes.append((index, on))
        previous = on
    for (at, on), (later, _) in itertools.pairwise(changes):
        if on:  # switched on, then off: only after a calm period
            assert later - at >= POLICY.calm_seconds
