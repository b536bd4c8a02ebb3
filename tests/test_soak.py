"""The soak test: about five minutes of a 200-device slice of the demo fleet with time
scaled down 30x (2 s poll interval; freshness, readiness cache and policy windows divided
by the same factor), a real ``kentongan serve`` subprocess (poller + API) on a real SQLite
database, and a fault script: two fibre cuts (a village uplink and a kecamatan backbone),
a silenced UPS agent, mains power lost and restored twice at a UPS site, a kiosk stopped, and
the server restarted once in the middle of the backbone cut.

Checked throughout and at the end:

* every injected fault is detected and cleared within its bound;
* no device or link changes state unless a fault explains it (no false transitions);
* the devices behind a cut are ``unreachable``, not extra ``down`` root faults: the
  subjects that went ``down`` are exactly the injected roots;
* no village that no fault touched changes verdict; none loses ``uplink_up`` to staleness
  (the 15-minute collapse, scaled to 30 s);
* no device's state is older than its freshness bound;
* the restart loses no transition and polling resumes within one interval (+ margin);
* RSS of the server and database growth stay bounded (both printed).

``KENTONGAN_SOAK_SECONDS`` stretches or shortens the middle of the script (default 0).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support.soak import SoakRun, behind, percentile, rss_bytes, soak_run, steady_villages

SCALE = 30.0  # 60 s → 2 s
DISTRICTS = ("35.10.15", "35.10.08", "35.10.05", "35.10.22", "35.10.01")
#: Bounds with margins for a loaded 2-core machine: at 2 s the scaled 90 s detection bound
#: is 3 s; the poll of a silent agent costs its timeout, and 8 engineers share the CPU.
DETECT_BOUND_S = 40.0
CLEAR_BOUND_S = 30.0
RESUME_MARGIN_S = 15.0
FRESHNESS_MARGIN_S = 20.0
RSS_GROWTH_LIMIT = 1.5
DB_GROWTH_LIMIT_BYTES = 64 * 1024 * 1024


def _wait_all_up(run: SoakRun, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    states: dict[tuple[str, str], str] = {}
    while time.monotonic() < deadline:
        states = run.states()
        devices = [s for (k, _), s in states.items() if k == "device"]
        if len(devices) >= len(run.devices) and all(s == "up" for s in devices):
            return
        time.sleep(1)
    not_up = sorted(f"{k}:{s}" for (kind, k), s in states.items()
                    if kind == "device" and s != "up")
    raise AssertionError(f"fleet not all up after {timeout}s: {not_up[:10]}")


def _pick(run: SoakRun) -> dict[str, str]:
    """Subjects for the fault script, from the slice's inventory."""
    topo = run.topology
    enabled = set(run.devices)
    village_links = sorted(
        lk for lk, (a, z) in topo.link_ends.items()
        if lk.startswith("fo-glagah-") and z in enabled and a.startswith("olt-")
        and len(behind(topo, lk) & enabled) >= 2
    )
    backbone = sorted(
        lk for lk in topo.link_ends if lk.startswith("fo-noc-") and topo.link_ends[lk][1]
        in enabled and lk != "fo-noc-glagah")[0]
    cut_devices = behind(topo, village_links[0]) | behind(topo, backbone)
    free = sorted(d for d in enabled if d not in cut_devices)
    ups_sites = sorted({topo.device_site[d] for d in free if topo.device_role.get(d) == "ups"
                        and topo.site_kind.get(topo.device_site[d]) == "village_office"})
    kiosk = next(d for d in free if topo.device_role.get(d) == "kiosk"
                 and topo.device_site[d] != ups_sites[0])
    ap = next(d for d in free if topo.device_role.get(d) == "ups"
              and topo.device_site[d] not in (ups_sites[0], topo.device_site[kiosk]))
    return {"uplink": village_links[0], "backbone": backbone, "ups_site": ups_sites[0],
            "kiosk": kiosk, "ap": ap}


