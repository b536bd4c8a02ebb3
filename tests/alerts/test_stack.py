"""End to end with the real servers: Prometheus scraping Kentongan (``/metrics`` and
``/probe`` targets found through http_sd, the probes answered by a real snmpd), the rules
firing, Alertmanager inhibiting by the fibre tree and delivering to the webhook."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, insert, update

from alerts.config import EXAMPLE_DISTRICTS, alertmanager_config, prometheus_config
from core.settings import Settings
from inventory.models import Device, Link, SnmpProfile
from kentongan.app import create_app
from tests.alerts.peers import (
    alertmanager,
    fast_rules,
    prometheus,
    query,
    serve_app,
    snmpd,
    wait_for,
)
from tests.alerts.support import GLAGAH_VILLAGES, fibre_cut, seed, set_all_up, set_device
from tests.support.db import migrated_engine

pytestmark = pytest.mark.integration
TOKEN = "stack-webhook-token-91c2"
COMMUNITY_ENV = "KTG_TEST_ALERTS_SNMP_COMMUNITY"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    engine: Engine
    app: str
    prom: str
    am: str

    def incidents(self, **params: str) -> list[dict[str, Any]]:
        r = httpx.get(f"http://{self.app}/api/v1/incidents", params=params, timeout=5)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def am_alerts(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.am}/api/v2/alerts", timeout=5)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("alerts-stack")
    url = f"sqlite:///{work / 'kentongan.db'}"
    engine = migrated_engine(url)
    seed(engine)
    set_all_up(engine)
    old_env = os.environ.get(COMMUNITY_ENV)
    os.environ[COMMUNITY_ENV] = "public"
    try:
        with ExitStack() as stack_:
            snmp_port = stack_.enter_context(snmpd(work, sys_name="kentongan-test-olt"))
            with engine.begin() as conn:
                conn.execute(insert(SnmpProfile).values(
                    name="test-v2c", version="2c", community_env=COMMUNITY_ENV))
                conn.execute(update(Device).where(Device.role == "olt").values(
                    address="127.0.0.1", snmp_port=snmp_port, snmp_profile="test-v2c"))
                # snmpd's loopback interface stands in for the OLT port of the backbone link
                conn.execute(update(Link).where(Link.id == "fo-core-glagah").values(
                    a_interface="lo"))
            scrape_file = work / "scrape_token"
            scrape_file.write_text("ktg-scrape-stack-test\n")
            wrong_file = work / "wrong_scrape_token"
            wrong_file.write_text("not-the-scrape-token\n")
            settings = Settings(database_url=url, run_poller=False,
                                webhook_token=SecretStr(TOKEN), poll_interval_seconds=600,
                                poll_timeout_seconds=1.0, readiness_cache_seconds=600,
                                scrape_token_file=scrape_file)
            app = stack_.enter_context(serve_app(create_app(settings)))
            token_file = work / "webhook_token"
            token_file.write_text(TOKEN)
            am_config = alertmanager_config(
                EXAMPLE_DISTRICTS, webhook_url=f"http://{app}/api/v1/alerts",
                token_file=str(token_file), group_wait="1s", group_interval="1s",
                repeat_interval="1h",
            )
            am_config["receivers"] = [r if r["name"] == "kentongan" else {"name": r["name"]}
                                      for r in am_config["receivers"]]
            am_config["global"] = {"resolve_timeout": "5m"}
            am = stack_.enter_context(alertmanager(work, am_config))
            fast_rules(ROOT / "alerts" / "rules" / "kentongan.yml", work / "rules.yml")
            prom_config = prometheus_config(
                mode="probe", kentongan=app, alertmanager=am.removeprefix("http://"),
                rule_files=[str(work / "rules.yml")], scrape_interval="2s",
                evaluation_interval="1s", scrape_token_file=str(scrape_file),
            )
            prom_config["global"]["scrape_timeout"] = "2s"  # a loaded CI machine
            prom_config["scrape_configs"].append({
                "job_name": "wrong-token", "static_configs": [{"targets": [app]}],
                "authorization": {"type": "Bearer", "credentials_file": str(wrong_file)},
            })
            probe_job = prom_config["scrape_configs"][0]
            probe_job["http_sd_configs"][0]["url"] += "?role=olt"
            probe_job["http_sd_configs"][0]["refresh_interval"] = "1s"
            prom = stack_.enter_context(prometheus(work, prom_config))
            yield Stack(engine=engine, app=app, prom=prom, am=am)
    finally:
        if old_env is None:
            os.environ.pop(COMMUNITY_ENV, None)
        else:
            os.environ[COMMUNITY_ENV] = old_env
        engine.dispose()


def test_prometheus_stores_kentongan_series(stack: Stack) -> None:
    up = wait_for(lambda: len(r := query(stack.prom, 'kentongan_device_up{job="kentongan"}'))
                  == 15 and r, timeout=60, what="15 device_up series from /metrics")
    kiosk = next(s["metric"] for s in up if s["metric"]["device"] == "kiosk-kemiren-1")
    assert kiosk["upstream_1"] == "fo-core-glagah" and kiosk["upstream_2"] == "fo-glagah-kemiren"
    assert kiosk["district_code"] == "35.10.15" and kiosk["instance"] == stack.app
    # /probe targets found through http_sd, polled through a real snmpd
    probes = wait_for(
        lambda: len(r := query(stack.prom, 'kentongan_probe_success{job="kentongan-probe"}'))
        == 2 and r, timeout=60, what="two probe targets from http_sd")
    by_device = {s["metric"]["device"]: s for s in probes}
    assert set(by_device) == {"olt-noc", "olt-glagah"}
    assert all(s["value"][1] == "1" for s in probes)
    glagah = by_device["olt-glagah"]["metric"]
    assert glagah["site"] == "pop-glagah" and glagah["upstream_1"] == "fo-core-glagah"
    assert glagah["instance"] == "olt-glagah"
    octets = query(stack.prom, 'kentongan_interface_in_octets_total{job="kentongan-probe"}')
    assert octets, "interface counters from the probe"
    # probe mode: link state from the interface at the link's end, labels from link_info
    derived = wait_for(lambda: query(stack.prom, 'kentongan_link_probe_up{link="fo-core-glagah"}'),
                       timeout=60, what="the recorded probe link state")
    assert derived[0]["value"][1] == "1"
    assert derived[0]["metric"]["site"] == "pop-glagah"
    assert derived[0]["metric"]["upstream_1"] == "fo-core-glagah"


def test_scrapes_need_the_scrape_credential(stack: Stack) -> None:
    """Prometheus presents the credential from credentials_file; a wrong one is refused."""
    def wrong_job() -> dict[str, Any] | None:
        active = httpx.get(f"{stack.prom}/api/v1/targets", timeout=10).json()["data"][
            "activeTargets"]
        found = [t for t in active if t["labels"]["job"] == "wrong-token"]
        return found[0] if found and found[0]["health"] == "down" else None

    target = wait_for(wrong_job, timeout=60, what="the wrong-token job scraped and down")
    assert "401" in target["lastError"], target["lastError"]
    assert query(stack.prom, 'up{job="kentongan"}')[0]["value"][1] == "1"


def test_fibre_cut_is_one_page_and_children_are_inhibited(stack: Stack) -> None:
    wait_for(lambda: query(stack.prom, 'kentongan_device_up{job="kentongan"}'), timeout=60,
             what="first scrape")
    assert stack.incidents() == []
    fibre_cut(stack.engine)
    set_device(stack.engine, "rtr-rogojampi", "down")
    behind = {f"{p}-{v}" for v in GLAGAH_VILLAGES for p in ("rtr", "ups")}
    behind |= {f"kiosk-{v}-1" for v in GLAGAH_VILLAGES} | {"rtr-pop-glagah", "olt-glagah"}

    def inhibited() -> set[str] | None:
        got = {
            a["labels"].get("device") or a["labels"].get("link")
            for a in stack.am_alerts()
            if a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]
        }
        want = behind | {f"fo-glagah-{v}" for v in GLAGAH_VILLAGES}
        return got if want <= got else None

    suppressed = wait_for(inhibited, timeout=60, what="every alert behind the cut inhibited")
    assert "fo-core-glagah" not in suppressed and "rtr-rogojampi" not in suppressed

    def delivered() -> list[dict[str, Any]] | None:
        rows = stack.incidents(status="open")
        names = {(i["alertname"], i["device_id"] or i["link_id"]) for i in rows}
        ok = {("FibreLinkDown", "rtr-pop-glagah"), ("DeviceDown", "rtr-rogojampi")} <= names
        return rows if ok else None

    rows = wait_for(delivered, timeout=60, what="the link page and the unrelated DeviceDown")
    time.sleep(3)  # three more group intervals: an inhibited alert would have arrived by now
    rows = stack.incidents()
    cut = [i for i in rows if i["alertname"] == "FibreLinkDown"]
    assert len(cut) == 1, rows
    assert cut[0]["link_id"] == "fo-core-glagah"
    assert cut[0]["probable_cause"] == "fo-core-glagah"
    assert cut[0]["probable_cause_kind"] == "link"
    assert cut[0]["site_id"] == "pop-glagah" and cut[0]["district_code"] == "35.10.15"
    assert "fo-core-glagah" in cut[0]["summary"]
    assert not [i for i in rows if i["device_id"] in behind - {"rtr-pop-glagah"}], rows
    assert not [i for i in rows if i["alertname"] == "AreaOutage"], rows
    others = [i for i in rows if i["alertname"] != "FibreLinkDown"]
    assert [(i["alertname"], i["device_id"]) for i in others] == [("DeviceDown", "rtr-rogojampi")]

    # the fibre is spliced: the incidents resolve through Alertmanager's resolved delivery
    set_all_up(stack.engine)
    wait_for(lambda: all(i["status"] == "resolved" for i in stack.incidents()), timeout=60,
             what="incidents resolved")
