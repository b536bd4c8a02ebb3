#!/usr/bin/env python3
"""Load the readiness API with wrk (a separate process) against ``kentongan serve``.

Two fleets, each in its own temporary SQLite database with fresh observations:

* Banyuwangi: the shipped sample (217 villages);
* national: a synthetic fleet from ``examples/generate.py synthetic`` (83,000 villages).

For each: the cold board computation, then requests/s and p50/p99 latency (wrk --latency)
for one village's readiness (random villages, via a wrk Lua script), a kecamatan summary and
the regency (national) summary. Aims: village p99 < 20 ms and regency summary < 50 ms at
Banyuwangi scale; the national summary under 2 s.

    .venv/bin/python benchmarks/api_load.py                 # both fleets
    .venv/bin/python benchmarks/api_load.py --villages 0    # Banyuwangi only
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.timeutil import utcnow  # noqa: E402
from inventory.db import make_engine, session_scope  # noqa: E402
from kentongan.app import upgrade  # noqa: E402
from tests.api.fleet import import_banyuwangi, seed_observations  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

KENTONGAN = [sys.executable, "-m", "kentongan.cli"]


def build_banyuwangi(tmp: Path) -> str:
    url = f"sqlite:///{tmp / 'banyuwangi.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        import_banyuwangi(session)
    with session_scope(engine) as session:
        seed_observations(session, now=utcnow())
    engine.dispose()
    return url


def build_national(tmp: Path, villages: int) -> str:
    url = f"sqlite:///{tmp / 'national.db'}"
    fleet = tmp / "fleet"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "examples" / "generate.py"), "synthetic",
                    "--villages", str(villages), "--out", str(fleet)], check=True,
                   stdout=subprocess.DEVNULL)
    env = {**os.environ, "KENTONGAN_DATABASE_URL": url, "KENTONGAN_LOG_LEVEL": "WARNING"}
    subprocess.run([*KENTONGAN, "db", "upgrade"], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    national = ROOT / "examples" / "indonesia"
    subprocess.run([*KENTONGAN, "inventory", "import", str(national / "admin_units.csv.gz"),
                    str(national / "villages.csv.gz"), str(fleet)], check=True, env=env,
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = make_engine(url)
    with session_scope(engine) as session:
        seed_observations(session, now=utcnow())
    engine.dispose()
    print(f"  national fleet of {villages} villages built in {time.perf_counter() - t0:.0f} s")
    return url


class Server:
    """``kentongan serve`` in a subprocess (poller off)."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "KENTONGAN_DATABASE_URL": url, "KENTONGAN_RUN_POLLER": "false",
               "KENTONGAN_LOG_LEVEL": "WARNING"}
        self.log = (tmp / f"serve-{self.port}.log").open("w")
        self.proc = subprocess.Popen(
            [*KENTONGAN, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--no-poll"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("kentongan serve exited")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("kentongan serve did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    assert m is not None, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, *, duration: int, connections: int, threads: int,
            script: Path | None = None) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    return {"rps": rps, "p50": p50, "p99": p99, "errors": errors}


def village_script(tmp: Path, codes: list[str]) -> Path:
    sample = random.Random(7).sample(codes, min(2000, len(codes)))
    lua = tmp / "villages.lua"
    lua.write_text(
        "local codes = {" + ",".join(f'"{c}"' for c in sample) + "}\n"
        "math.randomseed(7)\n"
        "request = function()\n"
        '  return wrk.format("GET", "/api/v1/readiness/villages/" .. codes[math.random(#codes)])\n'
        "end\n")
    return lua


def bench_fleet(name: str, url: str, tmp: Path, args: argparse.Namespace) -> list[str]:
    server = Server(url, tmp)
    lines = []
    try:
        t0 = time.perf_counter()
        summary = httpx.get(f"{server.base}/api/v1/readiness", timeout=600).json()
        cold = time.perf_counter() - t0
        total = summary["counts"]["total"]
        districts = [d["code"] for d in summary["districts"]]
        district = max(summary["districts"], key=lambda d: d["counts"]["total"])["code"]
        page = httpx.get(f"{server.base}/api/v1/readiness/villages",
                         params={"limit": 1000}, timeout=60).json()
        codes = [v["code"] for v in page["items"]]
        warm = []
        with httpx.Client(base_url=server.base, timeout=60) as client:
            for _ in range(50):
                t = time.perf_counter()
                client.get("/api/v1/readiness")
                warm.append((time.perf_counter() - t) * 1000)
        lines.append(f"{name}: {total} villages, {len(districts)} kecamatan; cold board "
                     f"(first /api/v1/readiness, all villages evaluated) {cold * 1000:.0f} ms; "
                     f"cached summary, sequential: median {statistics.median(warm):.1f} ms")
        targets = [
            ("village readiness", f"{server.base}/", village_script(tmp, codes)),
            ("district summary", f"{server.base}/api/v1/readiness/districts/{district}", None),
            ("regency summary", f"{server.base}/api/v1/readiness", None),
        ]
        for label, target, script in targets:
            r = run_wrk(target, duration=args.duration, connections=args.connections,
                        threads=args.threads, script=script)
            lines.append(f"  {label:<18} {r['rps']:>9.0f} req/s   p50 {r['p50']:>8.2f} ms   "
                         f"p99 {r['p99']:>8.2f} ms   non-2xx {int(r['errors'])}")
    finally:
        server.stop()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--villages", type=int, default=83_000,
                        help="national synthetic fleet size (0: skip)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: bash scripts/install-system-deps.sh", file=sys.stderr)
        return 2
    report = [f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s against "
              f"kentongan serve (uvicorn, 1 worker, SQLite, board cached 30 s); "
              f"{os.cpu_count()} CPUs"]
    with tempfile.TemporaryDirectory(prefix="ktg-bench-") as d:
        tmp = Path(d)
        print("building the Banyuwangi fleet …", flush=True)
        report += bench_fleet("Banyuwangi", build_banyuwangi(tmp), tmp, args)
        if args.villages:
            print(f"building a national fleet of {args.villages} villages …", flush=True)
            report += bench_fleet("national", build_national(tmp, args.villages), tmp, args)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
