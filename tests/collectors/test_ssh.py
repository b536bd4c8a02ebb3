"""The SSH collector against a real OpenSSH sshd, and its faults: refused key, wrong host
key, unknown host, a server that accepts and stalls, connection refused."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.base import Observation, SshCredentials, Target
from collectors.ssh import (
    SshCollector,
    classify,
    kiosk_script,
    parse_kiosk,
    parse_network,
    split_sections,
)
from tests.collectors.sshd import SshLab, make_kiosk

pytestmark = pytest.mark.integration
DATA = Path(__file__).parent / "data"
STALL = 10.0  # how long the stalled server holds a poll (SSH banner timeout)


def kiosk(lab: SshLab, address: str, *, device: str = "kiosk-ok", port: int | None = None,
          key: Path | None = None) -> Target:
    return Target(device_id=device, role="kiosk", address=address,
                  ssh_port=port or lab.port, device_type="linux",
                  ssh=SshCredentials(username=lab.user, key_file=str(key or lab.client_key),
                                     known_hosts_file=str(lab.known_hosts)))


def collector(lab: SshLab, **kw: object) -> SshCollector:
    # generous read timeouts: a loaded CI machine can make a 0.5 s session take seconds
    opts: dict[str, object] = {"workers": 8, "timeout": 3.0, "read_timeout": 30.0,
                               "kiosk_root": str(lab.kiosk_root / "{device_id}")}
    opts.update(kw)
    return SshCollector(**opts)  # type: ignore[arg-type]


async def test_kiosk_facts_over_real_sshd(ssh_lab_session: SshLab) -> None:
    lab = ssh_lab_session
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    make_kiosk(lab.kiosk_root / "kiosk-stopped", version="2.2.0", pid=dead.pid)
    ssh = collector(lab)
    try:
        up, stopped = await asyncio.gather(
            ssh.collect(kiosk(lab, lab.healthy[0])),
            ssh.collect(kiosk(lab, lab.healthy[1], device="kiosk-stopped")),
        )
    finally:
        await ssh.aclose()
    assert up.ok, up.reason
    assert up.kiosk is not None and up.kiosk.app_version == "2.3.1"
    assert up.kiosk.app_active is True
    assert up.kiosk.disk_total_bytes and up.kiosk.disk_free_bytes is not None
    assert 0 <= up.kiosk.disk_free_bytes <= up.kiosk.disk_total_bytes
    assert up.kiosk.uptime_seconds and up.kiosk.uptime_seconds > 0
    assert up.kiosk.last_boot is not None and up.kiosk.last_boot < datetime.now(UTC)
    assert up.sys_uptime_ticks == int(up.kiosk.uptime_seconds * 100)
    assert stopped.ok and stopped.kiosk is not None
    assert stopped.kiosk.app_version == "2.2.0" and stopped.kiosk.app_active is False


async def test_faults_are_results_and_never_delay_a_healthy_kiosk(
    ssh_lab_session: SshLab, caplog: pytest.LogCaptureFixture
) -> None:
    lab = ssh_lab_session
    caplog.set_level(logging.WARNING, logger="collectors.ssh")
    ssh = collector(lab, timeout=STALL)
    targets = {
        "healthy": kiosk(lab, lab.healthy[0]),
        "refused-key": kiosk(lab, lab.healthy[1], device="kiosk-stranger",
                             key=lab.stranger_key),
        "mismatch": kiosk(lab, lab.mismatch, device="kiosk-mismatch"),
        "unknown": kiosk(lab, lab.unknown, device="kiosk-unknown"),
        "stall": kiosk(lab, lab.stall[0], device="kiosk-stall", port=lab.stall[1]),
        "refused": kiosk(lab, lab.refused[0], device="kiosk-refused", port=lab.refused[1]),
    }
    done: dict[str, float] = {}
    t0 = time.monotonic()

    async def run(name: str, target: Target) -> Observation:
        obs = await ssh.collect(target)
        done[name] = time.monotonic() - t0
        return obs

    try:
        results = dict(zip(targets, await asyncio.gather(
            *(run(n, t) for n, t in targets.items())), strict=True))
    finally:
        await ssh.aclose()
    assert results["healthy"].ok, results["healthy"].reason
    assert results["refused-key"].reason == "auth failed"
    assert results["mismatch"].reason == "host key mismatch"
    assert results["unknown"].reason == "unknown host key"
    assert (results["stall"].reason or "").startswith("timeout")
    assert results["refused"].reason == "connection refused"
    assert all(not results[n].ok for n in targets if n != "healthy")
    # the stalled server costs its own timeout; the healthy kiosk does not wait for it
    assert done["stall"] >= STALL - 0.1
    assert done["healthy"] < done["stall"]
    for name in ("kiosk-stranger", "kiosk-mismatch", "kiosk-unknown", "kiosk-stall",
                 "kiosk-refused"):
        assert name in caplog.text


async def test_outer_deadline_caps_a_poll(ssh_lab_session: SshLab) -> None:
    lab = ssh_lab_session
    ssh = collector(lab, timeout=5.0, deadline=0.5)  # the outer cap wins
    t0 = time.monotonic()
    try:
        obs = await ssh.collect(kiosk(lab, lab.stall[0], device="kiosk-stall",
                                      port=lab.stall[1]))
    finally:
        await ssh.aclose()
    assert time.monotonic() - t0 < 1.5
    assert not obs.ok and "did not finish within 0.5 s" in (obs.reason or "")


def test_host_key_checking_is_on_by_default() -> None:
    ssh = SshCollector(known_hosts="/etc/kentongan/known_hosts")
    target = Target(device_id="k", role="kiosk", address="10.0.0.1",
                    ssh=SshCredentials(username="kentongan", key_file="/k"))
    params = ssh.connection_params(target)
    assert params["ssh_strict"] is True
    assert params["alt_host_keys"] is True
    assert params["alt_key_file"] == "/etc/kentongan/known_hosts"
    default = SshCollector().connection_params(target)
    assert default["ssh_strict"] is True and default["system_host_keys"] is True


def test_kiosk_output_parsing() -> None:
    script = kiosk_script("/opt/kiosk", "kiosk-app")
    assert "R=/opt/kiosk" in script and script.endswith("echo @@end")
    out = (DATA / "kiosk_output.txt").read_text()
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    sample = parse_kiosk(out, now=now)
    assert sample.app_version == "1.4.2"
    assert sample.app_active is True
    assert sample.disk_total_bytes == 31_270_055_936
    assert sample.disk_free_bytes == 20_130_566_144
    assert sample.uptime_seconds == 86_400.5
    assert sample.last_boot == datetime(2026, 11, 21, 11, 59, 59, 500000, tzinfo=UTC)
    empty = parse_kiosk("@@version\n@@active\ninactive\n@@df\n@@uptime\n@@end\n", now=now)
    assert empty.app_version is None and empty.app_active is False
    assert empty.disk_total_bytes is None and empty.uptime_seconds is None
    assert split_sections("noise\n@@a\n1\n@@end\n@@b\n2") == {"a": "1"}


def test_mikrotik_parsing_with_ntc_templates() -> None:
    outputs = {
        "/system identity print": (DATA / "ros_identity.txt").read_text(),
        "/system resource print": (DATA / "ros_resource.txt").read_text(),
        "/interface print terse without-paging": (DATA / "ros_interfaces.txt").read_text(),
    }
    parsed = parse_network("mikrotik_routeros", outputs)
    assert parsed["sys_name"] == "rtr-kemiren"
    assert parsed["sys_uptime_ticks"] == (2 * 604800 + 3 * 86400 + 4 * 3600 + 5 * 60 + 6) * 100
    assert parsed["sys_descr"].startswith("RouterOS 7.15.3")
    ifaces = {i.name: i for i in parsed["interfaces"]}
    assert ifaces["ether1"].oper_up is True and ifaces["ether1"].index == 1
    assert ifaces["ether1"].alias == "uplink fo-glagah-kemiren"
    assert ifaces["ether2"].oper_up is False and ifaces["ether2"].admin_up is True
    assert ifaces["ether5"].admin_up is False


def test_classify_unknown_errors() -> None:
    assert classify(RuntimeError("boom")) == "ssh error: RuntimeError"
    assert classify(ConnectionRefusedError()) == "connection refused"


async def test_target_without_ssh_credentials_is_a_configuration_error() -> None:
    ssh = SshCollector(workers=1)
    try:
        obs = await ssh.collect(Target(device_id="k", role="kiosk", address="127.0.2.1"))
    finally:
        await ssh.aclose()
    assert not obs.ok and obs.reason == "configuration error: no SSH credentials profile"
    assert obs.extra["configuration_error"] is True  # the store reads it as unknown, not down
