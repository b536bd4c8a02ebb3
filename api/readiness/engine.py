"""The readiness engine: pure functions from plain village facts and a policy to a verdict.

No HTTP and no database here: :mod:`api.readiness.inputs` gathers the facts. Rules:

* a mandatory check that fails makes the village ``not_qualified``;
* otherwise a mandatory check that is ``unknown`` or ``blocked_upstream`` makes it
  ``unknown`` (stale or missing data never passes silently);
* otherwise the village is ``qualified``.

A kiosk or uplink that cannot be reached because a fibre further up the tree is down is
``blocked_upstream`` (the upstream link is named), not the village's own failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from api.readiness.policy import (
    CHECK_IDS,
    AttestationRule,
    OperatorRule,
    Policy,
)
from api.readiness.versions import parse_version
from kentongan.timeutil import as_utc, format_wib


class Status(StrEnum):
    """The outcome of one check."""

    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    UNKNOWN = "unknown"
    BLOCKED_UPSTREAM = "blocked_upstream"


class VerdictStatus(StrEnum):
    """The outcome for a village."""

    QUALIFIED = "qualified"
    NOT_QUALIFIED = "not_qualified"
    UNKNOWN = "unknown"


UP, DOWN, UNREACHABLE = "up", "down", "unreachable"


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class LinkFact:
    """A link and its current state (``status`` up/down/unreachable/unknown)."""

    id: str
    medium: str
    status: str | None = None
    since: datetime | None = None
    updated_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceFact:
    """A device and its current state as stored by the poller."""

    id: str
    role: str
    status: str | None = None
    last_poll_at: datetime | None = None
    last_ok_at: datetime | None = None
    app_version: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Attestation:
    """An attested fact (facility present, operators trained): who, when, evidence, expiry."""

    facility: str
    value: int
    attested_by: str | None = None
    attested_at: datetime | None = None
    evidence: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IncidentFact:
    """An open incident on the site."""

    id: int
    severity: str
    summary: str | None
    starts_at: datetime | None


@dataclass(frozen=True, slots=True)
class AvailabilityFact:
    """Availability of the uplink over the policy window (seconds by state)."""

    percent: float | None
    up_s: float
    down_s: float
    observed_s: float
    window_s: float


@dataclass(frozen=True, slots=True)
class VillageInputs:
    """Everything the engine needs to judge one village.

    ``upstream_links`` are the links above the village's own uplink, nearest first.
    ``incidents`` is None when incidents are not recorded at all (then: unknown).
    """

    village_code: str
    village_name: str
    district_code: str
    district_name: str
    site_id: str | None = None
    site_name: str | None = None
    site_kind: str | None = None
    uplink: LinkFact | None = None
    upstream_links: tuple[LinkFact, ...] = ()
    availability: AvailabilityFact | None = None
    kiosks: tuple[DeviceFact, ...] = ()
    attestations: dict[str, Attestation] = field(default_factory=dict)
    incidents: tuple[IncidentFact, ...] | None = ()
    lat: float | None = None
    lon: float | None = None


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason in plain words, in English and Bahasa Indonesia."""

    en: str
    id: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: its status, the evidence behind it and the reason in plain words."""

    id: str
    group: str
    status: Status
    mandatory: bool
    reason: Reason
    evidence: dict[str, Any] = field(default_factory=dict)
    blocked_by: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A village's verdict with every check and the reasons it is not qualified."""

    status: VerdictStatus
    checks: tuple[CheckResult, ...]
    blocking_reasons: tuple[Reason, ...]
    evaluated_at: datetime

    @property
    def failing(self) -> tuple[str, ...]:
        """Ids of mandatory checks that did not pass (fail, unknown or blocked)."""
        return tuple(c.id for c in self.checks if c.mandatory and c.status is not Status.PASS)

    @property
    def failed(self) -> tuple[str, ...]:
        """Ids of mandatory checks that failed outright."""
        return tuple(c.id for c in self.checks if c.mandatory and c.status is Status.FAIL)


# --------------------------------------------------------------------------- helpers


