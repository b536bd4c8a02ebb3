"""Pure scheduling rules of a rollout: batches and waves, the service-hours window, the
failure threshold and the backoff of unreachable kiosks."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from core.timeutil import WIB, as_utc
from playbooks.choices import WaveMode
from playbooks.errors import RolloutError

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_BATCH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True, slots=True)
class HostSlot:
    """What scheduling needs to know about a host."""

    device_id: str
    village_code: str
    district_code: str


@dataclass(frozen=True, slots=True)
class BatchSize:
    """A batch size: an absolute count or a percentage of the hosts after the canary."""

    value: float
    percent: bool

    @classmethod
    def parse(cls, text: str | int) -> BatchSize:
        """``"5"`` → 5 hosts, ``"25%"`` → a quarter of the hosts; raises on anything else."""
        match = _BATCH.match(str(text))
        if not match:
            raise RolloutError(f"batch size {text!r} is neither N nor P% (for example 5 or 25%)")
        value, pct = float(match.group(1)), bool(match.group(2))
        if value <= 0 or (pct and value > 100):
            raise RolloutError(f"batch size {text!r} must be above 0 (and at most 100%)")
        return cls(value, pct)

    def size(self, total: int) -> int:
        """Hosts per batch out of ``total``."""
        if self.percent:
            return max(1, math.ceil(total * self.value / 100))
        return max(1, int(self.value))

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{int(self.value)}"


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def plan_batches(
    hosts: Sequence[HostSlot],
    *,
    canary: int,
    batch: BatchSize,
    waves: WaveMode = WaveMode.FLAT,
    canary_village: str | None = None,
) -> list[list[str]]:
    """Split ``hosts`` (already in district, village, id order) into batches.

    Flat: the first ``canary`` hosts, then batches of ``batch``. Tree: the canary village
    (``canary_village`` or the first one) — at most ``canary`` of its kiosks, all of them
    when ``canary`` is 0 — then kecamatan by kecamatan, each cut into batches; a batch
    never spans two kecamatan.
    """
    ordered = sorted(hosts, key=lambda h: (h.district_code, h.village_code, h.device_id))
    if not ordered:
        return []
    if waves == WaveMode.FLAT:
        first = [h.device_id for h in ordered[: max(canary, 0)]]
        rest = [h.device_id for h in ordered[max(canary, 0) :]]
        size = batch.size(len(rest)) if rest else 1
        return ([first] if first else []) + _chunks(rest, size)
    village = canary_village or ordered[0].village_code
    in_village = [h.device_id for h in ordered if h.village_code == village]
    if not in_village:
        raise RolloutError(f"canary village {village} has no kiosk in this rollout")
    first = in_village[:canary] if canary > 0 else in_village
    chosen = set(first)
    remaining = [h for h in ordered if h.device_id not in chosen]
    size = batch.size(len(remaining)) if remaining else 1
    batches = [first]
    districts: dict[str, list[str]] = {}
    for h in remaining:
        districts.setdefault(h.district_code, []).append(h.device_id)
    for ids in districts.values():
        batches.extend(_chunks(ids, size))
    return batches


@dataclass(frozen=True, slots=True)
class ServiceWindow:
    """Office hours in WIB during which no kiosk may be restarted (``08:00-15:00`` on
    ``mon,tue,wed,thu,fri``)."""

    start: time
    end: time
    days: frozenset[int]

    @classmethod
    def parse(cls, hours: str, days: str) -> ServiceWindow:
        """Build from the settings strings; raises :class:`RolloutError` on bad input."""
        try:
            a, b = (part.strip() for part in hours.split("-", 1))
            start = time.fromisoformat(a)
            end = time.fromisoformat(b)
        except ValueError as exc:
            raise RolloutError(f"service hours {hours!r} are not HH:MM-HH:MM") from exc
        names = [d.strip().lower()[:3] for d in days.split(",") if d.strip()]
        unknown = [d for d in names if d not in _DAYS]
        if unknown:
            raise RolloutError(f"service days {days!r}: unknown day(s) {', '.join(unknown)}")
        return cls(start=start, end=end, days=frozenset(_DAYS.index(d) for d in names))

    def is_serving(self, now: datetime) -> bool:
        """True while offices serve people (restarts forbidden) at ``now``."""
        local = as_utc(now).astimezone(WIB)
        if local.weekday() not in self.days:
            return False
        return self.start <= local.time().replace(tzinfo=None) < self.end

    def closes_at(self, now: datetime) -> datetime:
        """When the current service period ends (UTC); ``now`` if not serving."""
        if not self.is_serving(now):
            return as_utc(now)
        local = as_utc(now).astimezone(WIB)
        end = datetime.combine(local.date(), self.end, tzinfo=WIB)
        return as_utc(end)

    def describe(self) -> str:
        """``08:00-15:00 WIB mon,tue,…``."""
        days = ",".join(_DAYS[d] for d in sorted(self.days))
        return f"{self.start:%H:%M}-{self.end:%H:%M} WIB {days}"


def failure_percent(failures: int, attempted: int) -> float:
    """Failures as a percentage of the hosts that ran (unreachable ones do not count)."""
    return 100.0 * failures / attempted if attempted else 0.0


def over_threshold(failures: int, attempted: int, max_fail_percent: float) -> bool:
    """True when failures exceed ``max_fail_percent`` (0 means: any failure halts)."""
    return failures > 0 and failure_percent(failures, attempted) > max_fail_percent


def backoff(attempts: int, *, base: float = 300.0, cap: float = 6 * 3600.0) -> timedelta:
    """Wait before retrying an unreachable kiosk: 5 min, 10, 20 … up to 6 h."""
    return timedelta(seconds=min(cap, base * 2 ** max(attempts - 1, 0)))
