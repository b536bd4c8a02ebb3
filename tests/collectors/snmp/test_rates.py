"""Counter wrap and device reboot never give negative rates."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.snmp import counter_delta, counter_rate, uptime_went_back


def test_counter32_wrap() -> None:
    assert counter_delta(2**32 - 10, 5, bits=32, rebooted=False) == 15


def test_counter64_going_back_is_a_discontinuity_not_a_wrap() -> None:
    assert counter_delta(2**40, 10, bits=64, rebooted=False) is None


def test_counter64_wrap_at_the_top() -> None:
    assert counter_delta(2**64 - 1, 2**64 - 1, bits=64, rebooted=False) == 0


def test_reboot_gives_no_delta() -> None:
    assert counter_delta(1000, 5000, bits=64, rebooted=True) is None
    assert counter_delta(5000, 1000, bits=32, rebooted=True) is None


def test_first_poll_gives_no_delta() -> None:
    assert counter_delta(None, 10, bits=64, rebooted=False) is None


def test_uptime_going_back_is_a_reboot() -> None:
    assert uptime_went_back(360_000, 1_500) is True
    assert uptime_went_back(1_500, 7_500) is False
    assert uptime_went_back(None, 7_500) is False


def test_timeticks_wrap_is_not_a_reboot() -> None:
    prev = 2**32 - 3000  # 30 s before the wrap
    assert uptime_went_back(prev, 3000, elapsed_seconds=60.0) is False
    assert uptime_went_back(prev, 3000, elapsed_seconds=3600.0) is True


def test_rate() -> None:
    assert counter_rate(1000, 7000, 60.0, bits=64, rebooted=False) == 100.0
    assert counter_rate(2**32 - 100, 500, 6.0, bits=32, rebooted=False) == 100.0
    assert counter_rate(1000, 7000, 0.0, bits=64, rebooted=False) is None


@settings(deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.booleans())
def test_counter32_delta_never_negative(prev: int, cur: int, rebooted: bool) -> None:
    d = counter_delta(prev, cur, bits=32, rebooted=rebooted)
    assert d is None or 0 <= d < 2**32


@settings(deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.booleans())
def test_counter64_delta_never_negative(prev: int, cur: int, rebooted: bool) -> None:
    d = counter_delta(prev, cur, bits=64, rebooted=rebooted)
    assert d is None or d >= 0
