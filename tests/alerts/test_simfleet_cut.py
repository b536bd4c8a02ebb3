"""The whole chain on the simulated fleet: snmpsim agents, the real SNMP collector and
scheduler inside ``kentongan serve``'s app, Prometheus scraping ``/metrics`` and evaluating
the rules, Alertmanager inhibiting by the fibre tree and delivering to the webhook.

A fibre cut (every device behind ``fo-core-glagah`` stops answering) must give exactly one
incident, naming the link, while the alerts of the devices behind it are inhibited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from alerts.config import EXAMPLE_DISTRICTS, alertmanager_config, prometheus_config
from collectors.scheduler import Scheduler
from collectors.simfleet import SimDevice, SimFleet, start_fleet
from collectors.snmp import SnmpCollector
from collectors.store import StorePolicy
from core.settings import Settings
from inventory.models import Device
from inventory.topology import Node, Topology
from kentongan.app import create_app
from kentongan.demo import point_inventory_at_fleet
from tests.alerts.peers import alertmanager, fast_rules, prometheus, query, serve_app, wait_for
from tests.alerts.support import seed
from tests.support.db import migrated_engine

pytestmark = pytest.mark.integration
TOKEN = "simfleet-webhook-token-3d7e"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Fleet:
    engine: Engine
    fleet: SimFleet
    app: str
    prom: str
    am: str
    behind: set[str]

    def incidents(self, **params: str) -> list[dict[str, Any]]:
        r = httpx.get(f"http://{self.app}/api/v1/incidents", params=params, timeout=5)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


def _with_poller(app: FastAPI, engine: Engine) -> None:
    """Run a fast scheduler in the app's lifespan (as ``serve`` does, at test speed)."""
    policy = StorePolicy(down_after_failures=3, stale_after_intervals=20,
                         default_interval_seconds=0.5)
    sched = Scheduler(engine, {"snmp": SnmpCollector()}, policy=policy, default_interval=0.5,
                      timeout=1.0, retries=1, deadline_seconds=4.0, flush_seconds=0.2,
                      max_backoff_seconds=1.0, jitter=True)

    async def start(app: FastAPI) -> None:
        await sched.start()
        app.state.scheduler = app.state.poller = sched

    async def stop(app: FastAPI) -> None:
        await sched.stop()

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("alerts-simfleet")
    url = f"sqlite:///{work / 'kentongan.db'}"
    engine = migrated_engine(url)
    seed(engine)
    with Session(engine) as session:
        devices = [(d.id, d.role) for d in session.query(Device).order_by(Device.id)]
        topo = Topology.load(session)
    behind = {n.id for n in topo.behind(Node("link", "fo-core-glagah")) if n.kind == "device"}
    sims = [SimDevice(did, role, flap=False, battery_period=10**7, app_version="2.4.1")
            for did, role in devices]
    try:
        with ExitStack() as stack:
            sim = stack.enter_context(start_fleet(sims, workdir=work / "fleet"))
            point_inventory_at_fleet(url, dict(sim.endpoints), work)
            settings = Settings(database_url=url, run_poller=False,
                                webhook_token=SecretStr(TOKEN), poll_interval_seconds=1,
                                stale_after_intervals=20, readiness_cache_seconds=600)
            app = create_app(settings)
            _with_poller(app, engine)
            host = stack.enter_context(serve_app(app))
            token_file = work / "webhook_token"
            token_file.write_text(TOKEN)
            am_config = alertmanager_config(
                EXAMPLE_DISTRICTS, webhook_url=f"http://{host}/api/v1/alerts",
                token_file=str(token_file), group_wait="1s", group_interval="1s",
                repeat_interval="1h")
            am_config["receivers"] = [r if r["name"] == "kentongan" else {"name": r["name"]}
                                      for r in am_config["receivers"]]
            am_config["global"] = {"resolve_timeout": "5m"}
            am = stack.enter_context(alertmanager(work, am_config))
            fast_rules(ROOT / "alerts" / "rules" / "kentongan.yml", work / "rules.yml")
            prom_config = prometheus_config(
                mode="embedded", kentongan=host, alertmanager=am.removeprefix("http://"),
                rule_files=[str(work / "rules.yml")], scrape_interval="2s",
                evaluation_interval="1s")
            prom_config["global"]["scrape_timeout"] = "2s"  # a loaded CI machine
            prom = stack.enter_context(prometheus(work, prom_config))
            yield Fleet(engine=engine, fleet=sim, app=host, prom=prom, am=am, behind=behind)
    finally:
        engine.dispose()


def test_fibre_cut_in_the_simulated_fleet(fleet: Fleet) -> None:
    wait_for(lambda: len(r := query(fleet.prom, "kentongan_device_up == 1")) == 15 and r,
             timeout=120, what="all 15 simulated devices up in Prometheus")
    assert query(fleet.prom, "kentongan_poller_cycle_duration_seconds"), "scheduler health"
    assert query(fleet.prom, 'kentongan_interface_in_octets_total{device="rtr-kemiren"}')
    assert fleet.incidents() == []
    assert {"rtr-pop-glagah", "olt-glagah", "rtr-kemiren", "kiosk-kemiren-1"} <= fleet.behind
    for device in fleet.behind:
        fleet.fleet.set_down(device, True)
    try:
        cut = wait_for(lambda: [i for i in fleet.incidents(status="open")
                                if i["alertname"] == "FibreLinkDown"],
                       timeout=60, what="the FibreLinkDown incident")

        def children_inhibited() -> bool:
            alerts = httpx.get(f"{fleet.am}/api/v2/alerts", timeout=5).json()
            muted = {a["labels"].get("device") for a in alerts
                     if a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]}
            return {"rtr-kemiren", "kiosk-kemiren-1", "rtr-pop-glagah"} <= muted

        wait_for(children_inhibited, timeout=60, what="child alerts inhibited")
        time.sleep(3)  # inhibited alerts would have been delivered by now
        rows = fleet.incidents()
        named = [i for i in rows if i["probable_cause"] == "fo-core-glagah"]
        assert len(named) == 1, rows  # one incident names the cut…
        children = [i for i in rows if i["device_id"] in fleet.behind - {"rtr-pop-glagah"}
                    or (i["link_id"] or "").startswith("fo-glagah-")]
        assert children == [], rows  # …and nothing behind it pages
        assert not [i for i in rows if i["alertname"] == "AreaOutage"], rows
        assert cut[0]["link_id"] == "fo-core-glagah"
        assert cut[0]["probable_cause"] == "fo-core-glagah"
        assert cut[0]["probable_cause_kind"] == "link"
        up = {s["metric"]["device"]: s["value"][1]
              for s in query(fleet.prom, "kentongan_device_up")}
        assert up["rtr-rogojampi"] == "1" and up["rtr-kemiren"] == "0"
        unreachable = query(fleet.prom, 'kentongan_device_unreachable{device="rtr-kemiren"}')
        assert unreachable and unreachable[0]["value"][1] == "1"
    finally:
        for device in fleet.behind:
            fleet.fleet.set_down(device, False)
    wait_for(lambda: all(i["status"] == "resolved" for i in fleet.incidents()), timeout=90,
             what="the incident resolved after the repair")
