"""The start-up heap is frozen: full collections no longer walk it."""

from __future__ import annotations

import gc
import weakref

from qn_bot.heap import freeze_startup_heap


class Node:
    def __init__(self) -> None:
        self.me = self


def test_objects_alive_at_start_up_leave_the_collector_and_garbage_does_not() -> None:
    garbage = weakref.ref(Node())  # a cycle: only a collection frees it
    alive = Node()
    before = gc.get_freeze_count()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > before
        assert garbage() is None  # collected, not frozen forever
        assert not any(o is alive for o in gc.get_objects())  # frozen: out of the collector's sight
    finally:
        gc.unfreeze()
    assert any(o is alive for o in gc.get_objects())
