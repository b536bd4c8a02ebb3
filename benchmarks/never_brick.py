"""Fault campaign: N simulated kiosk updates with a random kiosk-side fault in a share of
them; prints, per fault kind, how many kiosks were left without a working release (the aim:
0), rolled back, failed (refused), recovered on resume, had an untruthful rollout record,
and the time to a safe state.

    .venv/bin/python benchmarks/never_brick.py --kiosks 50 --rounds 20 --share 0.3

Real parts: every update is a real rollout (ansible-runner, kiosk-update.yml) over real
OpenSSH to sshd stand-in kiosks on 127.0.8.x, each with its release area on a small tmpfs
(root needed for the mounts). Faults: see ``tests/playbooks/campaign.py``. The table is
printed after every round, so an interrupted campaign still reports what it did.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.settings import Settings  # noqa: E402
from inventory.db import make_engine  # noqa: E402
from inventory.migrate import upgrade  # noqa: E402
from tests.playbooks.campaign import FAULTS, Campaign, Fault  # noqa: E402
from tests.playbooks.kiosks import KioskFleet  # noqa: E402


def _stop_on_sigterm() -> None:
    def handler(_signum: int, _frame: object) -> None:
        raise SystemExit("terminated")

    signal.signal(signal.SIGTERM, handler)


def main() -> int:
    """Run the campaign; exit 1 when a kiosk was bricked or a record was untruthful."""
    _stop_on_sigterm()
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="example: .venv/bin/python benchmarks/never_brick.py --kiosks 50 --rounds 20",
    )
    parser.add_argument("--kiosks", type=int, default=50, help="stand-in kiosks (max 250)")
    parser.add_argument("--rounds", type=int, default=20, help="rollouts; each updates all")
    parser.add_argument("--share", type=float, default=0.3, help="share of faulty updates")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help="comma-separated fault kinds to draw from")
    args = parser.parse_args()
    if not 1 <= args.kiosks <= 250:
        parser.error("--kiosks must be 1..250")
    faults = [Fault(name.strip()) for name in args.faults.split(",") if name.strip()]

    tmp = Path(tempfile.mkdtemp(prefix="kentongan-never-brick-"))
    addresses = [f"127.0.8.{i}" for i in range(1, args.kiosks + 1)]
    started = time.monotonic()
    try:
        with KioskFleet(tmp / "fleet", addresses, prefix="nb",
                        release_area_bytes=512 * 1024) as fleet:
            fleet.start_all()
            url = f"sqlite:///{tmp / 'campaign.db'}"
            engine = make_engine(url)
            upgrade(engine)
            campaign = Campaign(
                fleet, engine,
                Settings(database_url=url, run_poller=False, service_hours="00:00-00:00",
                         service_days="mon"),
                tmp / "releases", random.Random(args.seed), share=args.share, faults=faults,
            )
            campaign.seed_inventory()
            campaign.prepare()
            for number in range(1, args.rounds + 1):
                t0 = time.monotonic()
                updates = campaign.run_round(number)
                bad = [u for u in updates if u.bricked or u.untruthful]
                print(f"\nround {number}/{args.rounds}: {len(updates)} updates in "
                      f"{time.monotonic() - t0:.0f} s, "
                      f"{sum(u.fault != Fault.NONE for u in updates)} with a fault", flush=True)
                for u in bad:
                    print(f"  !! {u.kiosk} {u.fault} {u.detail}: state {u.state} "
                          f"({u.message[:200]}); problem: {u.problem}; record: {u.untruthful}",
                          flush=True)
                print(campaign.table(), flush=True)
            engine.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bricked = sum(u.bricked for u in campaign.updates)
    untrue = sum(bool(u.untruthful) for u in campaign.updates)
    print(f"\n{len(campaign.updates)} updates ({args.kiosks} kiosks x {args.rounds} rounds, "
          f"fault share {args.share:g}) in {time.monotonic() - started:.0f} s: "
          f"{bricked} kiosk(s) left without a working release, {untrue} untruthful record(s)")
    return 1 if bricked or untrue else 0


if __name__ == "__main__":
    sys.exit(main())
