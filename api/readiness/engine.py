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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from api.readiness.policy import (
    CHECK_IDS,
    AttestationRule,
    OperatorRule,
    Policy,
)
from api.readiness.versions import parse_version
from collectors.store.policy import is_fresh
from core.timeutil import as_utc, format_wib


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
    #: when a poll last confirmed ``status`` (freshness is judged on this, not ``since``)
    checked_at: datetime | None = None
    reason: str | None = None
    updated_at: datetime | None = None


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
    checked_at: datetime | None = None


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


Explain = Callable[[], tuple[str, str, dict[str, Any]]]


class CheckResult:
    """One check: its status, the evidence behind it and the reason in plain words.

    The reason and the evidence are built when first read: a national board evaluates
    every check of 83,000 villages but explains only the ones someone looks at.
    """

    __slots__ = ("_detail", "_explain", "blocked_by", "group", "id", "mandatory", "status")

    def __init__(self, *, id: str, group: str, status: Status, mandatory: bool,
                 explain: Explain, blocked_by: str | None = None) -> None:
        self.id = id
        self.group = group
        self.status = status
        self.mandatory = mandatory
        self.blocked_by = blocked_by
        self._explain: Explain | None = explain
        self._detail: tuple[Reason, dict[str, Any]] | None = None

    def _load(self) -> tuple[Reason, dict[str, Any]]:
        if self._detail is None:
            assert self._explain is not None
            en, id_, evidence = self._explain()
            self._detail = (Reason(en=en, id=id_), evidence)
            self._explain = None
        return self._detail

    @property
    def reason(self) -> Reason:
        """Why, in English and Bahasa Indonesia."""
        return self._load()[0]

    @property
    def evidence(self) -> dict[str, Any]:
        """Values, thresholds and timestamps behind the status."""
        return self._load()[1]

    def __repr__(self) -> str:
        return f"CheckResult({self.id!r}, {self.status.value!r})"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A village's verdict with every check and the reasons it is not qualified."""

    status: VerdictStatus
    checks: tuple[CheckResult, ...]
    failing: tuple[str, ...]
    evaluated_at: datetime

    @property
    def blocking_reasons(self) -> tuple[Reason, ...]:
        """Reasons of the mandatory checks that did not pass: fails first, then blocked
        upstream, then unknown."""
        order = {Status.FAIL: 0, Status.BLOCKED_UPSTREAM: 1, Status.UNKNOWN: 2}
        bad = [c for c in self.checks if c.mandatory and c.status is not Status.PASS]
        return tuple(c.reason for c in sorted(bad, key=lambda c: order[c.status]))

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
    """The store's freshness rule (:func:`collectors.store.is_fresh`) with the policy's
    ``max_age_minutes`` as the bound."""
    return is_fresh(value, now=now, max_age_seconds=max_age_minutes * 60.0)


_MANDATORY: dict[int, tuple[Policy, dict[str, bool]]] = {}


def _mandatory(policy: Policy) -> dict[str, bool]:
    """Which checks are mandatory under ``policy`` (looked up once per policy object)."""
    hit = _MANDATORY.get(id(policy))
    if hit is None or hit[0] is not policy:
        hit = (policy, {cid: policy.rule(cid).mandatory for cid in CHECK_IDS})
        _MANDATORY[id(policy)] = hit
    return hit[1]


def _result(check_id: str, status: Status, policy: Policy, explain: Explain, *,
            blocked_by: str | None = None) -> CheckResult:
    return CheckResult(
        id=check_id, group=_GROUP[check_id], status=status,
        mandatory=_mandatory(policy)[check_id], explain=explain, blocked_by=blocked_by,
    )


_GROUP = {cid: cid.split(".", 1)[0] for cid in CHECK_IDS}


def _down_upstream(links: Iterable[LinkFact], now: datetime, max_age: float) -> LinkFact | None:
    """The first (nearest) link that is freshly known to be down."""
    for link in links:
        if link.status == DOWN and _fresh(now, link.checked_at, max_age):
            return link
    return None


