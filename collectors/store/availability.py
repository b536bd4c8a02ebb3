"""Availability and flaps over a window, from persisted transitions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from collectors.models import DeviceState, StateTransition
from collectors.store.policy import (
    DOWN,
    UNKNOWN,
    UNREACHABLE,
    UP,
    StorePolicy,
    _chunks,
    fresh_until,
)
from core.timeutil import as_utc, utcnow
from inventory.maintenance import maintenance_intervals, merge
from inventory.models import Device, Link, MaintenanceWindow, Site


@dataclass(slots=True)
class AvailabilityResult:
    """Availability of a subject over a window.

    ``percent`` is ``100 * up_s / (up_s + down_s)``: time in maintenance, ``unreachable``
    (behind someone else's fault) and ``unknown`` (no fresh data) are left out of both;
    ``None`` when there is no up or down time at all. ``flaps`` counts up→down changes
    outside maintenance. For a site, village or district the seconds and flaps are summed
    over its devices.
    """

    percent: float | None
    up_s: float = 0.0
    down_s: float = 0.0
    unreachable_s: float = 0.0
    unknown_s: float = 0.0
    maintenance_s: float = 0.0
    flaps: int = 0
    subjects: int = 0

    def add(self, other: AvailabilityResult) -> None:
        """Sum ``other`` into this result (percent is recomputed)."""
        self.up_s += other.up_s
        self.down_s += other.down_s
        self.unreachable_s += other.unreachable_s
        self.unknown_s += other.unknown_s
        self.maintenance_s += other.maintenance_s
        self.flaps += other.flaps
        self.subjects += other.subjects
        self.percent = _percent(self.up_s, self.down_s)


def _percent(up: float, down: float) -> float | None:
    total = up + down
    return None if total <= 0 else round(100.0 * up / total, 6)


Interval = tuple[datetime, datetime]


def _overlap(s: datetime, e: datetime, spans: Sequence[Interval]) -> float:
    total = 0.0
    for ms, me in spans:
        lo, hi = max(s, ms), min(e, me)
        if hi > lo:
            total += (hi - lo).total_seconds()
    return total


def _in_spans(at: datetime, spans: Sequence[Interval]) -> bool:
    return any(s <= at < e for s, e in spans)


def _subject_availability(
    segments_from: str,
    changes: Sequence[tuple[datetime, str, str]],
    *,
    start: datetime,
    end: datetime,
    maintenance: Sequence[Interval],
) -> AvailabilityResult:
    result = AvailabilityResult(percent=None, subjects=1)
    state, cursor = segments_from, start
    points = [*changes, (end, "", state)]
    for at, from_status, to_status in points:
        at = min(max(at, start), end)
        if at > cursor:
            span = (at - cursor).total_seconds()
            maint = _overlap(cursor, at, maintenance)
            result.maintenance_s += maint
            own = span - maint
            if state == UP:
                result.up_s += own
            elif state == DOWN:
                result.down_s += own
            elif state == UNREACHABLE:
                result.unreachable_s += own
            else:
                result.unknown_s += own
            cursor = at
        if to_status:
            if from_status == UP and to_status == DOWN and not _in_spans(at, maintenance):
                result.flaps += 1
            state = to_status
    result.percent = _percent(result.up_s, result.down_s)
    return result


GROUP_KINDS = ("site", "village", "district")


def availability(
    session: Session,
    *,
    kind: str,
    subject: str,
    start: datetime,
    end: datetime,
    policy: StorePolicy | None = None,
    now: datetime | None = None,
) -> AvailabilityResult:
    """Availability of one subject over ``[start, end)``.

    Args:
        session: an open session.
        kind: ``device``, ``link``, ``site``, ``village`` (Kemendagri code) or
            ``district`` (Kemendagri code).
        subject: the id or code.
        start, end: the window (aware or UTC-naive datetimes); the part after ``now`` is
            ignored.
        policy: staleness rule for time after a device's last poll (poller stopped).
        now: the current time (tests inject a clock).

    Returns:
        An :class:`AvailabilityResult`; sites/villages/districts sum their devices.

    Raises:
        ValueError: for an unknown ``kind``.
    """
    return availability_many(
        session, kind=kind, subjects=[subject], start=start, end=end, policy=policy, now=now
    )[subject]


def availability_many(
    session: Session,
    *,
    kind: str,
    subjects: Iterable[str] | None = None,
    start: datetime,
    end: datetime,
    policy: StorePolicy | None = None,
    now: datetime | None = None,
) -> dict[str, AvailabilityResult]:
    """:func:`availability` for many subjects of one kind at once (a handful of queries
    whatever their number): every village of the regency, every device of a district…

    ``subjects=None`` means every device, link, site, village or district that has one.
    """
    if kind not in ("device", "link", *GROUP_KINDS):
        raise ValueError(
            f"unknown availability kind {kind!r}: use device, link, site, village or district"
        )
    policy = policy or StorePolicy()
    now = as_utc(now or utcnow())
    start, end = as_utc(start), min(as_utc(end), now)
    wanted = None if subjects is None else list(dict.fromkeys(subjects))
    placement = {
        did: (site, village, district)
        for did, site, village, district in session.execute(
            select(Device.id, Device.site_id, Site.village_code, Site.district_code).join(
                Site, Device.site_id == Site.id
            )
        )
    }
    if kind == "link":
        ends = {
            lid: (a, z)
            for lid, a, z in session.execute(select(Link.id, Link.a_device, Link.z_device))
        }
        ids = list(ends) if wanted is None else wanted
        groups = {lid: [lid] for lid in ids}
    elif kind == "device":
        ids = list(placement) if wanted is None else wanted
        groups = {did: [did] for did in ids}
    else:
        pos = GROUP_KINDS.index(kind)
        groups = {} if wanted is None else {g: [] for g in wanted}
        for did, place in placement.items():
            key = place[pos]
            if wanted is None:
                groups.setdefault(key, [])
            if key in groups:
                groups[key].append(did)
        ids = [d for members in groups.values() for d in members]
    results = {g: AvailabilityResult(percent=None) for g in groups}
    if end <= start or not ids:
        return results
    windows = list(session.scalars(select(MaintenanceWindow)))

    def spans_for(device_ids: Sequence[str]) -> list[Interval]:
        out: list[Interval] = []
        for did in device_ids:
            site, _, district = placement.get(did, (None, None, None))
            out.extend(
                maintenance_intervals(
                    windows, start, end, device_id=did, site_id=site, district_code=district
                )
            )
        return merge(out)

    subject_kind = "link" if kind == "link" else "device"
    initial, changes = _history(session, subject_kind, ids, start, end)
    cutoffs: dict[str, datetime] = {}
    if subject_kind == "device":
        for chunk in _chunks(ids):
            for did, checked, interval in session.execute(
                select(
                    DeviceState.device_id,
                    func.coalesce(DeviceState.checked_at, DeviceState.last_poll_at),
                    DeviceState.poll_interval_seconds,
                ).where(DeviceState.device_id.in_(chunk))
            ):
                until = fresh_until(checked, interval_seconds=interval, policy=policy)
                if until is not None:
                    cutoffs[did] = until
    for group, members in groups.items():
        for sid in members:
            history = list(changes.get(sid, []))
            before = initial.get(sid, UNKNOWN)
            cutoff = cutoffs.get(sid)
            if cutoff is not None and cutoff < end:
                # The poller may have stopped: after the stale limit nothing is known.
                last = history[-1][2] if history else before
                if last != UNKNOWN and (not history or history[-1][0] <= cutoff):
                    history.append((cutoff, last, UNKNOWN))
            if kind == "link":
                spans = spans_for([d for d in ends.get(sid, ()) if d])
            else:
                spans = spans_for([sid])
            results[group].add(
                _subject_availability(before, history, start=start, end=end, maintenance=spans)
            )
    return results


def _history(
    session: Session, kind: str, subjects: Sequence[str], start: datetime, end: datetime
) -> tuple[dict[str, str], dict[str, list[tuple[datetime, str, str]]]]:
    """Each subject's state at ``start`` and its changes within ``[start, end)``."""
    initial: dict[str, tuple[datetime, int, str]] = {}
    changes: dict[str, list[tuple[datetime, str, str]]] = {}
    st = StateTransition
    for chunk in _chunks(list(subjects)):
        last = (
            select(st.subject, func.max(st.at).label("at"))
            .where(st.kind == kind, st.subject.in_(chunk), st.at < start)
            .group_by(st.subject)
            .subquery()
        )
        for subject, at, tid, to_status in session.execute(
            select(st.subject, st.at, st.id, st.to_status)
            .join(last, (st.subject == last.c.subject) & (st.at == last.c.at))
            .where(st.kind == kind)
        ):
            key = (as_utc(at), tid, to_status)
            if subject not in initial or key[:2] > initial[subject][:2]:
                initial[subject] = key
        for subject, at, from_status, to_status in session.execute(
            select(st.subject, st.at, st.from_status, st.to_status)
            .where(st.kind == kind, st.subject.in_(chunk), st.at >= start, st.at < end)
            .order_by(st.subject, st.at, st.id)
        ):
            changes.setdefault(subject, []).append((as_utc(at), from_status, to_status))
    return {k: v[2] for k, v in initial.items()}, changes


def flap_counts(
    session: Session, *, kind: str, start: datetime, end: datetime
) -> dict[str, int]:
    """Up→down changes per subject of ``kind`` (``device``/``link``) within the window
    (maintenance not excluded: use :func:`availability` for that)."""
    stmt = (
        select(StateTransition.subject, func.count())
        .where(
            StateTransition.kind == kind,
            StateTransition.from_status == UP,
            StateTransition.to_status == DOWN,
            StateTransition.at >= as_utc(start),
            StateTransition.at < as_utc(end),
        )
        .group_by(StateTransition.subject)
    )
    return {subject: int(count) for subject, count in session.execute(stmt)}


# --------------------------------------------------------------------------- villages

#: Site kinds that stand for a village, in order of preference (readiness's default).
VILLAGE_SITE_KINDS = ("village_office", "kelurahan_office")

AvailabilityManyFn = Callable[..., dict[str, AvailabilityResult]]


def village_uplinks(
    session: Session,
    *,
    site_kinds: Sequence[str] = VILLAGE_SITE_KINDS,
    villages: Iterable[str] | None = None,
) -> dict[str, str | None]:
    """The uplink that stands for each village: the uplink of its first site of
    ``site_kinds`` (in that order, then by site id; decommissioned sites left out), or None
    when that site has none. The same choice as readiness's "the village office"."""
    rank = {k: i for i, k in enumerate(site_kinds)}
    wanted = None if villages is None else set(villages)
    chosen: dict[str, tuple[int, str]] = {}
    for sid, kind, vcode in session.execute(
        select(Site.id, Site.kind, Site.village_code)
        .where(Site.kind.in_(list(site_kinds)), Site.status != "decommissioned")
        .order_by(Site.id)
    ):
        if wanted is not None and vcode not in wanted:
            continue
        key = (rank[kind], sid)
        if vcode not in chosen or key < chosen[vcode]:
            chosen[vcode] = key
    uplink_of = {
        site: lid
        for lid, site in session.execute(
            select(Link.id, Link.uplink_of).where(Link.uplink_of.is_not(None))
        )
    }
    return {vcode: uplink_of.get(sid) for vcode, (_, sid) in chosen.items()}


def village_uplink_availability(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    villages: Iterable[str] | None = None,
    site_kinds: Sequence[str] = VILLAGE_SITE_KINDS,
    many: AvailabilityManyFn | None = None,
    policy: StorePolicy | None = None,
    now: datetime | None = None,
) -> dict[str, AvailabilityResult]:
    """THE uplink availability of villages: seconds up / seconds observed of the village's
    uplink (:func:`village_uplinks`) over ``[start, end)``.

    Maintenance is left out; time the uplink is ``unreachable`` (behind an upstream fault)
    is charged to the upstream, not to the village; time with no fresh data is not
    observed. Readiness, the SLA report and the Prometheus recording rule
    ``kentongan:uplink_up:observed`` use this definition. ``many`` is the source
    (:func:`collectors.promquery.availability_many_source`; default: this store). A
    village without an uplink gets an empty result (``percent=None``).
    """
    uplinks = village_uplinks(session, site_kinds=site_kinds, villages=villages)
    links = sorted({lid for lid in uplinks.values() if lid})
    if many is None:
        results = availability_many(session, kind="link", subjects=links, start=start,
                                    end=end, policy=policy, now=now) if links else {}
    else:
        results = many(session, kind="link", subjects=links, start=start, end=end,
                       now=now) if links else {}
    return {
        vcode: (results.get(lid) or AvailabilityResult(percent=None)) if lid
        else AvailabilityResult(percent=None)
        for vcode, lid in uplinks.items()
    }
