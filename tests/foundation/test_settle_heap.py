"""`bootstrap.settle_heap`: what a daemon does to the garbage collector once started."""

from __future__ import annotations

import gc

from gateway import bootstrap


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_start_up_objects_leave_the_collector_and_later_cycles_are_still_collected() -> None:
    threshold = gc.get_threshold()
    try:
        kept = [_Cycle() for _ in range(100)]
        bootstrap.settle_heap()
        assert gc.get_freeze_count() >= len(kept)  # start-up objects: never walked again
        assert gc.get_threshold()[0] == bootstrap.GC_YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == threshold[1:]
        gc.collect()
        visible = sum(1 for o in gc.get_objects() if isinstance(o, _Cycle))
        assert visible == 0  # frozen objects are not even listed
        _Cycle()  # garbage made after start-up, in a reference cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
