"""One availability (issue 10): for the same outages, the village's uplink availability is
the same figure, to 0.01 %, from the store, from readiness, from the SLA report (store and
Prometheus sources) and from Prometheus itself through the recording rule's expression.

October 2026 (WIB) for Kelurahan Banjarsari, uplink fo-glagah-banjarsari: up, except
* its own outage of 27,621 s (the issue's figure: 98.93 % over 30 days, never 99.72 %);
* 2 hours unreachable behind the cut of fo-core-glagah (charged to the upstream link);
* 1 hour down inside a maintenance window on the village site (left out).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from alerts.sla import sla_report
from api.readiness.inputs import load_inputs
from api.readiness.policy import Policy, load_policy
from collectors.models import StateTransition
from collectors.promquery import availability_by, availability_many_source, link_observed
from collectors.store import village_uplink_availability
from inventory.models import MaintenanceWindow
from tests.alerts.peers import backfilled_prometheus

ROOT = Path(__file__).resolve().parents[2]
MONTH = "2026-10"
START = datetime.fromisoformat("2026-09-30T17:00:00+00:00")  # 1 Oct 00:00 WIB
END = datetime.fromisoformat("2026-10-31T17:00:00+00:00")
VILLAGE, SITE, LINK = "35.10.15.1003", "kantor-kel-banjarsari", "fo-glagah-banjarsari"
# Polled for the last 4 days of the month only (a backfill of a whole month takes promtool
# minutes); before that nothing was observed, so it counts for neither side. Edges fall on
# the minute Prometheus samples at (the 27,621 s outage, to the minute).
FIRST = END - timedelta(days=4)
OWN = (FIRST + timedelta(days=1, hours=3, minutes=7), 27_600)
CUT = (FIRST + timedelta(days=2), 7200)
MAINT = (FIRST + timedelta(days=3), 3600)  # down inside the window below
WINDOW = (MAINT[0] - timedelta(minutes=5), MAINT[0] + timedelta(seconds=MAINT[1] + 300))
OBSERVED = (END - FIRST).total_seconds() - CUT[1] - (WINDOW[1] - WINDOW[0]).total_seconds()
EXPECTED = 100 * (OBSERVED - OWN[1]) / OBSERVED
TOTAL = (END - START).total_seconds()


def _status_at(t: datetime) -> str:
    for (s, length), status in ((OWN, "down"), (CUT, "unreachable"), (MAINT, "down")):
        if s <= t < s + timedelta(seconds=length):
            return status
    return "up"


def _openmetrics() -> str:
    """What Prometheus would have scraped from /metrics every minute: kentongan_link_up
    1/0 (no sample while unreachable: NaN stands for the staleness marker a real scrape
    writes), kentongan_maintenance for the village router."""
    link = (f'kentongan_link_up{{link="{LINK}",medium="fibre",site="{SITE}",'
            f'village_code="{VILLAGE}",district_code="35.10.15"}}')
    maint = f'kentongan_maintenance{{device="rtr-banjarsari",site="{SITE}"}}'
    ups, maints = [], []
    t = FIRST
    while t < END:
        status = _status_at(t)
        value = {"up": "1", "down": "0"}.get(status, "NaN")
        ts = int(t.timestamp())
        ups.append(f"{link} {value} {ts}")
        maints.append(f"{maint} {int(WINDOW[0] <= t < WINDOW[1])} {ts}")
        t += timedelta(seconds=60)
    lines = ["# TYPE kentongan_link_up gauge", *ups, "# TYPE kentongan_maintenance gauge",
             *maints]
    return "\n".join(lines) + "\n# EOF\n"


def _store_history(engine: Engine) -> None:
    rows = [{"kind": "link", "subject": LINK, "from_status": "unknown", "to_status": "up",
             "at": FIRST}]
    for (s, length), status in ((OWN, "down"), (CUT, "unreachable"), (MAINT, "down")):
        rows.append({"kind": "link", "subject": LINK, "from_status": "up",
                     "to_status": status, "at": s})
        rows.append({"kind": "link", "subject": LINK, "from_status": status,
                     "to_status": "up", "at": s + timedelta(seconds=length)})
    with engine.begin() as conn:
        conn.execute(insert(StateTransition), rows)
        conn.execute(insert(MaintenanceWindow).values(
            id="mw-banjarsari", scope="site", target=SITE, starts_at=WINDOW[0],
            ends_at=WINDOW[1], reason="splice"))


def _policy_31_days() -> Policy:
    base = load_policy()
    avail = base.network.availability.model_copy(update={"window_days": 31})
    return base.model_copy(update={"network": base.network.model_copy(
        update={"availability": avail})})


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with backfilled_prometheus(tmp_path_factory.mktemp("one-availability"), _openmetrics(),
                               retention="3650d") as url:
        yield url


def test_the_recording_rule_is_the_query_definition() -> None:
    rules = yaml.safe_load((ROOT / "alerts" / "rules" / "kentongan.yml").read_text())
    (rule,) = [r for g in rules["groups"] for r in g["rules"]
               if r.get("record") == "kentongan:uplink_up:observed"]
    assert f"({' '.join(rule['expr'].split())})" == link_observed('village_code!=""')


@pytest.mark.integration
def test_one_availability_everywhere(seeded: Engine, prom: str) -> None:
    _store_history(seeded)
    with Session(seeded) as session:
        store = village_uplink_availability(session, start=START, end=END, now=END)[VILLAGE]
        loaded = load_inputs(session, _policy_31_days(), now=END)
        sla = sla_report(session, month=MONTH, now=END)
        sla_prom = sla_report(session, month=MONTH, now=END, source="prometheus",
                              availability_many_fn=availability_many_source(prom))
    readiness = next(v for v in loaded.villages if v.village_code == VILLAGE).availability
    sla_row = next(r for r in sla.villages if r.id == VILLAGE)
    sla_prom_row = next(r for r in sla_prom.villages if r.id == VILLAGE)
    from_prom = availability_by(prom, kind="link", subjects=[LINK], start=START, end=END)[LINK]
    # ">= 0" drops the NaN that stands for a staleness marker, as Prometheus drops those
    observed = f"""({link_observed(f'link="{LINK}"')} >= 0)"""
    r = httpx.get(f"{prom}/api/v1/query", timeout=30, params={
        "query": f"100 * avg_over_time({observed}[{int(TOTAL)}s:60s])",
        "time": f"{END.timestamp():.0f}"})
    rule_value = float(r.json()["data"]["result"][0]["value"][1])

    assert store.down_s == pytest.approx(OWN[1])  # the maintenance hour is left out
    assert store.unreachable_s == pytest.approx(CUT[1])  # charged upstream
    assert store.percent == pytest.approx(EXPECTED, abs=1e-6)
    assert round(EXPECTED, 2) == 91.74  # (4 d - 2 h - 70 min - 27,600 s) / (4 d - 2 h - 70 min)
    figures = {
        "readiness": readiness.percent if readiness else None,
        "sla (store)": sla_row.availability_percent,
        "sla (prometheus)": sla_prom_row.availability_percent,
        "prometheus query": from_prom.percent,
        "recording rule": rule_value,
    }
    for name, value in figures.items():
        assert value == pytest.approx(EXPECTED, abs=0.01), (name, figures)