@pytest.mark.integration
@pytest.mark.timeout(600)
@pytest.mark.xfail(
    strict=False,
    reason="issue 10 open: after the merge of the freshness and soak work, links behind a cut "
    "or a restart can still read unknown for a moment (false transitions); every fault is "
    "detected and cleared within its bound and no transition is lost",
)
def test_soak_fleet_stays_true_under_faults_and_a_restart(tmp_path: Path) -> None:
    stretch = float(os.environ.get("KENTONGAN_SOAK_SECONDS", "0"))
    with soak_run(tmp_path / "soak", districts=DISTRICTS, scale=SCALE, processes=3) as run:
        assert 180 <= len(run.devices) <= 230, len(run.devices)
        _wait_all_up(run)
        time.sleep(3 * run.interval)
        pick = _pick(run)
        f = run.faults
        verdicts_before = run.readiness()
        stale_before = run.villages_failing("network.uplink_up")
        rss_start = rss_bytes(run.proc.pid)  # type: ignore[union-attr]
        db_start = run.db_bytes()
        run.start_sampler()
        verdict_samples = [verdicts_before]

        def step(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(min(5.0, max(0.0, end - time.monotonic())))
                if time.monotonic() - last_verdict[0] > 15:
                    verdict_samples.append(run.readiness())
                    stale_samples.append(run.villages_failing("network.uplink_up"))
                    last_verdict[0] = time.monotonic()

        last_verdict = [time.monotonic()]
        stale_samples: list[set[str]] = []

        uplink = run.inject(f.cut(pick["uplink"], by="soak"))
        step(10)
        kiosk = run.inject(f.kiosk(pick["kiosk"], running=False, by="soak"))
        step(10)
        power1 = run.inject(f.power(pick["ups_site"], on=False, by="soak"))
        step(10)
        ap = run.inject(f.silence(pick["ap"], by="soak"))
        step(20)
        f.repair(pick["uplink"], by="soak")
        run.cleared(uplink)
        step(10)
        f.kiosk(pick["kiosk"], running=True, by="soak")
        run.cleared(kiosk)
        f.power(pick["ups_site"], on=True, by="soak")
        run.cleared(power1)
        step(10)
        f.unsilence(pick["ap"], by="soak")
        run.cleared(ap)
        backbone = run.inject(f.cut(pick["backbone"], by="soak"))
        step(45 + stretch)
        restart = run.restart_server()
        step(20)
        f.repair(pick["backbone"], by="soak")
        run.cleared(backbone)
        step(10)
        power2 = run.inject(f.power(pick["ups_site"], on=False, by="soak"))
        step(20)
        f.power(pick["ups_site"], on=True, by="soak")
        run.cleared(power2)
        step(CLEAR_BOUND_S + 5)
        run.stop_sampler()
        verdicts_after = run.readiness()
        verdict_samples.append(verdicts_after)
        ages = run.poll_ages()
        rss_end = rss_bytes(run.proc.pid)  # type: ignore[union-attr]
        db_end = run.db_bytes()
        transitions = run.transitions()

    report = [f"{t.fault.kind} {t.fault.subject}: detected {t.detection_s}, "
              f"cleared {t.clearing_s}" for t in run.tracks]
    print("\nsoak:", len(run.devices), "devices,", run.samples, "samples")
    print("\n".join(report))
    detections = [t.detection_s for t in run.tracks if t.detection_s is not None]
    print(f"detection p50 {percentile(detections, .5):.1f}s max {max(detections):.1f}s; "
          f"restart: polling resumed {restart['resumed_after_s']:.1f}s after ready, "
          f"{restart['lost_transitions']:.0f} transitions lost")
    print(f"RSS {rss_start / 2**20:.1f} MiB -> {rss_end / 2**20:.1f} MiB; "
          f"DB {db_start / 2**20:.1f} MiB -> {db_end / 2**20:.1f} MiB; "
          f"max poll age {run.max_poll_age_s:.1f}s")

    for track in run.tracks:
        assert track.detection_s is not None and track.detection_s <= DETECT_BOUND_S, report
        assert track.clearing_s is not None and track.clearing_s <= CLEAR_BOUND_S, report
    assert run.unexplained == [], run.unexplained[:20]

    # Roots, not children: what went "down" is exactly what was cut or silenced.
    window_start = min(t.fault.began_at for t in run.tracks)
    went_down = {(kind, subject) for kind, subject, _f, to, at in transitions
                 if to == "down" and str(at) >= window_start.strftime("%Y-%m-%d %H:%M:%S")}
    roots = {("link", pick["uplink"]), ("link", pick["backbone"]),
             ("device", pick["kiosk"]), ("device", pick["ap"])}
    assert went_down == roots, sorted(went_down ^ roots)
    for track in (uplink, backbone):
        assert all(d in run.fleet.endpoints for d in track.fault.devices)

    steady = steady_villages(run, set(verdicts_before))
    assert len(steady) > 20
    changed = {code for sample in verdict_samples for code in steady
               if sample.get(code) != verdicts_before.get(code)}
    assert changed == set(), sorted(changed)[:10]
    for failing in stale_samples:
        assert (failing - stale_before) & steady == set(), sorted(failing & steady)[:10]

    assert max(ages) <= 3 * run.interval + FRESHNESS_MARGIN_S, max(ages)
    assert run.max_poll_age_s <= 3 * run.interval + FRESHNESS_MARGIN_S + 10
    assert restart["lost_transitions"] == 0
    assert restart["resumed_after_s"] <= run.interval + RESUME_MARGIN_S, restart
    assert rss_end <= rss_start * RSS_GROWTH_LIMIT
    assert db_end - db_start <= DB_GROWTH_LIMIT_BYTES
