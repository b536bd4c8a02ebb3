"""The store's vocabulary and rules: statuses, the policy, transitions, the freshness rule."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    #: When the poller applying this policy started watching (None: not a poller). Data
    #: older than that is judged as if confirmed then: the poller's own downtime (a restart)
    #: must not turn a steady fleet ``unknown`` before it has had time to poll it again.
    watching_since: datetime | None = None
    #: How far behind its schedule the poller applying this policy is, in seconds: a state
    #: the poller was late to confirm is not stale by that much (its lag, not the device's).
    lag_grace_seconds: float = 0.0

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


def stale_after_seconds(
    interval_seconds: float | None, policy: StorePolicy | None = None
) -> float:
    """How long a confirmed state stays fresh: ``stale_after_intervals`` poll intervals
    (the device's own interval, else the policy's default)."""
    policy = policy or StorePolicy()
    return float(interval_seconds or policy.default_interval_seconds) * (
        policy.stale_after_intervals
    )


def fresh_until(
    checked_at: datetime | None,
    *,
    interval_seconds: float | None = None,
    policy: StorePolicy | None = None,
    max_age_seconds: float | None = None,
) -> datetime | None:
    """Until when a state last confirmed at ``checked_at`` is fresh (None: never was)."""
    if checked_at is None:
        return None
    checked_at = as_utc(checked_at)
    if policy is not None and policy.watching_since is not None and max_age_seconds is None:
        checked_at = max(checked_at, as_utc(policy.watching_since))
    bound = max_age_seconds
    if bound is None:
        bound = stale_after_seconds(interval_seconds, policy)
        if policy is not None:
            bound += max(0.0, policy.lag_grace_seconds)
    return as_utc(checked_at) + timedelta(seconds=bound)


def is_fresh(
    checked_at: datetime | None,
    *,
    now: datetime,
    interval_seconds: float | None = None,
    policy: StorePolicy | None = None,
    max_age_seconds: float | None = None,
) -> bool:
    """THE freshness rule, used by the store's views, readiness, ``/metrics`` and the
    dashboard: a state is fresh when a poll confirmed it (``checked_at``, not ``since``: a
    steady state is confirmed by every poll) no longer ago than the bound.

    The bound is ``max_age_seconds`` when given (a readiness policy's ``max_age_minutes``),
    else ``stale_after_intervals`` times ``interval_seconds`` (:func:`stale_after_seconds`).
    A state never confirmed is not fresh.
    """
    until = fresh_until(checked_at, interval_seconds=interval_seconds, policy=policy,
                        max_age_seconds=max_age_seconds)
    return until is not None and as_utc(now) <= until


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _clip(reason: str | None) -> str | None:
    return (reason or "")[:512] or None
