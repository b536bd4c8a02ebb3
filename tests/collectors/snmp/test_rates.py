"""Reboot detection from sysUpTime: a TimeTicks wrap is not a reboot.

Counter deltas (wrap, reboot, never negative) are tested with the store that computes
them, in ``tests/collectors/test_store.py``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.store import counter_delta, uptime_went_back


def test_uptime_going_back_is_a_reboot() -> None:
    assert uptime_went_back(360_000, 1_500) is True
    assert uptime_went_back(1_500, 7_500) is False
    assert uptime_went_back(None, 7_500) is False


def test_timeticks_wrap_is_not_a_reboot() -> None:
    prev = 2**32 - 3000  # 30 s before the wrap
    assert uptime_went_back(prev, 3000, elapsed_seconds=60.0) is False
    assert uptime_went_back(prev, 3000, elapsed_seconds=3600.0) is True


@settings(deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.booleans())
def test_counter_delta_never_negative(prev: int, cur: int, rebooted: bool) -> None:
    assert counter_delta(prev, cur, rebooted=rebooted) >= 0