def _ts(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def _age_minutes(now: datetime, value: datetime | None) -> float | None:
    if value is None:
        return None
    return round((now - as_utc(value)).total_seconds() / 60.0, 1)


def _fresh(now: datetime, value: datetime | None, max_age_minutes: float) -> bool:
    return value is not None and now - as_utc(value) <= timedelta(minutes=max_age_minutes)


def _result(check_id: str, status: Status, policy: Policy, en: str, id_: str,
            evidence: dict[str, Any], *, blocked_by: str | None = None) -> CheckResult:
    group = check_id.split(".", 1)[0]
    return CheckResult(
        id=check_id, group=group, status=status, mandatory=policy.rule(check_id).mandatory,
        reason=Reason(en=en, id=id_), evidence=evidence, blocked_by=blocked_by,
    )


def _down_upstream(links: Iterable[LinkFact], now: datetime, max_age: float) -> LinkFact | None:
    """The first (nearest) link that is freshly known to be down."""
    for link in links:
        if link.status == DOWN and _fresh(now, link.updated_at, max_age):
            return link
    return None


def _link_evidence(link: LinkFact, now: datetime) -> dict[str, Any]:
    return {
        "link": link.id, "medium": link.medium, "status": link.status,
        "since": _ts(link.since), "updated_at": _ts(link.updated_at),
        "age_minutes": _age_minutes(now, link.updated_at), "reason": link.reason,
    }


# --------------------------------------------------------------------------- checks


def check_uplink(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """The village office has an uplink in the inventory."""
    cid = "network.uplink"
    if v.uplink is None:
        return _result(cid, Status.FAIL, policy, "The village office has no uplink.",
                       "Kantor desa belum punya jaringan uplink.", {"uplink": None})
    return _result(cid, Status.PASS, policy,
                   f"Uplink {v.uplink.id} ({v.uplink.medium}).",
                   f"Uplink {v.uplink.id} ({v.uplink.medium}).",
                   {"uplink": v.uplink.id, "medium": v.uplink.medium})


def check_uplink_up(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """The uplink is up now; stale state is unknown; down behind a down upstream fibre is
    blocked upstream."""
    cid = "network.uplink_up"
    rule = policy.network.uplink_up
    thresholds = {"max_age_minutes": rule.max_age_minutes}
    if v.uplink is None:
        return _result(cid, Status.FAIL, policy, "No uplink, so it cannot be up.",
                       "Tidak ada uplink, jadi tidak bisa aktif.", {"uplink": None, **thresholds})
    link = v.uplink
    evidence = {**_link_evidence(link, now), "thresholds": thresholds}
    if link.status is None or not _fresh(now, link.updated_at, rule.max_age_minutes):
        return _result(cid, Status.UNKNOWN, policy,
                       f"No fresh state for uplink {link.id} (older than "
                       f"{rule.max_age_minutes:g} min or never polled).",
                       f"Status uplink {link.id} tidak terbaru (lebih dari "
                       f"{rule.max_age_minutes:g} menit atau belum pernah dipantau).", evidence)
    if link.status == UP:
        return _result(cid, Status.PASS, policy, f"Uplink {link.id} is up.",
                       f"Uplink {link.id} aktif.", evidence)
    upstream = _down_upstream(v.upstream_links, now, rule.max_age_minutes)
    if link.status in (DOWN, UNREACHABLE) and upstream is not None:
        evidence["upstream"] = _link_evidence(upstream, now)
        return _result(cid, Status.BLOCKED_UPSTREAM, policy,
                       f"Uplink {link.id} is cut off because upstream fibre {upstream.id} "
                       "is down.",
                       f"Uplink {link.id} terputus karena fiber hulu {upstream.id} mati.",
                       evidence, blocked_by=upstream.id)
    if link.status == DOWN:
        return _result(cid, Status.FAIL, policy,
                       f"Uplink {link.id} is down since {format_wib(link.since)}.",
                       f"Uplink {link.id} mati sejak {format_wib(link.since)}.", evidence)
    return _result(cid, Status.UNKNOWN, policy,
                   f"Uplink {link.id} state is {link.status}.",
                   f"Status uplink {link.id}: {link.status}.", evidence)


def check_availability(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """The uplink's availability over the window is at least the policy minimum."""
    cid = "network.availability"
    rule = policy.network.availability
    thresholds = {"min_percent": rule.min_percent, "window_days": rule.window_days,
                  "min_coverage_percent": rule.min_coverage_percent}
    if v.uplink is None:
        return _result(cid, Status.FAIL, policy, "No uplink, so no availability.",
                       "Tidak ada uplink, jadi tidak ada ketersediaan.",
                       {"thresholds": thresholds})
    a = v.availability
    if a is None or a.percent is None or a.window_s <= 0:
        return _result(cid, Status.UNKNOWN, policy,
                       f"No availability data for uplink {v.uplink.id}.",
                       f"Belum ada data ketersediaan uplink {v.uplink.id}.",
                       {"link": v.uplink.id, "thresholds": thresholds})
    coverage = round(100.0 * a.observed_s / a.window_s, 2)
    evidence = {"link": v.uplink.id, "percent": round(a.percent, 3), "coverage_percent": coverage,
                "up_seconds": round(a.up_s), "down_seconds": round(a.down_s),
                "window_end": _ts(now), "thresholds": thresholds}
    if coverage < rule.min_coverage_percent:
        return _result(cid, Status.UNKNOWN, policy,
                       f"Only {coverage:g} % of the last {rule.window_days} days were observed "
                       f"(need {rule.min_coverage_percent:g} %).",
                       f"Baru {coverage:g} % dari {rule.window_days} hari terakhir yang terpantau "
                       f"(perlu {rule.min_coverage_percent:g} %).", evidence)
    if a.percent >= rule.min_percent:
        return _result(cid, Status.PASS, policy,
                       f"Availability {a.percent:.2f} % over {rule.window_days} days.",
                       f"Ketersediaan {a.percent:.2f} % selama {rule.window_days} hari.", evidence)
    return _result(cid, Status.FAIL, policy,
                   f"Availability {a.percent:.2f} % over {rule.window_days} days is below "
                   f"{rule.min_percent:g} %.",
                   f"Ketersediaan {a.percent:.2f} % selama {rule.window_days} hari di bawah "
                   f"{rule.min_percent:g} %.", evidence)


def _blocker(v: VillageInputs, now: datetime, max_age: float) -> LinkFact | None:
    """The nearest link (own uplink first) freshly known to be down."""
    links: list[LinkFact] = [v.uplink] if v.uplink is not None else []
    return _down_upstream([*links, *v.upstream_links], now, max_age)


def _kiosk_evidence(k: DeviceFact, now: datetime) -> dict[str, Any]:
    return {"device": k.id, "status": k.status, "app_version": k.app_version,
            "last_poll_at": _ts(k.last_poll_at), "last_ok_at": _ts(k.last_ok_at),
            "seen_minutes_ago": _age_minutes(now, k.last_ok_at)}


def _no_kiosk(cid: str, policy: Policy, thresholds: dict[str, Any]) -> CheckResult:
    return _result(cid, Status.FAIL, policy, "No kiosk is installed at the village office.",
                   "Belum ada kios di kantor desa.", {"kiosks": [], "thresholds": thresholds})


def check_kiosk_online(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """At least ``min_count`` kiosks are up now (fresh state)."""
    cid = "kiosk.online"
    rule = policy.kiosk.online
    thresholds = {"min_count": rule.min_count, "max_age_minutes": rule.max_age_minutes}
    if not v.kiosks:
        return _no_kiosk(cid, policy, thresholds)
    fresh = [k for k in v.kiosks if _fresh(now, k.last_poll_at, rule.max_age_minutes)]
    online = [k for k in fresh if k.status == UP]
    evidence = {"kiosks": [_kiosk_evidence(k, now) for k in v.kiosks],
                "online": len(online), "thresholds": thresholds}
    if len(online) >= rule.min_count:
        return _result(cid, Status.PASS, policy,
                       f"{len(online)} of {len(v.kiosks)} kiosk(s) online.",
                       f"{len(online)} dari {len(v.kiosks)} kios aktif.", evidence)
    blocker = _blocker(v, now, rule.max_age_minutes)
    if blocker is not None and any(k.status != UP for k in v.kiosks):
        return _result(cid, Status.BLOCKED_UPSTREAM, policy,
                       f"Kiosks cannot be reached: fibre {blocker.id} is down.",
                       f"Kios tidak terjangkau: fiber {blocker.id} mati.", evidence,
                       blocked_by=blocker.id)
    if not fresh:
        return _result(cid, Status.UNKNOWN, policy,
                       f"No fresh kiosk state (none polled within {rule.max_age_minutes:g} min).",
                       f"Status kios tidak terbaru (tidak ada yang dipantau dalam "
                       f"{rule.max_age_minutes:g} menit).", evidence)
    return _result(cid, Status.FAIL, policy,
                   f"{len(online)} kiosk(s) online, {rule.min_count} needed.",
                   f"{len(online)} kios aktif, perlu {rule.min_count}.", evidence)


def check_kiosk_version(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """Every kiosk seen recently reports at least the policy's minimum app version."""
    cid = "kiosk.app_version"
    rule = policy.kiosk.app_version
    thresholds = {"min_version": rule.min_version, "max_age_minutes": rule.max_age_minutes}
    if not v.kiosks:
        return _no_kiosk(cid, policy, thresholds)
    minimum = parse_version(rule.min_version)
    seen = [k for k in v.kiosks if _fresh(now, k.last_ok_at, rule.max_age_minutes)]
    evidence = {"kiosks": [_kiosk_evidence(k, now) for k in v.kiosks], "thresholds": thresholds}
    known = [(k, parse_version(k.app_version)) for k in seen]
    old = [k for k, ver in known if ver is not None and minimum is not None and ver < minimum]
    if old:
        names = ", ".join(f"{k.id} ({k.app_version})" for k in old)
        return _result(cid, Status.FAIL, policy,
                       f"Kiosk app older than {rule.min_version}: {names}.",
                       f"Aplikasi kios lebih lama dari {rule.min_version}: {names}.", evidence)
    good = [k for k, ver in known if ver is not None]
    if good and len(good) == len(known):
        return _result(cid, Status.PASS, policy,
                       f"Kiosk app {', '.join(sorted({k.app_version or '' for k in good}))} "
                       f"(minimum {rule.min_version}).",
                       f"Aplikasi kios {', '.join(sorted({k.app_version or '' for k in good}))} "
                       f"(minimal {rule.min_version}).", evidence)
    blocker = _blocker(v, now, rule.max_age_minutes)
    if not seen and blocker is not None:
        return _result(cid, Status.BLOCKED_UPSTREAM, policy,
                       f"Kiosk version cannot be read: fibre {blocker.id} is down.",
                       f"Versi kios tidak terbaca: fiber {blocker.id} mati.", evidence,
                       blocked_by=blocker.id)
    return _result(cid, Status.UNKNOWN, policy,
                   "No kiosk reported a readable app version recently.",
                   "Tidak ada kios yang melaporkan versi aplikasi baru-baru ini.", evidence)


def check_kiosk_seen(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """At least one kiosk answered within the policy's window; unknown when the poller
    itself has not looked recently."""
    cid = "kiosk.seen"
    rule = policy.kiosk.seen
    thresholds = {"max_age_minutes": rule.max_age_minutes}
    if not v.kiosks:
        return _no_kiosk(cid, policy, thresholds)
    evidence = {"kiosks": [_kiosk_evidence(k, now) for k in v.kiosks], "thresholds": thresholds}
    seen = [k for k in v.kiosks if _fresh(now, k.last_ok_at, rule.max_age_minutes)]
    if seen:
        best = max(as_utc(k.last_ok_at) for k in seen if k.last_ok_at is not None)
        return _result(cid, Status.PASS, policy,
                       f"A kiosk answered at {format_wib(best)}.",
                       f"Kios terakhir menjawab {format_wib(best)}.", evidence)
    blocker = _blocker(v, now, rule.max_age_minutes)
    if blocker is not None:
        return _result(cid, Status.BLOCKED_UPSTREAM, policy,
                       f"Kiosks not seen: fibre {blocker.id} is down.",
                       f"Kios tidak terlihat: fiber {blocker.id} mati.", evidence,
                       blocked_by=blocker.id)
    polled = [k for k in v.kiosks if _fresh(now, k.last_poll_at, rule.max_age_minutes)]
    if not polled:
        return _result(cid, Status.UNKNOWN, policy,
                       f"The kiosks were not polled in the last {rule.max_age_minutes:g} min.",
                       f"Kios tidak dipantau dalam {rule.max_age_minutes:g} menit terakhir.",
                       evidence)
    last = max((as_utc(k.last_ok_at) for k in v.kiosks if k.last_ok_at), default=None)
    return _result(cid, Status.FAIL, policy,
                   f"No kiosk answered in {rule.max_age_minutes:g} min (last: "
                   f"{format_wib(last)}).",
                   f"Tidak ada kios yang menjawab dalam {rule.max_age_minutes:g} menit "
                   f"(terakhir: {format_wib(last)}).", evidence)


_FACILITY_WORDS = {
    "reading_corner": ("reading corner", "pojok baca"),
    "waiting_room": ("comfortable waiting room", "ruang tunggu nyaman"),
    "lactation_room": ("lactation room", "ruang laktasi"),
    "operators_trained": ("trained operator", "operator terlatih"),
}


def _attestation(check_id: str, facility: str, v: VillageInputs, policy: Policy,
                 now: datetime, *, minimum: int) -> CheckResult:
    rule = policy.rule(check_id)
    assert isinstance(rule, AttestationRule)
    en, id_ = _FACILITY_WORDS[facility]
    thresholds: dict[str, Any] = {"min_value": minimum, "max_age_days": rule.max_age_days}
    att = v.attestations.get(facility)
    if att is None:
        return _result(check_id, Status.UNKNOWN, policy, f"No attestation for the {en}.",
                       f"Belum ada pernyataan tentang {id_}.",
                       {"facility": facility, "thresholds": thresholds})
    evidence = {"facility": facility, "value": att.value, "attested_by": att.attested_by,
                "attested_at": _ts(att.attested_at), "evidence": att.evidence,
                "expires_at": _ts(att.expires_at), "thresholds": thresholds}
    if att.expires_at is not None and as_utc(att.expires_at) <= now:
        return _result(check_id, Status.UNKNOWN, policy,
                       f"The attestation for the {en} expired on {format_wib(att.expires_at)}.",
                       f"Pernyataan tentang {id_} kedaluwarsa {format_wib(att.expires_at)}.",
                       evidence)
    if rule.max_age_days is not None and (
        att.attested_at is None
        or now - as_utc(att.attested_at) > timedelta(days=rule.max_age_days)
    ):
        return _result(check_id, Status.UNKNOWN, policy,
                       f"The attestation for the {en} is older than {rule.max_age_days} days "
                       "or undated.",
                       f"Pernyataan tentang {id_} lebih dari {rule.max_age_days} hari atau "
                       "tanpa tanggal.", evidence)
    who = att.attested_by or "?"
    if att.value >= minimum:
        return _result(check_id, Status.PASS, policy,
                       f"The {en} is attested by {who} ({format_wib(att.attested_at)}).",
                       f"Ada {id_}, dinyatakan oleh {who} ({format_wib(att.attested_at)}).",
                       evidence)
    if minimum > 1 or facility == "operators_trained":
        return _result(check_id, Status.FAIL, policy,
                       f"{att.value} {en}(s) attested, {minimum} needed.",
                       f"{att.value} {id_} dinyatakan, perlu {minimum}.", evidence)
    return _result(check_id, Status.FAIL, policy, f"No {en} (attested by {who}).",
                   f"Tidak ada {id_} (dinyatakan oleh {who}).", evidence)


def check_reading_corner(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """A reading corner is attested."""
    return _attestation("facilities.reading_corner", "reading_corner", v, policy, now, minimum=1)


def check_waiting_room(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """A comfortable waiting room is attested."""
    return _attestation("facilities.waiting_room", "waiting_room", v, policy, now, minimum=1)


def check_lactation_room(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """A lactation room is attested (the regency requires one in every service facility)."""
    return _attestation("facilities.lactation_room", "lactation_room", v, policy, now, minimum=1)


def check_trained_operator(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """At least ``min_count`` trained operators are attested."""
    rule = policy.human_resources.trained_operator
    assert isinstance(rule, OperatorRule)
    return _attestation("human_resources.trained_operator", "operators_trained", v, policy, now,
                        minimum=rule.min_count)


def check_incidents(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """No open incident of the policy's severities on the site."""
    cid = "incidents.no_open_critical"
    severities = policy.incidents.no_open_critical.severities
    thresholds = {"severities": severities}
    if v.incidents is None:
        return _result(cid, Status.UNKNOWN, policy, "Incidents are not recorded here.",
                       "Insiden tidak tercatat di sini.", {"thresholds": thresholds})
    open_ = [i for i in v.incidents if i.severity in severities]
    evidence = {"incidents": [{"id": i.id, "severity": i.severity, "summary": i.summary,
                               "starts_at": _ts(i.starts_at)} for i in open_],
                "thresholds": thresholds}
    if not open_:
        return _result(cid, Status.PASS, policy, "No open critical incident.",
                       "Tidak ada insiden kritis yang terbuka.", evidence)
    first = open_[0]
    return _result(cid, Status.FAIL, policy,
                   f"{len(open_)} open critical incident(s), e.g. #{first.id} "
                   f"{first.summary or ''} since {format_wib(first.starts_at)}.".replace("  ", " "),
                   f"{len(open_)} insiden kritis terbuka, mis. #{first.id} "
                   f"{first.summary or ''} sejak {format_wib(first.starts_at)}.".replace("  ", " "),
                   evidence)


CHECKS = {
    "network.uplink": check_uplink,
    "network.uplink_up": check_uplink_up,
    "network.availability": check_availability,
    "kiosk.online": check_kiosk_online,
    "kiosk.app_version": check_kiosk_version,
    "kiosk.seen": check_kiosk_seen,
    "facilities.reading_corner": check_reading_corner,
    "facilities.waiting_room": check_waiting_room,
    "facilities.lactation_room": check_lactation_room,
    "human_resources.trained_operator": check_trained_operator,
    "incidents.no_open_critical": check_incidents,
}
assert tuple(CHECKS) == CHECK_IDS


def combine(checks: Sequence[CheckResult], *, now: datetime) -> Verdict:
    """The verdict from check results (mandatory ones only count)."""
    mandatory = [c for c in checks if c.mandatory]
    if any(c.status is Status.FAIL for c in mandatory):
        status = VerdictStatus.NOT_QUALIFIED
    elif any(c.status is not Status.PASS for c in mandatory):
        status = VerdictStatus.UNKNOWN
    else:
        status = VerdictStatus.QUALIFIED
    order = {Status.FAIL: 0, Status.BLOCKED_UPSTREAM: 1, Status.UNKNOWN: 2}
    blocking = tuple(
        c.reason
        for c in sorted(mandatory, key=lambda c: order.get(c.status, 3))
        if c.status is not Status.PASS
    )
    return Verdict(status=status, checks=tuple(checks), blocking_reasons=blocking,
                   evaluated_at=now)


def evaluate(v: VillageInputs, policy: Policy, *, now: datetime) -> Verdict:
    """The verdict for one village at ``now`` (an aware datetime)."""
    now = as_utc(now)
    if v.site_id is None:
        kinds = ", ".join(policy.village_site_kinds)
        checks = [
            _result(cid, Status.UNKNOWN, policy,
                    f"No village office ({kinds}) in the inventory.",
                    "Kantor desa/kelurahan belum ada di inventaris.", {})
            for cid in CHECK_IDS
        ]
        return combine(checks, now=now)
    return combine([fn(v, policy, now) for fn in CHECKS.values()], now=now)


def would_qualify(verdict: Verdict, fixed: Iterable[str]) -> bool:
    """True when the village would qualify if every check in ``fixed`` passed."""
    fixed_set = set(fixed)
    return all(
        c.status is Status.PASS or c.id in fixed_set for c in verdict.checks if c.mandatory
    )


def what_if(verdicts: Iterable[Verdict]) -> dict[str, int]:
    """For each check id and each group (``group:<name>``): how many villages that do not
    qualify now would qualify if that class of problem were fixed everywhere."""
    counts: dict[str, int] = dict.fromkeys(CHECK_IDS, 0)
    for verdict in verdicts:
        if verdict.status is VerdictStatus.QUALIFIED:
            continue
        failing = set(verdict.failing)
        if len(failing) == 1:
            counts[next(iter(failing))] += 1
        groups = {f.split(".", 1)[0] for f in failing}
        if len(groups) == 1:
            key = f"group:{next(iter(groups))}"
            counts[key] = counts.get(key, 0) + 1
    return counts
