"""Counter arithmetic: SNMP counter wraps, reboots (sysUpTime), signed BIGINT storage."""

from __future__ import annotations

_I64 = 2**63
_COUNTERS = ("in_octets", "out_octets", "in_errors", "out_errors", "in_discards", "out_discards")

TIMETICKS_MODULUS = 1 << 32


def uptime_went_back(
    prev_ticks: int | None, cur_ticks: int | None, *, elapsed_seconds: float | None = None
) -> bool:
    """Whether sysUpTime (hundredths of a second) shows a reboot between two polls.

    TimeTicks wrap after ~497 days: a decrease that matches the elapsed wall-clock time
    (when given) is a wrap, not a reboot.
    """
    if prev_ticks is None or cur_ticks is None or cur_ticks >= prev_ticks:
        return False
    if elapsed_seconds is not None:
        wrapped = (cur_ticks + TIMETICKS_MODULUS - prev_ticks) / 100.0
        if abs(wrapped - elapsed_seconds) <= max(10.0, 0.5 * elapsed_seconds):
            return False
    return True


def counter_delta(
    previous: int | None, current: int | None, *, rebooted: bool = False, bits: int | None = None
) -> int:
    """How much a raw SNMP counter advanced, never negative.

    After a reboot the counter restarted from zero, so the advance is ``current``. A
    smaller reading without a reboot is a wrap: of a 32-bit counter when the previous
    reading fits 32 bits, of a 64-bit counter when the previous reading was in the top
    quarter of its range, otherwise a reset (counted as ``current``). ``bits`` (32 or 64),
    when the collector knows the counter's width, decides between 32- and 64-bit wrap.
    """
    if current is None or previous is None or current < 0:
        return 0
    if rebooted:
        return current
    if current >= previous:
        return current - previous
    if bits == 32:
        return (current - previous) % 2**32
    if previous < 2**32 and bits != 64:
        return current + 2**32 - previous
    if previous >= 2**64 - 2**62:
        return current + 2**64 - previous
    return current


def _to_db(value: int | None) -> int | None:
    """Unsigned 64-bit → signed BIGINT (two's complement) for storage."""
    if value is None:
        return None
    value %= 2**64
    return value - 2**64 if value >= _I64 else value


def _from_db(value: int | None) -> int | None:
    if value is None:
        return None
    return value + 2**64 if value < 0 else value
