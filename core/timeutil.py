"""Time helpers: everything is stored in UTC and shown in WIB (Asia/Jakarta)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; naive values are taken to be UTC already.

    SQLite hands back naive datetimes even for ``DateTime(timezone=True)`` columns.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_wib(value: datetime) -> datetime:
    """Convert a stored (UTC) datetime to Asia/Jakarta time."""
    return as_utc(value).astimezone(WIB)


def format_wib(value: datetime | None, *, seconds: bool = False) -> str:
    """Render a datetime for people: ``2026-11-22 14:05 WIB``; ``-`` for None."""
    if value is None:
        return "-"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return to_wib(value).strftime(fmt) + " WIB"
