"""The store collector, the webhook's incident logic and the SLA report on SQLite and on
PostgreSQL (``any_engine``)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from alerts.incidents import WebhookPayload, apply_delivery, list_incidents
from alerts.sla import sla_report
from collectors.metrics import StoreCollector
from tests.alerts.support import fibre_cut, seed, set_all_up
from tests.alerts.test_sla import at, history
from tests.alerts.test_webhook import alert, payload


def test_collector(any_engine: Engine) -> None:
    seed(any_engine)
    set_all_up(any_engine)
    fibre_cut(any_engine)
    text = StoreCollector(any_engine).render().decode()
    samples = {(s.name, s.labels.get("device") or s.labels.get("link")): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("kentongan_device_up", "olt-noc")] == 1
    assert samples[("kentongan_device_up", "rtr-kemiren")] == 0
    assert samples[("kentongan_device_unreachable", "rtr-kemiren")] == 1
    assert samples[("kentongan_link_up", "fo-core-glagah")] == 0
    assert samples[("kentongan_interface_in_octets_total", "rtr-kemiren")] == 1000
    assert samples[("kentongan_kiosk_disk_free_bytes", "kiosk-kemiren-1")] == 20 * 2**30
    assert samples[("kentongan_device_last_poll_timestamp_seconds", "olt-noc")] > 1.7e9


def test_incidents(any_engine: Engine) -> None:
    seed(any_engine)
    body = WebhookPayload.model_validate(payload(alert("rtr-kemiren"), alert("rtr-olehsari")))
    with Session(any_engine) as session:
        assert apply_delivery(session, body).opened == 2  # (+ the AreaOutage it implies)
        session.commit()
    with Session(any_engine) as session:
        assert apply_delivery(session, body).unchanged == 2
        session.commit()
        rows = list_incidents(session, district="35.10.15", status="open")
        area = [i for i in rows if i.alertname == "AreaOutage"]
        assert len(rows) == 3 and area[0].probable_cause == "fo-core-glagah"


def test_sla_report(any_engine: Engine) -> None:
    seed(any_engine)
    history(any_engine)
    with Session(any_engine) as session:
        report = sla_report(session, month="2026-10", now=at(31, 0))
    kemiren = next(r for r in report.villages if r.id == "35.10.15.2004")
    assert kemiren.link_outage_s == 7200 and kemiren.device_outage_s == 3600
