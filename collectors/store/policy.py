"""The store's vocabulary and rules: statuses, the policy, transitions, the freshness rule."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.base import DeviceStatus
from core.timeutil import as_utc

UP, DOWN, UNREACHABLE, UNKNOWN = (
    DeviceStatus.UP.value,
    DeviceStatus.DOWN.value,
    DeviceStatus.UNREACHABLE.value,
    DeviceStatus.UNKNOWN.value,
)
_CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


@dataclass(frozen=True, slots=True)
class StorePolicy:
    """The rules the store applies (from settings: ``StorePolicy.from_settings``)."""

    down_after_failures: int = 3
    stale_after_intervals: float = 3.0
    default_interval_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: Any) -> StorePolicy:
        """Build the policy from a :class:`core.settings.Settings`."""
        return cls(
            down_after_failures=max(1, int(settings.down_after_failures)),
            stale_after_intervals=float(settings.stale_after_intervals),
            default_interval_seconds=float(settings.poll_interval_seconds),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change produced by a write (also persisted as a ``StateTransition``)."""

    kind: str
    subject: str
    from_status: str
    to_status: str
    at: datetime
    reason: str | None


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _clip(reason: str | None) -> str | None:
    return (reason or "")[:512] or None
