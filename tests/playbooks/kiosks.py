"""Stand-in kiosks: one real OpenSSH ``sshd`` per loopback address, each with its own
kiosk root directory, a throw-away host key, a throw-away client key and a known_hosts
file. Shared by the rollout tests and ``benchmarks/rollout.py``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.peers import SSH_KEYGEN, SSHD
from tests.support.ports import free_port, wait_port


@dataclass
class Kiosk:
    """One stand-in kiosk."""

    name: str
    address: str
    port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def current(self) -> str | None:
        """The release the ``current`` link points at (its directory name), or None."""
        link = self.root / "current"
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def releases(self) -> list[str]:
        """Names of the release directories on the kiosk."""
        rel = self.root / "releases"
        return sorted(p.name for p in rel.iterdir() if p.is_dir()) if rel.is_dir() else []

    def app_pid(self) -> int | None:
        """The pid of the running kiosk app, if any."""
        try:
            pid = int((self.root / "run" / "app.pid").read_text().strip())
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError):
            return None
        return None if state in ("Z", "X") else pid


class KioskFleet:
    """Several sshd kiosks under ``base``; use as a context manager so everything stops."""

    def __init__(self, base: Path, addresses: list[str], *, prefix: str = "kiosk") -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.host_key = base / "ssh_host_ed25519_key"
        self.client_key = base / "id_ed25519"
        self.known_hosts = base / "known_hosts"
        self.authorized_keys = base / "authorized_keys"
        self.control_dir = base / "cp"
        self.control_dir.mkdir(exist_ok=True)
        for key in (self.host_key, self.client_key):
            subprocess.run(
                [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
            )
        self.authorized_keys.write_text(Path(f"{self.client_key}.pub").read_text())
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        host_pub = " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])
        self.kiosks: list[Kiosk] = []
        lines = []
        for i, address in enumerate(addresses, start=1):
            port = free_port(address)
            root = base / "roots" / f"{prefix}-{i}"
            root.mkdir(parents=True)
            self.kiosks.append(Kiosk(f"{prefix}-{i}", address, port, root))
            lines.append(f"[{address}]:{port} {host_pub}\n")
        self.known_hosts.write_text("".join(lines))
        self.app_port = free_port(addresses[0])
        self.python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable

    def extravars(self) -> dict[str, object]:
        """Playbook variables that make these hosts kiosks without systemd."""
        return {
            "ansible_python_interpreter": self.python,
            "kiosk_root": str(self.base / "roots") + "/{{ inventory_hostname }}",
            "kiosk_service_manager": "script",
            "kiosk_manage_system": False,
            "kiosk_app_listen": "{{ ansible_host }}",
            "kiosk_app_port": self.app_port,
            "kiosk_release_health_retries": 3,
            "kiosk_release_health_delay": 0.5,
        }

    def envvars(self) -> dict[str, str]:
        """Environment for Ansible: SSH control sockets and temporary files inside the
        fleet's directory."""
        tmp = self.base / "ansible-tmp"
        tmp.mkdir(exist_ok=True)
        return {
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self.control_dir),
            "ANSIBLE_LOCAL_TEMP": str(tmp / "local"),
            "ANSIBLE_REMOTE_TEMP": str(tmp / "remote"),
        }

    def start(self, kiosk: Kiosk) -> None:
        """Start the sshd of ``kiosk`` and wait until it listens."""
        if kiosk.proc is not None and kiosk.proc.poll() is None:
            return
        config = self.base / f"sshd-{kiosk.name}.conf"
        config.write_text(
            f"ListenAddress {kiosk.address}:{kiosk.port}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.base / f'sshd-{kiosk.name}.pid'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "MaxStartups 200:30:400\n"
            "MaxSessions 100\n"
            "LogLevel ERROR\n"
            "Subsystem sftp internal-sftp\n"
        )
        kiosk.proc = subprocess.Popen(
            [SSHD, "-D", "-f", str(config), "-E", str(self.base / f"sshd-{kiosk.name}.log")],
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_port(kiosk.address, kiosk.port)
        except TimeoutError:
            self.stop(kiosk)
            raise

    def stop(self, kiosk: Kiosk) -> None:
        """Stop the sshd of ``kiosk`` (its listener)."""
        if kiosk.proc is not None:
            kiosk.proc.terminate()
            try:
                kiosk.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kiosk.proc.kill()
                kiosk.proc.wait()
            kiosk.proc = None

    def start_all(self) -> None:
        """Start every kiosk's sshd."""
        for kiosk in self.kiosks:
            self.start(kiosk)

    def close(self) -> None:
        """Stop the kiosk apps, the SSH control masters and every sshd."""
        for kiosk in self.kiosks:
            pid = kiosk.app_pid()
            if pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for sock in self.control_dir.iterdir():
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                capture_output=True,
                timeout=10,
                check=False,
            )
        for kiosk in self.kiosks:
            self.stop(kiosk)
        self._kill_strays()

    def _kill_strays(self) -> None:
        """Kill kiosk apps started from this fleet's roots that no pid file names (an app
        started by a run that was still going while the fleet closed)."""
        roots = str(self.base / "roots")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if roots in cmdline:
                with contextlib.suppress(OSError):
                    os.kill(int(entry.name), signal.SIGKILL)

    def __enter__(self) -> KioskFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
