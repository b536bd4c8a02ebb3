"""Maintenance windows: is a device, site or district in planned work at time t, and
which intervals of a range are covered (excluded from availability, alerts suppressed).

One-off windows have ``starts_at``/``ends_at`` (UTC). Recurring windows repeat weekly in
WIB: ``weekdays`` (``mon,tue,…``; empty means every day), ``start_time`` ``HH:MM`` and
``duration_minutes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Protocol

from core.timeutil import WIB, as_utc

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WindowLike(Protocol):
    scope: str
    target: str
    starts_at: datetime | None
    ends_at: datetime | None
    weekdays: str | None
    start_time: str | None
    duration_minutes: int | None


Interval = tuple[datetime, datetime]


def parse_weekdays(text: str | None) -> frozenset[int]:
    """``"mon,thu"`` → ``{0, 3}``; empty → every day. Raises ValueError on a bad name."""
    if not text or not text.strip():
        return frozenset(range(7))
    days = set()
    for part in text.split(","):
        name = part.strip().lower()[:3]
        if name not in WEEKDAYS:
            raise ValueError(f"unknown weekday {part.strip()!r} (use mon,tue,wed,thu,fri,sat,sun)")
        days.add(WEEKDAYS.index(name))
    return frozenset(days)


def parse_hhmm(text: str) -> time:
    """``"22:30"`` → ``time(22, 30)``; ValueError otherwise."""
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError) as exc:
        raise ValueError(f"bad time {text!r}: expected HH:MM") from exc


def applies_to(
    window: WindowLike,
    *,
    device_id: str | None = None,
    site_id: str | None = None,
    district_code: str | None = None,
) -> bool:
    """Does ``window`` cover this device (or its site, or its district)?"""
    if window.scope == "device":
        return device_id is not None and window.target == device_id
    if window.scope == "site":
        return site_id is not None and window.target == site_id
    if window.scope == "district":
        return district_code is not None and window.target == district_code
    return False


def window_intervals(window: WindowLike, start: datetime, end: datetime) -> list[Interval]:
    """The parts of ``[start, end)`` that ``window`` covers, as UTC intervals."""
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return []
    if window.starts_at is not None and window.ends_at is not None:
        lo, hi = max(start, as_utc(window.starts_at)), min(end, as_utc(window.ends_at))
        return [(lo, hi)] if lo < hi else []
    if not window.start_time or not window.duration_minutes:
        return []
    days = parse_weekdays(window.weekdays)
    at = parse_hhmm(window.start_time)
    length = timedelta(minutes=window.duration_minutes)
    result: list[Interval] = []
    first: date = (start.astimezone(WIB) - length).date() - timedelta(days=1)
    last: date = end.astimezone(WIB).date()
    day = first
    while day <= last:
        if day.weekday() in days:
            begin = datetime.combine(day, at, tzinfo=WIB).astimezone(start.tzinfo)
            lo, hi = max(start, begin), min(end, begin + length)
            if lo < hi:
                result.append((lo, hi))
        day += timedelta(days=1)
    return result


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of intervals, sorted and non-overlapping."""
    merged: list[Interval] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def maintenance_intervals(
    windows: Sequence[WindowLike],
    start: datetime,
    end: datetime,
    *,
    device_id: str | None = None,
    site_id: str | None = None,
    district_code: str | None = None,
) -> list[Interval]:
    """Merged maintenance intervals within ``[start, end)`` for one subject."""
    return merge(
        interval
        for w in windows
        if applies_to(w, device_id=device_id, site_id=site_id, district_code=district_code)
        for interval in window_intervals(w, start, end)
    )


def in_maintenance(
    windows: Sequence[WindowLike],
    at: datetime,
    *,
    device_id: str | None = None,
    site_id: str | None = None,
    district_code: str | None = None,
) -> bool:
    """Is the subject in a maintenance window at ``at``?"""
    at = as_utc(at)
    return bool(
        maintenance_intervals(
            windows,
            at,
            at + timedelta(microseconds=1),
            device_id=device_id,
            site_id=site_id,
            district_code=district_code,
        )
    )


def covered_seconds(intervals: Sequence[Interval]) -> float:
    """Total length of (merged) intervals in seconds."""
    return sum((hi - lo).total_seconds() for lo, hi in merge(intervals))
