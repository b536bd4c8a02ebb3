"""Real OpenSSH ``sshd`` stand-ins for kiosks, plus a server that accepts and stalls.

One sshd process listens on several loopback addresses (127.0.2.x) with a throw-away host
key; the test user logs in with a throw-away key. Everything lives in a temporary
directory and the processes are always stopped.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.peers import SSHD, keygen
from tests.support.ports import free_port, wait_port


@dataclass
class SshLab:
    """The stand-in hosts of one test session."""

    root: Path
    port: int
    user: str
    client_key: Path
    stranger_key: Path  # a key sshd does not authorise
    known_hosts: Path
    host_pub: str
    kiosk_root: Path
    healthy: list[str] = field(default_factory=list)  # addresses with a known, correct key
    mismatch: str = "127.0.2.8"  # known_hosts holds another key for it
    unknown: str = "127.0.2.9"  # not in known_hosts
    stall: tuple[str, int] = ("127.0.2.10", 0)
    refused: tuple[str, int] = ("127.0.2.11", 0)


@contextmanager
def stalling_server(host: str) -> Iterator[int]:
    """Accept TCP connections and never send a byte (no SSH banner)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(64)
    sock.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        sock.close()


def make_kiosk(root: Path, *, version: str, pid: int) -> Path:
    """A kiosk app layout as the rollout playbooks leave it: current/VERSION, run/app.pid."""
    for sub in ("current", "run"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "current" / "VERSION").write_text(f"{version}\n")
    (root / "run" / "app.pid").write_text(f"{pid}\n")
    return root


@contextmanager
def ssh_lab(tmp: Path, *, healthy: int = 3) -> Iterator[SshLab]:
    """Start sshd on ``127.0.2.1..N`` plus the mismatch/unknown addresses."""
    if not Path(SSHD).exists():
        raise RuntimeError(f"{SSHD} missing: run scripts/install-system-deps.sh")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)
    user = getpass.getuser()
    host_key = tmp / "host_ed25519"
    keygen(host_key)
    host_pub = " ".join(host_key.with_suffix(".pub").read_text().split()[:2])
    other_pub = " ".join(keygen(tmp / "other_host_ed25519").split()[:2])
    client_key = tmp / "client_ed25519"
    (tmp / "authorized_keys").write_text(keygen(client_key) + "\n")
    stranger = tmp / "stranger_ed25519"
    keygen(stranger)
    port = free_port("127.0.2.1")
    addresses = [f"127.0.2.{i}" for i in range(1, healthy + 1)]
    lab = SshLab(root=tmp, port=port, user=user, client_key=client_key, stranger_key=stranger,
                 known_hosts=tmp / "known_hosts", host_pub=host_pub,
                 kiosk_root=tmp / "kiosk", healthy=addresses)
    lines = [f"[{a}]:{port} {host_pub}" for a in addresses]
    lines.append(f"[{lab.mismatch}]:{port} {other_pub}")
    lab.known_hosts.write_text("\n".join(lines) + "\n")
    make_kiosk(lab.kiosk_root / "kiosk-ok", version="2.3.1", pid=os.getpid())
    listen = [*addresses, lab.mismatch, lab.unknown]
    config = tmp / "sshd_config"
    config.write_text(
        "\n".join(
            [*(f"ListenAddress {a}:{port}" for a in listen),
             f"HostKey {host_key}",
             f"PidFile {tmp / 'sshd.pid'}",
             f"AuthorizedKeysFile {tmp / 'authorized_keys'}",
             "PermitRootLogin prohibit-password",
             "PubkeyAuthentication yes",
             "PasswordAuthentication no",
             "KbdInteractiveAuthentication no",
             "UsePAM no",
             "StrictModes no",
             "MaxStartups 100:30:200",
             "LogLevel ERROR",
             ""]
        )
    )
    log = open(tmp / "sshd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        for a in listen:
            wait_port(a, port)
        with stalling_server("127.0.2.10") as stall_port:
            lab.stall = ("127.0.2.10", stall_port)
            lab.refused = ("127.0.2.11", free_port("127.0.2.11"))
            yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def have_sshd() -> bool:
    return Path(SSHD).exists() and shutil.which("ssh-keygen") is not None
