"""The readiness engine: every check, threshold edges, staleness, attestation expiry and
upstream-blocked, on plain inputs (no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from api.readiness.engine import (
    Attestation,
    AvailabilityFact,
    DeviceFact,
    IncidentFact,
    LinkFact,
    Status,
    VerdictStatus,
    VillageInputs,
    evaluate,
    what_if,
    would_qualify,
)
from api.readiness.policy import CHECK_IDS, load_policy, parse_policy
from api.readiness.versions import parse_version, version_at_least

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
POLICY = load_policy()
DAY = 86400.0


def fresh(minutes: float = 1) -> datetime:
    return NOW - timedelta(minutes=minutes)


def attest(facility: str, value: int = 1, **kw: object) -> Attestation:
    defaults: dict[str, object] = {"attested_by": "Camat Glagah", "attested_at": NOW - timedelta(
        days=10), "evidence": "foto/laktasi.jpg", "expires_at": NOW + timedelta(days=100)}
    defaults.update(kw)
    return Attestation(facility, value, **defaults)  # type: ignore[arg-type]


def healthy(**changes: object) -> VillageInputs:
    """A village that passes every check."""
    v = VillageInputs(
        village_code="35.10.15.2004", village_name="Kemiren", district_code="35.10.15",
        district_name="Glagah", site_id="kantor-desa-kemiren", site_name="Kantor Desa Kemiren",
        site_kind="village_office",
        uplink=LinkFact("fo-glagah-kemiren", "fibre", "up", fresh(600), fresh()),
        upstream_links=(LinkFact("fo-noc-glagah", "fibre", "up", fresh(6000), fresh()),),
        availability=AvailabilityFact(percent=99.95, up_s=30 * DAY, down_s=0.0005 * 30 * DAY,
                                      observed_s=30 * DAY, window_s=30 * DAY),
        kiosks=(DeviceFact("kiosk-kemiren-1", "kiosk", "up", fresh(), fresh(), "2.5.0"),),
        attestations={f: attest(f) for f in ("reading_corner", "waiting_room",
                                             "lactation_room")}
        | {"operators_trained": attest("operators_trained", 2)},
        incidents=(),
    )
    return replace(v, **changes)  # type: ignore[arg-type]


def check(v: VillageInputs, check_id: str, policy=POLICY):  # type: ignore[no-untyped-def]
    verdict = evaluate(v, policy, now=NOW)
    return next(c for c in verdict.checks if c.id == check_id)


def test_healthy_village_qualifies_with_every_check_passing() -> None:
    verdict = evaluate(healthy(), POLICY, now=NOW)
    assert verdict.status is VerdictStatus.QUALIFIED
    assert [c.id for c in verdict.checks] == list(CHECK_IDS)
    assert all(c.status is Status.PASS for c in verdict.checks)
    assert verdict.blocking_reasons == ()


# ---------------------------------------------------------------- network


def test_no_uplink_fails_network_checks() -> None:
    v = healthy(uplink=None, upstream_links=(), availability=None)
    verdict = evaluate(v, POLICY, now=NOW)
    assert verdict.status is VerdictStatus.NOT_QUALIFIED
    assert check(v, "network.uplink").status is Status.FAIL
    assert check(v, "network.uplink_up").status is Status.FAIL
    assert any("no uplink" in r.en for r in verdict.blocking_reasons)
    assert any("uplink" in r.id for r in verdict.blocking_reasons)


def test_uplink_down_is_the_villages_own_failure() -> None:
    v = healthy(uplink=LinkFact("fo-glagah-kemiren", "fibre", "down", fresh(30), fresh()))
    result = check(v, "network.uplink_up")
    assert result.status is Status.FAIL
    assert result.evidence["status"] == "down"
    assert evaluate(v, POLICY, now=NOW).status is VerdictStatus.NOT_QUALIFIED


def test_uplink_behind_a_down_upstream_fibre_is_blocked_upstream_naming_it() -> None:
    v = healthy(
        uplink=LinkFact("fo-glagah-kemiren", "fibre", "unreachable", fresh(30), fresh()),
        upstream_links=(LinkFact("fo-noc-glagah", "fibre", "down", fresh(30), fresh()),),
    )
    result = check(v, "network.uplink_up")
    assert result.status is Status.BLOCKED_UPSTREAM
    assert result.blocked_by == "fo-noc-glagah"
    assert "fo-noc-glagah" in result.reason.en and "fo-noc-glagah" in result.reason.id
    verdict = evaluate(v, POLICY, now=NOW)
    assert verdict.status is VerdictStatus.UNKNOWN
    assert "network.uplink_up" not in verdict.failed


def test_uplink_state_older_than_max_age_is_unknown_not_pass() -> None:
    limit = POLICY.network.uplink_up.max_age_minutes
    at_edge = healthy(uplink=LinkFact("fo", "fibre", "up", fresh(999), fresh(limit)))
    stale = healthy(uplink=LinkFact("fo", "fibre", "up", fresh(999), fresh(limit + 0.1)))
    never = healthy(uplink=LinkFact("fo", "fibre", None, None, None))
    assert check(at_edge, "network.uplink_up").status is Status.PASS
    assert check(stale, "network.uplink_up").status is Status.UNKNOWN
    assert check(never, "network.uplink_up").status is Status.UNKNOWN
    assert evaluate(stale, POLICY, now=NOW).status is VerdictStatus.UNKNOWN


@pytest.mark.parametrize(("percent", "expected"), [
    (99.0, Status.PASS), (98.999, Status.FAIL), (100.0, Status.PASS), (42.0, Status.FAIL),
])
def test_availability_threshold_edge(percent: float, expected: Status) -> None:
    a = AvailabilityFact(percent=percent, up_s=0, down_s=0, observed_s=30 * DAY, window_s=30 * DAY)
    result = check(healthy(availability=a), "network.availability")
    assert result.status is expected
    assert result.evidence["thresholds"]["min_percent"] == 99.0


def test_availability_without_data_or_with_thin_coverage_is_unknown() -> None:
    assert check(healthy(availability=None), "network.availability").status is Status.UNKNOWN
    thin = AvailabilityFact(percent=100.0, up_s=DAY, down_s=0, observed_s=0.79 * 30 * DAY,
                            window_s=30 * DAY)
    enough = replace(thin, observed_s=0.8 * 30 * DAY)
    assert check(healthy(availability=thin), "network.availability").status is Status.UNKNOWN
    assert check(healthy(availability=enough), "network.availability").status is Status.PASS


# ---------------------------------------------------------------- kiosk


def test_no_kiosk_fails_every_kiosk_check() -> None:
    v = healthy(kiosks=())
    for cid in ("kiosk.online", "kiosk.app_version", "kiosk.seen"):
        assert check(v, cid).status is Status.FAIL


def test_kiosk_down_with_fresh_poll_fails_online_and_seen() -> None:
    k = DeviceFact("kiosk-1", "kiosk", "down", fresh(), fresh(120), "2.5.0")
    v = healthy(kiosks=(k,))
    assert check(v, "kiosk.online").status is Status.FAIL
    assert check(v, "kiosk.seen").status is Status.FAIL


def test_kiosk_min_count_edge() -> None:
    policy = parse_policy(
        "version: t\nkiosk: {online: {min_count: 2}}\n", path=__import__("pathlib").Path("t.yml")
    )
    one = healthy()
    two = healthy(kiosks=(*one.kiosks, DeviceFact("kiosk-2", "kiosk", "up", fresh(), fresh(),
                                                  "2.5.0")))
    assert check(one, "kiosk.online", policy).status is Status.FAIL
    assert check(two, "kiosk.online", policy).status is Status.PASS


def test_kiosk_state_not_polled_recently_is_unknown() -> None:
    k = DeviceFact("kiosk-1", "kiosk", "up", fresh(16), fresh(16), "2.5.0")
    v = healthy(kiosks=(k,))
    assert check(v, "kiosk.online").status is Status.UNKNOWN
    assert check(v, "kiosk.seen").status is Status.UNKNOWN
    assert check(v, "kiosk.app_version").status is Status.UNKNOWN
    assert evaluate(v, POLICY, now=NOW).status is VerdictStatus.UNKNOWN


def test_kiosk_seen_edge_at_fifteen_minutes() -> None:
    at_edge = healthy(kiosks=(DeviceFact("k", "kiosk", "up", fresh(), fresh(15), "2.5.0"),))
    past = healthy(kiosks=(DeviceFact("k", "kiosk", "down", fresh(), fresh(15.1), "2.5.0"),))
    assert check(at_edge, "kiosk.seen").status is Status.PASS
    assert check(past, "kiosk.seen").status is Status.FAIL


def test_kiosks_behind_a_down_uplink_are_blocked_upstream() -> None:
    v = healthy(
        uplink=LinkFact("fo-glagah-kemiren", "fibre", "down", fresh(30), fresh()),
        kiosks=(DeviceFact("kiosk-1", "kiosk", "unreachable", fresh(), fresh(40), "2.5.0"),),
    )
    for cid in ("kiosk.online", "kiosk.seen", "kiosk.app_version"):
        result = check(v, cid)
        assert result.status is Status.BLOCKED_UPSTREAM, cid
        assert result.blocked_by == "fo-glagah-kemiren"


@pytest.mark.parametrize(("version", "expected"), [
    ("2.4.0", Status.PASS), ("2.10.0", Status.PASS), ("2.3.9", Status.FAIL),
    ("2.4.0-rc1", Status.FAIL), ("v2.4", Status.PASS), ("banana", Status.UNKNOWN),
    (None, Status.UNKNOWN),
])
def test_kiosk_app_version_compared_properly(version: str | None, expected: Status) -> None:
    v = healthy(kiosks=(DeviceFact("kiosk-1", "kiosk", "up", fresh(), fresh(), version),))
    assert check(v, "kiosk.app_version").status is expected


def test_one_old_kiosk_fails_the_version_check_naming_it() -> None:
    v = healthy(kiosks=(
        DeviceFact("kiosk-1", "kiosk", "up", fresh(), fresh(), "2.5.0"),
        DeviceFact("kiosk-2", "kiosk", "up", fresh(), fresh(), "2.3.1"),
    ))
    result = check(v, "kiosk.app_version")
    assert result.status is Status.FAIL and "kiosk-2 (2.3.1)" in result.reason.en


def test_version_parsing() -> None:
    assert parse_version("2.10") > parse_version("2.9.9")  # type: ignore[operator]
    assert parse_version("2.4") == parse_version("2.4.0")
    assert version_at_least("1.0.0-beta2", "1.0.0-beta10") is False
    assert version_at_least("x", "1.0") is None


# ---------------------------------------------------------------- facilities and people


@pytest.mark.parametrize("facility", ["reading_corner", "waiting_room", "lactation_room"])
def test_facility_missing_fails_and_not_attested_is_unknown(facility: str) -> None:
    cid = f"facilities.{facility}"
    base = healthy()
    absent = replace(base, attestations={**base.attestations, facility: attest(facility, 0)})
    unattested = replace(base, attestations={k: a for k, a in base.attestations.items()
                                             if k != facility})
    assert check(absent, cid).status is Status.FAIL
    assert check(unattested, cid).status is Status.UNKNOWN
    result = check(base, cid)
    assert result.status is Status.PASS
    assert result.evidence["attested_by"] == "Camat Glagah"
    assert result.evidence["evidence"] == "foto/laktasi.jpg"


def test_expired_attestation_turns_unknown_at_the_instant_of_expiry() -> None:
    base = healthy()
    just_valid = attest("lactation_room", expires_at=NOW + timedelta(seconds=1))
    expired = attest("lactation_room", expires_at=NOW)
    v1 = replace(base, attestations={**base.attestations, "lactation_room": just_valid})
    v2 = replace(base, attestations={**base.attestations, "lactation_room": expired})
    assert check(v1, "facilities.lactation_room").status is Status.PASS
    result = check(v2, "facilities.lactation_room")
    assert result.status is Status.UNKNOWN and "expired" in result.reason.en
    assert "kedaluwarsa" in result.reason.id
    assert evaluate(v2, POLICY, now=NOW).status is VerdictStatus.UNKNOWN


def test_attestation_older_than_max_age_days_is_unknown() -> None:
    base = healthy()
    old = attest("reading_corner", attested_at=NOW - timedelta(days=366), expires_at=None)
    edge = attest("reading_corner", attested_at=NOW - timedelta(days=365), expires_at=None)
    v_old = replace(base, attestations={**base.attestations, "reading_corner": old})
    v_edge = replace(base, attestations={**base.attestations, "reading_corner": edge})
    assert check(v_old, "facilities.reading_corner").status is Status.UNKNOWN
    assert check(v_edge, "facilities.reading_corner").status is Status.PASS


@pytest.mark.parametrize(("count", "expected"), [(0, Status.FAIL), (1, Status.PASS),
                                                 (3, Status.PASS)])
def test_trained_operator_count(count: int, expected: Status) -> None:
    base = healthy()
    v = replace(base, attestations={**base.attestations,
                                    "operators_trained": attest("operators_trained", count)})
    assert check(v, "human_resources.trained_operator").status is expected


# ---------------------------------------------------------------- incidents


def test_open_critical_incident_fails_and_warning_does_not() -> None:
    crit = IncidentFact(7, "critical", "Kiosk down", fresh(60))
    warn = IncidentFact(8, "warning", "Disk 80 %", fresh(60))
    assert check(healthy(incidents=(crit,)), "incidents.no_open_critical").status is Status.FAIL
    assert check(healthy(incidents=(warn,)), "incidents.no_open_critical").status is Status.PASS
    assert check(healthy(incidents=None), "incidents.no_open_critical").status is Status.UNKNOWN


# ---------------------------------------------------------------- verdict, policy, what-if


def test_fail_beats_unknown_and_non_mandatory_checks_do_not_count() -> None:
    base = healthy()
    v = replace(base, kiosks=(), uplink=LinkFact("fo", "fibre", "up", None, None))
    assert evaluate(v, POLICY, now=NOW).status is VerdictStatus.NOT_QUALIFIED
    lenient = parse_policy("version: t\nfacilities: {lactation_room: {mandatory: false}}\n",
                           path=__import__("pathlib").Path("t.yml"))
    no_room = replace(base, attestations={**base.attestations,
                                          "lactation_room": attest("lactation_room", 0)})
    assert evaluate(no_room, POLICY, now=NOW).status is VerdictStatus.NOT_QUALIFIED
    verdict = evaluate(no_room, lenient, now=NOW)
    assert verdict.status is VerdictStatus.QUALIFIED
    assert check(no_room, "facilities.lactation_room", lenient).mandatory is False


def test_village_without_office_is_unknown_for_every_check() -> None:
    v = VillageInputs("35.10.15.9999", "Nowhere", "35.10.15", "Glagah")
    verdict = evaluate(v, POLICY, now=NOW)
    assert verdict.status is VerdictStatus.UNKNOWN
    assert {c.status for c in verdict.checks} == {Status.UNKNOWN}


def test_what_if_counts_villages_blocked_only_by_that_class() -> None:
    base = healthy()
    no_room = replace(base, attestations={**base.attestations,
                                          "lactation_room": attest("lactation_room", 0)})
    no_room_no_corner = replace(no_room, attestations={
        **no_room.attestations, "reading_corner": attest("reading_corner", 0)})
    verdicts = [evaluate(v, POLICY, now=NOW) for v in (base, no_room, no_room, no_room_no_corner)]
    counts = what_if(verdicts)
    assert counts["facilities.lactation_room"] == 2
    assert counts["group:facilities"] == 3
    assert counts["facilities.reading_corner"] == 0
    assert would_qualify(verdicts[3], ["facilities.lactation_room", "facilities.reading_corner"])
