import pytest

from peer import Download, DownloadConflict, DownloadState, plan, queue_order
from peer.queue import reordered_positions


def item(name: str, position: int, priority: int = 0, state: str = "queued") -> Download:
    return Download(
        id=name, game_id=name, release=1, state=DownloadState(state), position=position,
        priority=priority,
    )  # fmt: skip


def test_priority_then_position_decides_the_order() -> None:
    items = [item("a", 0), item("b", 1, priority=5), item("c", 2), item("d", 3, state="paused")]
    assert [d.id for d in queue_order(items)] == ["b", "a", "c", "d"]


def test_only_max_concurrent_run_and_higher_priority_takes_a_slot() -> None:
    items = [item("a", 0, state="downloading"), item("b", 1), item("c", 2)]
    assert plan(items, {"a"}, 1).start == () and plan(items, {"a"}, 2).start == ("b",)
    items.append(item("urgent", 3, priority=9))
    chosen = plan(items, {"a"}, 1)
    assert chosen.start == ("urgent",) and chosen.stop == ("a",)


def test_finished_and_paused_downloads_free_their_slot() -> None:
    items = [item("a", 0, state="installed"), item("b", 1, state="paused"), item("c", 2)]
    assert plan(items, set(), 1).start == ("c",)


def test_reorder_puts_named_ones_first_and_keeps_the_rest() -> None:
    items = [item("a", 0), item("b", 1), item("c", 2)]
    assert reordered_positions(items, ["c"]) == {"c": 0, "a": 1, "b": 2}
    with pytest.raises(DownloadConflict, match="not in the queue: zz"):
        reordered_positions(items, ["zz"])
