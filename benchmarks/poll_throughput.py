"""Poll throughput: Kentongan's SNMP collector against Debian's prometheus-snmp-exporter (Go).

N simulated devices (default 1,000 and 5,000) are served by net-snmp ``snmpd`` (C): several
processes (at least 4, at most 1,250 addresses each), each listening on many loopback
addresses (127.1.x.y:1161), so every device has its own address; consecutive devices go to
different processes, so the agents work in parallel. Both pollers fetch the same OIDs from
every device (sysUpTime, sysName, sysDescr + 9 IF-MIB columns: admin/oper status, HC in/out
octets, in/out errors, in/out discards, ifHighSpeed), at the same concurrency, for SNMP v2c
and v3 (SHA/AES authPriv):

* Kentongan: ``SnmpCollector`` in a worker subprocess (clean CPU/RSS accounting), role
  ``router``; one warm-up round, then ``--rounds`` measured rounds (every 10th poll also
  refreshes ifName/ifAlias, which the exporter is not asked for).
* the exporter: a hand-written snmp.yml with the same OIDs as ``get``/``walk`` lists, scraped
  through ``/snmp?target=…&module=…`` by an asyncio HTTP/1.1 keep-alive client; its CPU and
  peak RSS are read from /proc.
* pysnmp 7's high-level API (the reference) on ``--pysnmp-devices`` devices, for scale.

Printed per run: devices/s, poller CPU-seconds per device (median over rounds), failed polls
(false timeouts: every device is healthy), peak RSS, agent CPU utilisation (to show the
agents are not the bottleneck), and the ratio exporter/Kentongan. Run standalone:

    .venv/bin/python benchmarks/poll_throughput.py [--devices 1000 5000] [--versions 2c 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.base import Secret, SnmpCredentials, Target  # noqa: E402
from collectors.simfleet.snmpd import SnmpdAgent, SnmpdUser, start_snmpd  # noqa: E402

EXPORTER = "/usr/bin/prometheus-snmp-exporter"
PORT = 1161
PER_AGENT = 1250
USER = SnmpdUser("bench", "SHA", "bench-auth-key", "AES", "bench-priv-key")
SCALARS = {"sysDescr": "1.3.6.1.2.1.1.1.0", "sysUpTime": "1.3.6.1.2.1.1.3.0",
           "sysName": "1.3.6.1.2.1.1.5.0"}
COLUMNS = {
    "ifAdminStatus": "1.3.6.1.2.1.2.2.1.7", "ifOperStatus": "1.3.6.1.2.1.2.2.1.8",
    "ifInDiscards": "1.3.6.1.2.1.2.2.1.13", "ifInErrors": "1.3.6.1.2.1.2.2.1.14",
    "ifOutDiscards": "1.3.6.1.2.1.2.2.1.19", "ifOutErrors": "1.3.6.1.2.1.2.2.1.20",
    "ifHCInOctets": "1.3.6.1.2.1.31.1.1.1.6", "ifHCOutOctets": "1.3.6.1.2.1.31.1.1.1.10",
    "ifHighSpeed": "1.3.6.1.2.1.31.1.1.1.15",
}
COUNTER_COLUMNS = {"ifInDiscards", "ifInErrors", "ifOutDiscards", "ifOutErrors", "ifHCInOctets",
                   "ifHCOutOctets"}


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def addresses(n: int) -> list[tuple[str, int]]:
    """Device i answers on 127.1.(i // 250).(i % 250 + 1):1161."""
    return [(f"127.1.{i // 250}.{i % 250 + 1}", PORT) for i in range(n)]


def creds(version: str) -> SnmpCredentials:
    if version == "2c":
        return SnmpCredentials("2c", community=Secret("public"))
    return SnmpCredentials("3", user=USER.name, auth="sha", auth_key=Secret(USER.auth_key),
                           priv="aes", priv_key=Secret(USER.priv_key))


# --------------------------------------------------------------------------- workers


async def _kentongan_rounds(spec: dict[str, Any]) -> dict[str, Any]:
    from collectors.snmp import SnmpCollector, UdpTransport

    c = SnmpCollector(max_concurrency=spec["concurrency"], max_inflight=spec["concurrency"] * 2)
    cr = creds(spec["version"])
    targets = [Target(device_id=f"dev{i}", role="router", address=a, snmp_port=p, snmp=cr,
                      timeout=spec["timeout"], retries=1)
               for i, (a, p) in enumerate(spec["addresses"])]
    rounds = []
    values = 0
    for _ in range(spec["rounds"] + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        obs = await asyncio.gather(*(c.collect(t) for t in targets))
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        # a poll counts only when complete: every value present
        failed = [o for o in obs if not o.ok or o.sys_uptime_ticks is None or not o.interfaces
                  or any(i.in_octets is None or i.oper_up is None for i in o.interfaces)]
        values = max(values, 3 + 9 * max(len(o.interfaces) for o in obs))
        rounds.append({"cpu": cpu, "wall": wall, "failed": len(failed),
                       "reasons": sorted({o.reason or "" for o in failed})[:3]})
    rcvbuf = c.transport.receive_buffer if isinstance(c.transport, UdpTransport) else 0
    await c.aclose()
    return {"rounds": rounds, "values": values,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rcvbuf": rcvbuf}


async def _pysnmp_rounds(spec: dict[str, Any]) -> dict[str, Any]:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        UsmUserData,
        bulk_cmd,
        get_cmd,
        usmAesCfb128Protocol,
        usmHMACSHAAuthProtocol,
    )

    engine = SnmpEngine()
    if spec["version"] == "2c":
        auth: Any = CommunityData("public", mpModel=1)
    else:
        auth = UsmUserData(USER.name, USER.auth_key, USER.priv_key,
                           authProtocol=usmHMACSHAAuthProtocol, privProtocol=usmAesCfb128Protocol)
    sem = asyncio.Semaphore(spec["concurrency"])
    scalars = [ObjectType(ObjectIdentity(o)) for o in SCALARS.values()]

    async def one(addr: tuple[str, int]) -> bool:
        async with sem:
            tgt = await UdpTransportTarget.create(tuple(addr), timeout=spec["timeout"], retries=1)
            err, status, _, _ = await get_cmd(engine, auth, tgt, ContextData(), *scalars)
            if err or status:
                return False
            # one GETBULK of all columns (the same request shape as Kentongan's)
            err, status, _, _ = await bulk_cmd(
                engine, auth, tgt, ContextData(), 0, 8,
                *(ObjectType(ObjectIdentity(o)) for o in COLUMNS.values()))
            return not (err or status)

    rounds = []
    for _ in range(spec["rounds"] + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        ok = await asyncio.gather(*(one(a) for a in spec["addresses"]))
        rounds.append({"cpu": time.process_time() - c0, "wall": time.perf_counter() - w0,
                       "failed": ok.count(False), "reasons": []})
    engine.close_dispatcher()
    return {"rounds": rounds, "values": 0,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    spec["addresses"] = [tuple(a) for a in spec["addresses"]]
    fn = _kentongan_rounds if spec["impl"] == "kentongan" else _pysnmp_rounds
    print(json.dumps(asyncio.run(fn(spec))))


def run_worker(impl: str, addrs: list[tuple[str, int]], version: str, *, concurrency: int,
               rounds: int, timeout: float, tmp: Path) -> dict[str, Any]:
    spec = tmp / f"spec-{impl}-{version}-{len(addrs)}.json"
    spec.write_text(json.dumps({"impl": impl, "addresses": addrs, "version": version,
                                "concurrency": concurrency, "rounds": rounds,
                                "timeout": timeout}))
    out = subprocess.run([sys.executable, __file__, "--worker", str(spec)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# --------------------------------------------------------------------------- exporter


def exporter_config() -> str:
    """snmp.yml (snmp_exporter 0.21 format: auth inside each module)."""
    metrics = []
    for name, oid in SCALARS.items():
        typ = "DisplayString" if name in ("sysDescr", "sysName") else "gauge"
        metrics.append(f"  - name: {name}\n    oid: {oid.rsplit('.', 1)[0]}\n    type: {typ}\n"
                       f"    help: {name}\n")
    for name, oid in COLUMNS.items():
        typ = "counter" if name in COUNTER_COLUMNS else "gauge"
        metrics.append(f"  - name: {name}\n    oid: {oid}\n    type: {typ}\n    help: {name}\n"
                       "    indexes:\n    - labelname: ifIndex\n      type: gauge\n")
    body = ("  walk:\n" + "".join(f"  - {o}\n" for o in COLUMNS.values())
            + "  get:\n" + "".join(f"  - {o}\n" for o in SCALARS.values())
            + "  metrics:\n" + "".join(metrics)
            + "  max_repetitions: 25\n  retries: 1\n  timeout: 2s\n")
    v2 = "kentongan_v2c:\n" + body + "  version: 2\n  auth:\n    community: public\n"
    v3 = ("kentongan_v3:\n" + body + "  version: 3\n  auth:\n"
          f"    username: {USER.name}\n    security_level: authPriv\n"
          f"    password: {USER.auth_key}\n    auth_protocol: SHA\n"
          f"    priv_protocol: AES\n    priv_password: {USER.priv_key}\n")
    return v2 + v3


async def _http_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    path: str) -> tuple[int, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: exporter\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = bytearray()
    while True:  # chunked
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _scrape_all(port: int, addrs: list[tuple[str, int]], module: str,
                      concurrency: int) -> list[bool]:
    queue = list(enumerate(addrs))
    results = [False] * len(addrs)

    async def conn() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                i, (a, p) = queue.pop()
                status, body = await _http_get(reader, writer,
                                               f"/snmp?target={a}:{p}&module={module}")
                results[i] = status == 200 and b"\nsysUpTime " in body and b"ifHCInOctets{" in body
        finally:
            writer.close()

    await asyncio.gather(*(conn() for _ in range(min(concurrency, len(addrs)))))
    return results


def run_exporter(addrs: list[tuple[str, int]], version: str, *, concurrency: int, rounds: int,
                 tmp: Path) -> dict[str, Any]:
    conf = tmp / "snmp.yml"
    conf.write_text(exporter_config())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp / f"exporter-{version}-{len(addrs)}.log").open("wb")
    proc = subprocess.Popen([EXPORTER, f"--config.file={conf}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError as exc:
                if time.monotonic() > deadline or proc.poll() is not None:
                    log_text = (tmp / f"exporter-{version}-{len(addrs)}.log").read_text()
                    raise RuntimeError(f"snmp_exporter did not start: {log_text}") from exc
                time.sleep(0.05)
        module = "kentongan_v2c" if version == "2c" else "kentongan_v3"
        out = []
        for _ in range(rounds + 1):
            c0, w0 = cpu_seconds(proc.pid), time.perf_counter()
            ok = asyncio.run(_scrape_all(port, addrs, module, concurrency))
            out.append({"cpu": cpu_seconds(proc.pid) - c0, "wall": time.perf_counter() - w0,
                        "failed": ok.count(False), "reasons": []})
        return {"rounds": out, "maxrss_mb": peak_rss_mb(proc.pid)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- main


def summarise(name: str, res: dict[str, Any], n: int, agent_cpu: list[float]) -> dict[str, float]:
    measured = res["rounds"][1:]
    cpu = statistics.median(r["cpu"] for r in measured) / n
    wall = statistics.median(r["wall"] for r in measured)
    failed = sum(r["failed"] for r in measured)
    util = max(agent_cpu) / wall if agent_cpu else float("nan")
    reasons = {x for r in measured for x in r["reasons"]}
    print(f"  {name:<10} {n / wall:>9.0f} dev/s  {cpu * 1000:>7.3f} ms CPU/dev  "
          f"failed {failed:>4}/{n * len(measured)}  peak RSS {res['maxrss_mb']:>6.1f} MiB  "
          f"busiest agent {util * 100:>4.0f}% of a core"
          + (f"  ({', '.join(sorted(reasons))})" if reasons else ""))
    return {"cpu": cpu, "wall": wall, "failed": failed}


def measure(pids: list[int], fn: Any) -> tuple[Any, list[float]]:
    """Run ``fn`` and return its result with each agent's CPU seconds per round."""
    before = [cpu_seconds(p) for p in pids]
    res = fn()
    after = [cpu_seconds(p) for p in pids]
    rounds = len(res["rounds"])
    return res, [(b - a) / rounds for a, b in zip(before, after, strict=True)]


class SnmpsimRouters:
    """snmpsim serving one 8-interface router recording (community ``public``) on many
    addresses: the issue's 77-value village router. Python agents are slow, so use few
    devices; the poller CPU per device is still measured the same way."""

    def __init__(self, addrs: list[tuple[str, int]], tmp: Path, processes: int) -> None:
        from collectors.simfleet import (
            VARIATION_DIR,
            SimDevice,
            SimEndpoint,
            _responder_command,
            build_recording,
            warm_up,
        )

        data = tmp / "snmpsim-data"
        data.mkdir(exist_ok=True)
        rec = build_recording(SimDevice("rtr-bench", "router", flap=False), boot=time.time())
        (data / "public.snmprec").write_text(rec)
        self.procs: list[subprocess.Popen[bytes]] = []
        unique = sorted(set(addrs))
        for k in range(processes):
            eps = [f"--agent-udpv4-endpoint={a}:{p}" for a, p in unique[k::processes]]
            argv = [*_responder_command(), f"--data-dir={data}",
                    f"--variation-modules-dir={VARIATION_DIR}",
                    f"--cache-dir={tmp / f'snmpsim-cache{k}'}",
                    f"--logging-method=file:{tmp / f'snmpsim{k}.log'}", "--log-level=error",
                    *eps]
            if os.geteuid() == 0:
                argv += ["--process-user=root", "--process-group=root"]
            self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        targets = [SimEndpoint(a, p, "public") for a, p in unique]
        while warm_up(targets, window=16, timeout=2.0):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("snmpsim routers did not start")
            time.sleep(0.5)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def compare(n: int, addrs: list[tuple[str, int]], version: str, pids: list[int],
            args: argparse.Namespace, tmp: Path, *, concurrency: int
            ) -> tuple[dict[str, float], dict[str, float]]:
    """Kentongan then the exporter, same devices, same OIDs, same concurrency."""
    res, agent_cpu = measure(pids, partial(
        run_worker, "kentongan", addrs, version, concurrency=concurrency,
        rounds=args.rounds, timeout=args.timeout, tmp=tmp))
    print(f"  values per device: {res['values']} (3 scalars + 9 columns x "
          f"{(res['values'] - 3) // 9} interfaces); socket SO_RCVBUF "
          f"{res['rcvbuf'] // 1024} KiB")
    ours = summarise("kentongan", res, n, agent_cpu)
    res, agent_cpu = measure(pids, partial(
        run_exporter, addrs, version, concurrency=concurrency, rounds=args.rounds,
        tmp=tmp))
    theirs = summarise("exporter", res, n, agent_cpu)
    ratio = theirs["cpu"] / ours["cpu"]
    print(f"  ratio: exporter CPU/device / Kentongan CPU/device = {ratio:.1f}x; "
          f"devices/s Kentongan/exporter = {theirs['wall'] / ours['wall']:.1f}x")
    return ours, theirs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, nargs="+", default=[1000, 5000])
    ap.add_argument("--versions", nargs="+", default=["2c", "3"], choices=["2c", "3"])
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--agents", type=int, default=4, help="snmpd processes (at least)")
    ap.add_argument("--pysnmp-devices", type=int, default=100,
                    help="devices polled through pysnmp's high-level API (0: skip)")
    ap.add_argument("--snmpsim-devices", type=int, default=40,
                    help="8-interface routers on snmpsim, v2c only (0: skip)")
    ap.add_argument("--snmpsim-concurrency", type=int, default=8,
                    help="snmpsim costs ~65 ms per router poll: queues beyond the timeout")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if not Path(EXPORTER).exists():
        sys.exit(f"{EXPORTER} missing: run scripts/install-system-deps.sh")
    print(f"poll_throughput: {os.cpu_count()} CPUs, concurrency {args.concurrency}, "
          f"{args.rounds} measured rounds after one warm-up, timeout {args.timeout} s, "
          "retries 1")
    tmp = Path(tempfile.mkdtemp(prefix="kentongan-bench-"))
    agents: list[SnmpdAgent] = []
    summary = []
    try:
        n_max = max(args.devices)
        all_addrs = addresses(n_max)
        k_agents = max(args.agents, math.ceil(n_max / PER_AGENT))
        for k in range(k_agents):  # device i is served by agent i % k_agents
            agents.append(start_snmpd(workdir=tmp / f"agent{k}", endpoints=all_addrs[k::k_agents],
                                      users=[USER]))
        pids = [a.pid for a in agents]
        print(f"{len(agents)} net-snmp snmpd processes, {math.ceil(n_max / k_agents)} addresses "
              "each, devices interleaved across them")
        for n in args.devices:
            for version in args.versions:
                print(f"\n{n} devices, SNMP v{version}, snmpd")
                ours, theirs = compare(n, all_addrs[:n], version, pids, args, tmp,
                                       concurrency=args.concurrency)
                summary.append((f"{n} snmpd v{version}", ours, theirs))
        if args.pysnmp_devices:
            n = args.pysnmp_devices
            for version in args.versions:
                print(f"\n{n} devices, SNMP v{version}, snmpd, pysnmp 7 high-level API "
                      "(reference, one GET + one GETBULK per device)")
                res, agent_cpu = measure(pids, partial(
                    run_worker, "pysnmp", all_addrs[:n], version,
                    concurrency=min(args.concurrency, 50), rounds=1, timeout=args.timeout,
                    tmp=tmp))
                summarise("pysnmp", res, n, agent_cpu)
        for a in agents:
            a.stop()
        agents = []
        if args.snmpsim_devices:
            n = args.snmpsim_devices
            addrs = [(f"127.2.{i // 250}.{i % 250 + 1}", PORT) for i in range(n)]
            print(f"\n{n} devices, SNMP v2c, snmpsim 8-interface router recording, "
                  f"concurrency {args.snmpsim_concurrency} (a slow Python agent)")
            sim = SnmpsimRouters(addrs, tmp, processes=2)
            try:
                ours, theirs = compare(n, addrs, "2c", sim.pids, args, tmp,
                                       concurrency=args.snmpsim_concurrency)
                summary.append((f"{n} snmpsim v2c", ours, theirs))
            finally:
                sim.stop()
        print("\nsummary (median poller CPU per device):")
        for label, ours, theirs in summary:
            print(f"  {label:<18}: Kentongan {ours['cpu'] * 1000:.3f} ms, exporter "
                  f"{theirs['cpu'] * 1000:.3f} ms, ratio {theirs['cpu'] / ours['cpu']:.1f}x, "
                  f"false timeouts {int(ours['failed'])} vs {int(theirs['failed'])}")
    finally:
        for a in agents:
            a.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
