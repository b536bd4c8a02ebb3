"""The text format writer and the store collector: parser round trip against
prometheus_client, escaping, promtool check metrics, labels from the fibre tree."""

from __future__ import annotations

import gc
import math
import subprocess
import tracemalloc

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from collectors.exposition import Family, LabelSet, escape_label_value, format_value, render_text
from collectors.metrics import StoreCollector
from tests.alerts.support import fibre_cut, set_device


def _samples(text: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    out = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.append((s.name, tuple(sorted(s.labels.items())), float(s.value)))
    return sorted(out, key=repr)


def _by_name(text: str, name: str) -> dict[str, float]:
    return {
        s.labels.get("device") or s.labels.get("link") or "": s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name
    }


def test_escaping_of_label_values() -> None:
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    fam = Family("x", "gauge", "help with \\ and\nnewline")
    fam.add(LabelSet(("v",), ('q"\\\n',)), 1)
    text = render_text([fam]).decode()
    assert '# HELP x help with \\\\ and\\nnewline\n' in text
    parsed = list(text_string_to_metric_families(text))
    assert parsed[0].samples[0].labels == {"v": 'q"\\\n'}
    assert parsed[0].documentation == "help with \\ and\nnewline"


def test_special_values() -> None:
    assert format_value(math.inf) == "+Inf"
    assert format_value(-math.inf) == "-Inf"
    assert format_value(math.nan) == "NaN"
    assert format_value(True) == "1"
    assert format_value(2**63 + 5) == str(2**63 + 5)
    assert float(format_value(0.1)) == 0.1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=0, max_size=12),
            st.one_of(st.integers(0, 2**64), st.floats(allow_nan=False, width=64)),
        ),
        min_size=1,
        max_size=8,
        unique_by=lambda t: t[0],
    )
)
def test_round_trip_matches_prometheus_client(rows: list[tuple[str, float]]) -> None:
    fam = Family("kentongan_test", "gauge", "any")
    for value_label, value in rows:
        fam.add(LabelSet(("device", "interface"), ("d1", value_label)), value)
    ours = render_text([fam]).decode()
    from collectors.exposition import to_metric

    class One:
        def collect(self):  # type: ignore[no-untyped-def]
            yield to_metric(fam)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(One())  # type: ignore[arg-type]
    theirs = generate_latest(registry).decode()
    assert _samples(ours) == _samples(theirs)


def test_collector_and_fast_writer_agree(seeded: Engine) -> None:
    fibre_cut(seeded)
    collector = StoreCollector(seeded)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    ours = collector.render().decode()
    theirs = generate_latest(registry).decode()
    assert _samples(ours) == _samples(theirs)
    assert len(_samples(ours)) > 150


@pytest.mark.integration
def test_promtool_check_metrics_is_clean(seeded: Engine) -> None:
    text = StoreCollector(seeded).render()
    result = subprocess.run(
        ["/usr/bin/promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_fibre_tree_labels_and_states(seeded: Engine) -> None:
    fibre_cut(seeded)
    set_device(seeded, "rtr-rogojampi", "down")
    text = StoreCollector(seeded).render().decode()
    up = _by_name(text, "kentongan_device_up")
    assert up["rtr-kemiren"] == 0 and up["rtr-rogojampi"] == 0 and up["olt-noc"] == 1
    links = _by_name(text, "kentongan_link_up")
    assert links == {
        "fo-core-glagah": 0, "fo-core-rogojampi": 1, "fo-glagah-banjarsari": 0,
        "fo-glagah-kemiren": 0, "fo-glagah-olehsari": 0,
    }
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    kiosk = next(s for s in fams["kentongan_device_up"].samples
                 if s.labels["device"] == "kiosk-kemiren-1")
    assert kiosk.labels == {
        "device": "kiosk-kemiren-1", "role": "kiosk", "site": "kantor-desa-kemiren",
        "village_code": "35.10.15.2004", "district_code": "35.10.15",
        "uplink": "fo-glagah-kemiren", "upstream_1": "fo-core-glagah",
        "upstream_2": "fo-glagah-kemiren",
    }
    cut = next(s for s in fams["kentongan_link_up"].samples
               if s.labels["link"] == "fo-core-glagah")
    assert cut.labels["link_depth"] == "1" and cut.labels["upstream_1"] == "fo-core-glagah"
    # names only on _info series
    assert all("site_name" not in s.labels for s in fams["kentongan_device_up"].samples)
    site = next(s for s in fams["kentongan_site_info"].samples
                if s.labels["site"] == "noc-banyuwangi")
    assert site.labels["village_name"] == 'Kota "Lama"\\Baru'
    app = fams["kentongan_kiosk_app_info"].samples
    assert {s.labels["version"] for s in app} == {"2.4.1"}
    counters = fams["kentongan_interface_in_octets"]
    assert counters.type == "counter"
    assert all(s.name == "kentongan_interface_in_octets_total" for s in counters.samples)


def test_stale_device_has_no_up_sample(seeded: Engine) -> None:
    from tests.alerts.support import ago

    set_device(seeded, "rtr-kemiren", "up", at=ago(hours=1))
    text = StoreCollector(seeded, stale_after_seconds=180).render().decode()
    up = _by_name(text, "kentongan_device_up")
    assert "rtr-kemiren" not in up and up["rtr-olehsari"] == 1


def test_memory_does_not_grow_between_scrapes(seeded: Engine) -> None:
    collector = StoreCollector(seeded)
    for _ in range(3):
        collector.render()
    tracemalloc.start()
    collector.render()
    gc.collect()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(20):
        collector.render()
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - first < 64 * 1024, (first, after)


def test_metrics_endpoint(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    up = _by_name(response.text, "kentongan_device_up")
    assert up["olt-noc"] == 1 and len(up) == 15
    fams = {f.name: f for f in text_string_to_metric_families(response.text)}
    qualified = fams["kentongan_village_qualified"].samples
    assert {s.labels["village_code"] for s in qualified} >= {
        "35.10.15.2004", "35.10.15.2005", "35.10.15.1003", "35.10.13.2013"}
    assert fams["kentongan_poller_timeouts"].samples[0].value == 0
    result = subprocess.run(["/usr/bin/promtool", "check", "metrics"],
                            input=response.content, capture_output=True, timeout=30)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_staleness_follows_each_devices_interval(seeded: Engine) -> None:
    from tests.alerts.support import ago

    set_device(seeded, "kiosk-kemiren-1", "up", at=ago(minutes=10), poll_interval_seconds=300)
    set_device(seeded, "rtr-kemiren", "up", at=ago(minutes=10))
    text = StoreCollector(seeded, stale_after_intervals=3, default_interval_seconds=60)
    up = _by_name(text.render().decode(), "kentongan_device_up")
    assert up["kiosk-kemiren-1"] == 1 and "rtr-kemiren" not in up
