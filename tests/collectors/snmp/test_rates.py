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


def test_a_known_32_bit_counter_wraps_at_2_32() -> None:
    assert counter_delta(2**32 - 100, 50, bits=32) == 150
    assert counter_delta(10, 5, bits=32) == 2**32 - 5


def test_a_small_64_bit_counter_going_back_is_a_reset_not_a_32_bit_wrap() -> None:
    assert counter_delta(1_000, 40, bits=64) == 40
    assert counter_delta(2**64 - 3, 7, bits=64) == 10


@settings(deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_32_bit_delta_is_the_advance_modulo_2_32(prev: int, advance: int) -> None:
    assert counter_delta(prev, (prev + advance) % 2**32, bits=32) == advance
