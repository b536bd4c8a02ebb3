"""Benchmark: a rollout over N loopback kiosks through Kentongan (ansible-runner, event
streaming into the database, per-host records) against plain ``ansible-playbook`` on the
same inventory, playbook and forks, in one run. Prints the medians and the ratio.

    .venv/bin/python benchmarks/rollout.py --kiosks 50 --runs 3 --forks 25

Each run installs a new release on every kiosk (sshd kiosks on 127.0.4.x, the sample
kiosk app, the script service manager); runs alternate between the two sides.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402
from inventory.db import make_engine, session_scope  # noqa: E402
from inventory.models import Device, Region, Site, SshProfile  # noqa: E402
from kentongan.app import upgrade  # noqa: E402
from playbooks.release import resolve_release  # noqa: E402
from playbooks.rollout import RolloutOptions, create_rollout, run_rollout  # noqa: E402
from playbooks.runner import ANSIBLE_CFG, playbook_path, yaml_inventory  # noqa: E402
from playbooks.sample_app import build_sample_release  # noqa: E402
from playbooks.targets import TargetFilter, ansible_inventory, select_targets  # noqa: E402
from tests.playbooks.kiosks import KioskFleet  # noqa: E402


def _seed(engine, fleet: KioskFleet) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        session.add(Region(code="35.10", name="Banyuwangi", level="kabupaten"))
        session.flush()
        session.add(Region(code="35.10.15", name="Glagah", level="kecamatan", parent_code="35.10"))
        session.flush()
        session.add(Region(code="35.10.15.2004", name="Kemiren", level="desa",
                           parent_code="35.10.15"))
        session.flush()
        session.add(SshProfile(name="bench", username="root", key_file=str(fleet.client_key),
                               known_hosts_file=str(fleet.known_hosts)))
        session.add(Site(id="kemiren", name="Kemiren", kind="village_office",
                         village_code="35.10.15.2004", district_code="35.10.15", tags=[]))
        session.flush()
        for k in fleet.kiosks:
            session.add(Device(id=k.name, site_id="kemiren", role="kiosk", address=k.address,
                               ssh_port=k.port, ssh_profile="bench", tags=[]))


def _stop_on_sigterm() -> None:
    def handler(_signum: int, _frame: object) -> None:
        raise SystemExit("terminated")

    signal.signal(signal.SIGTERM, handler)


def main() -> None:
    _stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3, help="runs per side")
    parser.add_argument("--forks", type=int, default=25)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kentongan-bench-rollout-"))
    addresses = [f"127.0.4.{i}" for i in range(1, args.kiosks + 1)]
    releases = tmp / "releases"
    versions = [f"1.{i}.0" for i in range(2 * args.runs)]
    for version in versions:
        build_sample_release(releases, version)
    bin_dir = Path(sys.executable).parent
    with KioskFleet(tmp / "fleet", addresses, prefix="bench") as fleet:
        fleet.start_all()
        engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
        upgrade(engine)
        _seed(engine, fleet)
        settings = Settings(database_url=f"sqlite:///{tmp / 'bench.db'}", run_poller=False,
                            service_hours="00:00-00:00", service_days="mon")
        extra = fleet.extravars()
        with session_scope(engine) as session:
            targets = select_targets(session, TargetFilter())
        inv_file = tmp / "inventory.json"
        inv_file.write_text(json.dumps(yaml_inventory(ansible_inventory(targets))))
        env = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_CFG),
                   PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                   **fleet.envvars())

        plain: list[float] = []
        ours: list[float] = []
        for run in range(args.runs):
            # plain ansible-playbook
            release = resolve_release(versions[2 * run], release_dir=releases)
            vars_file = tmp / f"vars-{run}.json"
            vars_file.write_text(json.dumps(extra | release.extravars()))
            start = time.perf_counter()
            proc = subprocess.run(
                [str(bin_dir / "ansible-playbook"), "-i", str(inv_file), "-e", f"@{vars_file}",
                 "-f", str(args.forks), str(playbook_path("kiosk-update.yml"))],
                env=env, capture_output=True, text=True, check=False,
            )
            plain.append(time.perf_counter() - start)
            if proc.returncode != 0:
                sys.exit(f"ansible-playbook failed:\n{proc.stdout[-3000:]}")
            # Kentongan
            release = resolve_release(versions[2 * run + 1], release_dir=releases)
            start = time.perf_counter()
            rid = create_rollout(
                engine, release, target=TargetFilter(),
                options=RolloutOptions(canary=0, batch="100%", max_fail=0, forks=args.forks,
                                       extra_vars=extra),
                created_by="benchmark",
            )
            summary = run_rollout(engine, rid, settings=settings, envvars=fleet.envvars())
            ours.append(time.perf_counter() - start)
            if summary.status != "completed" or summary.counts.get("changed") != args.kiosks:
                sys.exit(f"rollout {rid} did not complete cleanly: {summary}")
            print(f"run {run + 1}: ansible-playbook {plain[-1]:.1f} s, "
                  f"kentongan {ours[-1]:.1f} s", flush=True)
        engine.dispose()

    shutil.rmtree(tmp, ignore_errors=True)
    p, k = statistics.median(plain), statistics.median(ours)
    print(f"\n{args.kiosks} kiosks, forks {args.forks}, {args.runs} run(s) per side")
    print(f"  plain ansible-playbook  median {p:6.1f} s   (runs: "
          + ", ".join(f"{x:.1f}" for x in plain) + ")")
    print(f"  kentongan rollout       median {k:6.1f} s   (runs: "
          + ", ".join(f"{x:.1f}" for x in ours) + ")")
    print(f"  ratio kentongan / plain: {k / p:.3f}  (overhead {100 * (k / p - 1):+.1f} %)")


if __name__ == "__main__":
    main()