def _link_evidence(link: LinkFact, now: datetime) -> dict[str, Any]:
    return {
        "link": link.id, "medium": link.medium, "status": link.status,
        "since": _ts(link.since), "updated_at": _ts(link.updated_at),
        "checked_at": _ts(link.checked_at),
        "age_minutes": _age_minutes(now, link.checked_at), "reason": link.reason,
    }


# --------------------------------------------------------------------------- checks


def check_uplink(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """The village office has an uplink in the inventory."""
    cid = "network.uplink"
    link = v.uplink
    if link is None:
        return _result(cid, Status.FAIL, policy, lambda: (
            "The village office has no uplink.", "Kantor desa belum punya jaringan uplink.",
            {"uplink": None}))
    return _result(cid, Status.PASS, policy, lambda: (
        f"Uplink {link.id} ({link.medium}).", f"Uplink {link.id} ({link.medium}).",
        {"uplink": link.id, "medium": link.medium}))


def check_uplink_up(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """The uplink is up now; stale state is unknown; down behind a down upstream fibre is
    blocked upstream."""
    cid = "network.uplink_up"
    max_age = policy.network.uplink_up.max_age_minutes
    thresholds = {"max_age_minutes": max_age}
    link = v.uplink
    if link is None:
        return _result(cid, Status.FAIL, policy, lambda: (
            "No uplink, so it cannot be up.", "Tidak ada uplink, jadi tidak bisa aktif.",
            {"uplink": None, "thresholds": thresholds}))

    def evidence(upstream: LinkFact | None = None) -> dict[str, Any]:
        out = {**_link_evidence(link, now), "thresholds": thresholds}
        if upstream is not None:
            out["upstream"] = _link_evidence(upstream, now)
        return out

    if link.status is None or not _fresh(now, link.checked_at, max_age):
        return _result(cid, Status.UNKNOWN, policy, lambda: (
            f"No fresh state for uplink {link.id} (older than {max_age:g} min or never "
            "polled).",
            f"Status uplink {link.id} tidak terbaru (lebih dari {max_age:g} menit atau belum "
            "pernah dipantau).", evidence()))
    if link.status == UP:
        return _result(cid, Status.PASS, policy, lambda: (
            f"Uplink {link.id} is up.", f"Uplink {link.id} aktif.", evidence()))
    upstream = _down_upstream(v.upstream_links, now, max_age)
    if link.status in (DOWN, UNREACHABLE) and upstream is not None:
        return _result(cid, Status.BLOCKED_UPSTREAM, policy, lambda: (
            f"Uplink {link.id} is cut off because upstream fibre {upstream.id} is down.",
            f"Uplink {link.id} terputus karena fiber hulu {upstream.id} mati.",
            evidence(upstream)), blocked_by=upstream.id)
    if link.status == DOWN:
        return _result(cid, Status.FAIL, policy, lambda: (
            f"Uplink {link.id} is down since {format_wib(link.since)}.",
            f"Uplink {link.id} mati sejak {format_wib(link.since)}.", evidence()))
    return _result(cid, Status.UNKNOWN, policy, lambda: (
        f"Uplink {link.id} state is {link.status}.",
        f"Status uplink {link.id}: {link.status}.", evidence()))


def check_availability(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """The uplink's availability over the window is at least the policy minimum."""
    cid = "network.availability"
    rule = policy.network.availability
    days = rule.window_days
    thresholds = {"min_percent": rule.min_percent, "window_days": days,
                  "min_coverage_percent": rule.min_coverage_percent}
    link = v.uplink
    if link is None:
        return _result(cid, Status.FAIL, policy, lambda: (
            "No uplink, so no availability.", "Tidak ada uplink, jadi tidak ada ketersediaan.",
            {"thresholds": thresholds}))
    a = v.availability
    if a is None or a.percent is None or a.window_s <= 0:
        return _result(cid, Status.UNKNOWN, policy, lambda: (
            f"No availability data for uplink {link.id}.",
            f"Belum ada data ketersediaan uplink {link.id}.",
            {"link": link.id, "thresholds": thresholds}))
    percent = a.percent
    coverage = round(100.0 * a.observed_s / a.window_s, 2)

    def evidence() -> dict[str, Any]:
        return {"link": link.id, "percent": round(percent, 3), "coverage_percent": coverage,
                "up_seconds": round(a.up_s), "down_seconds": round(a.down_s),
                "window_end": _ts(now), "thresholds": thresholds}

    if coverage < rule.min_coverage_percent:
        need = rule.min_coverage_percent
        return _result(cid, Status.UNKNOWN, policy, lambda: (
            f"Only {coverage:g} % of the last {days} days were observed (need {need:g} %).",
            f"Baru {coverage:g} % dari {days} hari terakhir yang terpantau (perlu {need:g} %).",
            evidence()))
    if percent >= rule.min_percent:
        return _result(cid, Status.PASS, policy, lambda: (
            f"Availability {percent:.2f} % over {days} days.",
            f"Ketersediaan {percent:.2f} % selama {days} hari.", evidence()))
    minimum = rule.min_percent
    return _result(cid, Status.FAIL, policy, lambda: (
        f"Availability {percent:.2f} % over {days} days is below {minimum:g} %.",
        f"Ketersediaan {percent:.2f} % selama {days} hari di bawah {minimum:g} %.",
        evidence()))


def _blocker(v: VillageInputs, now: datetime, max_age: float) -> LinkFact | None:
    """The nearest link (own uplink first) freshly known to be down."""
    links: list[LinkFact] = [v.uplink] if v.uplink is not None else []
    return _down_upstream([*links, *v.upstream_links], now, max_age)


def _kiosk_evidence(k: DeviceFact, now: datetime) -> dict[str, Any]:
    return {"device": k.id, "status": k.status, "app_version": k.app_version,
            "last_poll_at": _ts(k.last_poll_at), "last_ok_at": _ts(k.last_ok_at),
            "seen_minutes_ago": _age_minutes(now, k.last_ok_at)}


def _kiosks_evidence(v: VillageInputs, now: datetime, thresholds: dict[str, Any],
                     **extra: Any) -> dict[str, Any]:
    return {"kiosks": [_kiosk_evidence(k, now) for k in v.kiosks], **extra,
            "thresholds": thresholds}


def _no_kiosk(cid: str, policy: Policy, thresholds: dict[str, Any]) -> CheckResult:
    return _result(cid, Status.FAIL, policy, lambda: (
        "No kiosk is installed at the village office.", "Belum ada kios di kantor desa.",
        {"kiosks": [], "thresholds": thresholds}))


def check_kiosk_online(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """At least ``min_count`` kiosks are up now (fresh state)."""
    cid = "kiosk.online"
    rule = policy.kiosk.online
    max_age, need = rule.max_age_minutes, rule.min_count
    thresholds = {"min_count": need, "max_age_minutes": max_age}
    if not v.kiosks:
        return _no_kiosk(cid, policy, thresholds)
    fresh = [k for k in v.kiosks if _fresh(now, k.checked_at or k.last_poll_at, max_age)]
    n_online = sum(1 for k in fresh if k.status == UP)
    n_total = len(v.kiosks)

    def evidence() -> dict[str, Any]:
        return _kiosks_evidence(v, now, thresholds, online=n_online)

    if n_online >= need:
        return _result(cid, Status.PASS, policy, lambda: (
            f"{n_online} of {n_total} kiosk(s) online.",
            f"{n_online} dari {n_total} kios aktif.", evidence()))
    blocker = _blocker(v, now, max_age)
    if blocker is not None and any(k.status != UP for k in v.kiosks):
        return _result(cid, Status.BLOCKED_UPSTREAM, policy, lambda: (
            f"Kiosks cannot be reached: fibre {blocker.id} is down.",
            f"Kios tidak terjangkau: fiber {blocker.id} mati.", evidence()),
            blocked_by=blocker.id)
    if not fresh:
        return _result(cid, Status.UNKNOWN, policy, lambda: (
            f"No fresh kiosk state (none polled within {max_age:g} min).",
            f"Status kios tidak terbaru (tidak ada yang dipantau dalam {max_age:g} menit).",
            evidence()))
    return _result(cid, Status.FAIL, policy, lambda: (
        f"{n_online} kiosk(s) online, {need} needed.",
        f"{n_online} kios aktif, perlu {need}.", evidence()))


def check_kiosk_version(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """Every kiosk seen recently reports at least the policy's minimum app version."""
    cid = "kiosk.app_version"
    rule = policy.kiosk.app_version
    max_age, minimum_text = rule.max_age_minutes, rule.min_version
    thresholds = {"min_version": minimum_text, "max_age_minutes": max_age}
    if not v.kiosks:
        return _no_kiosk(cid, policy, thresholds)
    minimum = parse_version(minimum_text)
    seen = [k for k in v.kiosks if _fresh(now, k.last_ok_at, max_age)]
    known = [(k, parse_version(k.app_version)) for k in seen]

    def evidence() -> dict[str, Any]:
        return _kiosks_evidence(v, now, thresholds)

    old = [k for k, ver in known if ver is not None and minimum is not None and ver < minimum]
    if old:
        names = ", ".join(f"{k.id} ({k.app_version})" for k in old)
        return _result(cid, Status.FAIL, policy, lambda: (
            f"Kiosk app older than {minimum_text}: {names}.",
            f"Aplikasi kios lebih lama dari {minimum_text}: {names}.", evidence()))
    good = [k for k, ver in known if ver is not None]
    if good and len(good) == len(known):
        versions = ", ".join(sorted({k.app_version or "" for k in good}))
        return _result(cid, Status.PASS, policy, lambda: (
            f"Kiosk app {versions} (minimum {minimum_text}).",
            f"Aplikasi kios {versions} (minimal {minimum_text}).", evidence()))
    blocker = _blocker(v, now, max_age)
    if not seen and blocker is not None:
        return _result(cid, Status.BLOCKED_UPSTREAM, policy, lambda: (
            f"Kiosk version cannot be read: fibre {blocker.id} is down.",
            f"Versi kios tidak terbaca: fiber {blocker.id} mati.", evidence()),
            blocked_by=blocker.id)
    return _result(cid, Status.UNKNOWN, policy, lambda: (
        "No kiosk reported a readable app version recently.",
        "Tidak ada kios yang melaporkan versi aplikasi baru-baru ini.", evidence()))


def check_kiosk_seen(v: VillageInputs, policy: Policy, now: datetime) -> CheckResult:
    """At least one kiosk answered within the policy's window; unknown when the poller
    itself has not looked recently."""
    cid = "kiosk.seen"
    max_age = policy.kiosk.seen.max_age_minutes
    thresholds = {"max_age_minutes": max_age}
    if not v.kiosks:
        return _no_kiosk(cid, policy, thresholds)

    def evidence() -> dict[str, Any]:
        return _kiosks_evidence(v, now, thresholds)

    seen = [k.last_ok_at for k in v.kiosks if _fresh(now, k.last_ok_at, max_age)]
    if seen:
        best = max(t for t in seen if t is not None)
        return _result(cid, Status.PASS, policy, lambda: (
            f"A kiosk answered at {format_wib(best)}.",
            f"Kios terakhir menjawab {format_wib(best)}.", evidence()))
    blocker = _blocker(v, now, max_age)
    if blocker is not None:
        return _result(cid, Status.BLOCKED_UPSTREAM, policy, lambda: (
            f"Kiosks not seen: fibre {blocker.id} is down.",
            f"Kios tidak terlihat: fiber {blocker.id} mati.", evidence()),
            blocked_by=blocker.id)
    if not any(_fresh(now, k.checked_at or k.last_poll_at, max_age) for k in v.kiosks):
        return _result(cid, Status.UNKNOWN, policy, lambda: (
            f"The kiosks were not polled in the last {max_age:g} min.",
            f"Kios tidak dipantau dalam {max_age:g} menit terakhir.", evidence()))
    last = max((k.last_ok_at for k in v.kiosks if k.last_ok_at), default=None)
    return _result(cid, Status.FAIL, policy, lambda: (
        f"No kiosk answered in {max_age:g} min (last: {format_wib(last)}).",
        f"Tidak ada kios yang menjawab dalam {max_age:g} menit (terakhir: "
        f"{format_wib(last)}).", evidence()))


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
    max_days = rule.max_age_days
    thresholds: dict[str, Any] = {"min_value": minimum, "max_age_days": max_days}
    att = v.attestations.get(facility)
    if att is None:
        return _result(check_id, Status.UNKNOWN, policy, lambda: (
            f"No attestation for the {en}.", f"Belum ada pernyataan tentang {id_}.",
            {"facility": facility, "thresholds": thresholds}))

    def evidence() -> dict[str, Any]:
        return {"facility": facility, "value": att.value, "attested_by": att.attested_by,
                "attested_at": _ts(att.attested_at), "evidence": att.evidence,
                "expires_at": _ts(att.expires_at), "thresholds": thresholds}

    if att.expires_at is not None and att.expires_at <= now:
        return _result(check_id, Status.UNKNOWN, policy, lambda: (
            f"The attestation for the {en} expired on {format_wib(att.expires_at)}.",
            f"Pernyataan tentang {id_} kedaluwarsa {format_wib(att.expires_at)}.", evidence()))
    if max_days is not None and (
        att.attested_at is None or (now - att.attested_at).total_seconds() > max_days * 86400.0
    ):
        return _result(check_id, Status.UNKNOWN, policy, lambda: (
            f"The attestation for the {en} is older than {max_days} days or undated.",
            f"Pernyataan tentang {id_} lebih dari {max_days} hari atau tanpa tanggal.",
            evidence()))
    who = att.attested_by or "?"
    if att.value >= minimum:
        return _result(check_id, Status.PASS, policy, lambda: (
            f"The {en} is attested by {who} ({format_wib(att.attested_at)}).",
            f"Ada {id_}, dinyatakan oleh {who} ({format_wib(att.attested_at)}).", evidence()))
    if minimum > 1 or facility == "operators_trained":
        return _result(check_id, Status.FAIL, policy, lambda: (
            f"{att.value} {en}(s) attested, {minimum} needed.",
            f"{att.value} {id_} dinyatakan, perlu {minimum}.", evidence()))
    return _result(check_id, Status.FAIL, policy, lambda: (
        f"No {en} (attested by {who}).", f"Tidak ada {id_} (dinyatakan oleh {who}).",
        evidence()))


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
        return _result(cid, Status.UNKNOWN, policy, lambda: (
            "Incidents are not recorded here.", "Insiden tidak tercatat di sini.",
            {"thresholds": thresholds}))
    open_ = [i for i in v.incidents if i.severity in severities]

    def evidence() -> dict[str, Any]:
        return {"incidents": [{"id": i.id, "severity": i.severity, "summary": i.summary,
                               "starts_at": _ts(i.starts_at)} for i in open_],
                "thresholds": thresholds}

    if not open_:
        return _result(cid, Status.PASS, policy, lambda: (
            "No open critical incident.", "Tidak ada insiden kritis yang terbuka.", evidence()))
    first = open_[0]
    summary = f" {first.summary}" if first.summary else ""
    return _result(cid, Status.FAIL, policy, lambda: (
        f"{len(open_)} open critical incident(s), e.g. #{first.id}{summary} since "
        f"{format_wib(first.starts_at)}.",
        f"{len(open_)} insiden kritis terbuka, mis. #{first.id}{summary} sejak "
        f"{format_wib(first.starts_at)}.", evidence()))


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
    failing = tuple(c.id for c in checks if c.mandatory and c.status is not Status.PASS)
    if not failing:
        status = VerdictStatus.QUALIFIED
    elif any(c.mandatory and c.status is Status.FAIL for c in checks):
        status = VerdictStatus.NOT_QUALIFIED
    else:
        status = VerdictStatus.UNKNOWN
    return Verdict(status=status, checks=tuple(checks), failing=failing, evaluated_at=now)


def evaluate(v: VillageInputs, policy: Policy, *, now: datetime) -> Verdict:
    """The verdict for one village at ``now`` (an aware datetime)."""
    now = as_utc(now)
    if v.site_id is None:
        kinds = ", ".join(policy.village_site_kinds)
        checks = [
            _result(cid, Status.UNKNOWN, policy, lambda: (
                f"No village office ({kinds}) in the inventory.",
                "Kantor desa/kelurahan belum ada di inventaris.", {}))
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
