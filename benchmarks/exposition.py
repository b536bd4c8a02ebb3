"""Time and bytes to render ``/metrics`` at ~10k and ~100k series: Kentongan's fast writer
against prometheus_client's plain labelled Gauges/Counters holding the same data, in one run.

    .venv/bin/python benchmarks/exposition.py [--repeat 7]

A synthetic regency (N devices with 10 interfaces each, in a temporary SQLite database) is
written to the observation store; then, per size:

* ``kentongan scrape``: what ``/metrics`` does per scrape: read the store with plain SQL,
  build the families, write the text (``StoreCollector.render``);
* ``kentongan render``: the text writer alone, over families already built;
* ``client collector``: the same families through prometheus_client's ``generate_latest``
  (``StoreCollector.collect``);
* ``client gauges``: prometheus_client labelled ``Gauge``/``Counter`` objects holding the
  same samples (set up once, outside the timing), rendered by ``generate_latest``.

Medians of ``--repeat`` runs, bytes, the ratio, and the memory growth between scrapes
(tracemalloc, after warm-up, over 5 scrapes).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert

from collectors.exposition import Family, render_text
from collectors.metrics import StoreCollector
from collectors.models import DeviceState, InterfaceState, LinkState
from core.timeutil import utcnow
from inventory.db import make_engine
from inventory.models import Device, Link, Region, Site
from kentongan.app import upgrade

INTERFACES = 10


def build_store(path: Path, devices: int) -> Engine:
    """A regency of ``devices`` devices (5 per village site, 10 interfaces each)."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    now = utcnow()
    sites = max(1, devices // 5)
    regions = [{"code": "35.10", "name": "Banyuwangi", "level": "kabupaten"}]
    regions += [{"code": f"35.10.{d:02d}", "name": f"Kecamatan {d}", "level": "kecamatan",
                 "parent_code": "35.10"} for d in range(1, 26)]
    site_rows, region_rows, device_rows, link_rows = [], [], [], []
    for s in range(sites):
        district = f"35.10.{s % 25 + 1:02d}"
        village = f"{district}.{2000 + s:04d}"
        region_rows.append({"code": village, "name": f"Desa {s}", "level": "desa",
                            "parent_code": district})
        site_rows.append({"id": f"site-{s}", "name": f"Kantor Desa {s}",
                          "kind": "village_office", "village_code": village,
                          "district_code": district})
    roles = ("router", "ont", "ups", "kiosk", "switch")
    for d in range(devices):
        device_rows.append({"id": f"dev-{d}", "site_id": f"site-{d // 5 % sites}",
                            "role": roles[d % 5], "address": f"10.{d // 65536}.{d // 256 % 256}."
                            f"{d % 256}"})
    for s in range(1, sites):
        link_rows.append({"id": f"fo-{s}", "medium": "fibre", "a_device": "dev-0",
                          "a_interface": f"gpon{s}", "z_device": f"dev-{s * 5}",
                          "z_interface": "if1", "capacity_bps": 10**9, "uplink_of": f"site-{s}"})
    states = [{
        "device_id": f"dev-{d}", "status": "up", "observed_status": "up", "last_poll_at": now,
        "poll_duration_seconds": 0.0123, "polls_total": 1000 + d, "errors_total": d % 7,
        "timeouts_total": d % 3, "ups_on_battery": False if d % 5 == 2 else None,
        "ups_charge_percent": 97.5 if d % 5 == 2 else None,
        "kiosk_app_version": "2.4.1" if d % 5 == 3 else None,
        "kiosk_disk_free_bytes": 21_474_836_480 if d % 5 == 3 else None,
        "kiosk_disk_total_bytes": 68_719_476_736 if d % 5 == 3 else None,
    } for d in range(devices)]
    interfaces = [{
        "device_id": f"dev-{d}", "if_index": i, "name": f"if{i}", "admin_up": True,
        "oper_up": i % 4 != 0, "speed_mbps": 1000, "in_octets_total": 123_456_789_012 + i,
        "out_octets_total": 98_765_432_109 + d, "in_errors_total": i, "out_errors_total": 0,
        "in_discards_total": d % 11, "out_discards_total": 3,
    } for d in range(devices) for i in range(1, INTERFACES + 1)]
    with engine.begin() as conn:
        conn.execute(insert(Region), regions + region_rows)
        conn.execute(insert(Site), site_rows)
        conn.execute(insert(Device), device_rows)
        if link_rows:
            conn.execute(insert(Link), link_rows)
            conn.execute(insert(LinkState), [{"link_id": r["id"], "status": "up"}
                                             for r in link_rows])
        conn.execute(insert(DeviceState), states)
        conn.execute(insert(InterfaceState), interfaces)
    return engine


def gauges_registry(families: list[Family]) -> CollectorRegistry:
    """prometheus_client's plain labelled metrics holding the same samples."""
    registry = CollectorRegistry(auto_describe=False)
    for fam in families:
        if not fam.samples:
            continue
        names = sorted({n for labels, _ in fam.samples for n in labels.names})
        cls = Counter if fam.type == "counter" else Gauge
        name = fam.name + "_info" if fam.type == "info" else fam.name
        metric = cls(name, fam.help, names, registry=registry)
        for labels, value in fam.samples:
            values = dict(zip(labels.names, labels.values, strict=True))
            child = metric.labels(**{n: values.get(n, "") for n in names}) if names else metric
            if cls is Counter:
                child.inc(value)
            else:
                child.set(value)
    return registry


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Median wall and CPU (process) seconds; CPU time is the steadier figure on a busy
    machine."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls), statistics.median(cpus), out


def growth(fn: Callable[[], object]) -> int:
    fn()
    gc.collect()
    tracemalloc.start()
    fn()
    gc.collect()
    first, _ = tracemalloc.get_traced_memory()
    for _ in range(5):
        fn()
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return after - first


def main() -> None:
    disable_created_metrics()  # same samples as ours: no _created series on counters
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes", default="100,1000", help="devices per run (comma list)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {INTERFACES} interfaces per device, "
          f"median of {args.repeat}")
    header = f"{'devices':>7} {'series':>7} {'renderer':<20} {'wall ms':>9} {'cpu ms':>9} "
    print(header + f"{'us/series':>9} {'bytes':>11} {'growth B':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            engine = build_store(Path(tmp) / f"bench-{size}.db", size)
            collector = StoreCollector(engine, stale_after_seconds=10**9)
            families = collector.families()
            series = sum(len(f.samples) for f in families)
            registry = CollectorRegistry(auto_describe=False)
            registry.register(collector)  # type: ignore[arg-type]
            gauges = gauges_registry(families)
            ours = render_text(families).decode()
            theirs = generate_latest(gauges).decode()
            a = sum(1 for f in text_string_to_metric_families(ours) for _ in f.samples)
            b = sum(1 for f in text_string_to_metric_families(theirs) for _ in f.samples)
            assert a == b == series, (a, b, series)
            runs = {
                "kentongan scrape": collector.render,
                "kentongan render": lambda f=families: render_text(f),
                "client collector": lambda r=registry: generate_latest(r),
                "client gauges": lambda g=gauges: generate_latest(g),
            }
            results = {}
            for name, fn in runs.items():
                wall, cpu, out = median_time(fn, args.repeat)
                results[name] = cpu
                grown = growth(fn) if name in ("kentongan scrape", "client gauges") else 0
                print(f"{size:>7} {series:>7} {name:<20} {wall * 1000:>9.1f} {cpu * 1000:>9.1f} "
                      f"{cpu / series * 1e6:>9.2f} {len(out):>11} {grown:>9}")  # type: ignore[arg-type]
            print(f"{'':>7} {'':>7} cpu ratio client gauges / kentongan scrape = "
                  f"{results['client gauges'] / results['kentongan scrape']:.1f}x; "
                  f"/ kentongan render = "
                  f"{results['client gauges'] / results['kentongan render']:.1f}x")
            engine.dispose()


if __name__ == "__main__":
    main()
