"""Stand-in kiosks: one real OpenSSH ``sshd`` per loopback address, each with its own
kiosk root directory, a throw-away host key, a throw-away client key and a known_hosts
file. Shared by the rollout tests and ``benchmarks/rollout.py``.

Kiosk faults on demand (issue 17; ``benchmarks/never_brick.py`` and
``tests/playbooks/test_faults.py`` use them):

* :meth:`KioskFleet.cut` kills the kiosk's SSH sessions (the link drops mid-task);
* :meth:`KioskFleet.power_off` kills every process of the kiosk (sshd, its sessions and
  whatever they run, the app), :meth:`KioskFleet.boot` brings it back as a reboot would:
  ``run/`` emptied, sshd started, ``kioskctl start`` (which first checks ``current``);
* ``release_area_bytes`` puts every kiosk's ``releases/`` on a tmpfs of that size (needs
  root) and :meth:`KioskFleet.fill_disk` fills it up to a chosen free space;
* a hung app: the sample app hangs for versions listed in ``ROOT/hang-versions``;
* :meth:`KioskFleet.set_clock` runs the kiosk's sessions (and so its app) under libfaketime
  (``FAKETIME=+9h`` through sshd's ``SetEnv``);
* :func:`release_problem` checks, independently of the code under test, that a release
  directory is complete (marker and every file's sha256).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.peers import SSH_KEYGEN, SSHD
from tests.support.ports import free_port, wait_port

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
MARKER = ".kentongan-installed"


def release_problem(release: Path) -> str:
    """Why ``release`` is not a complete release ("" when it is): its completeness marker
    is missing, or a file it lists is missing or does not match its sha256."""
    try:
        marker = json.loads((release / MARKER).read_text())
    except (OSError, ValueError):
        return f"{release.name}: no readable completeness marker"
    for rel, digest in dict(marker.get("files") or {}).items():
        try:
            actual = hashlib.sha256((release / rel).read_bytes()).hexdigest()
        except OSError:
            return f"{release.name}: {rel} missing"
        if actual != digest:
            return f"{release.name}: {rel} checksum mismatch"
    return "" if marker.get("files") else f"{release.name}: marker lists no files"


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop(0)
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)




@dataclass
class Kiosk:
    """One stand-in kiosk."""

    name: str
    address: str
    port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = None
    clock_offset: str | None = None

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

    def __init__(
        self,
        base: Path,
        addresses: list[str],
        *,
        prefix: str = "kiosk",
        release_area_bytes: int | None = None,
    ) -> None:
        self.base = base
        self.mounts: list[Path] = []
        base.mkdir(parents=True, exist_ok=True)
        self.host_key = base / "ssh_host_ed25519_key"
        self.client_key = base / "id_ed25519"
        self.known_hosts = base / "known_hosts"
        self.authorized_keys = base / "authorized_keys"
        # a short path: a Unix socket path is at most 108 bytes, pytest's tmp paths grow
        self.control_dir = Path(tempfile.mkdtemp(prefix="ktg-cp-"))
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
            if release_area_bytes is not None:
                self._mount_tmpfs(root / "releases", release_area_bytes)
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
            "kiosk_release_space_reserve": 4096,
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
            + (
                f"SetEnv LD_PRELOAD={FAKETIME_LIB} FAKETIME={kiosk.clock_offset} "
                "\n"
                if kiosk.clock_offset
                else ""
            )
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

    # ------------------------------------------------------------------ faults

    def _mount_tmpfs(self, path: Path, size: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            check=True, capture_output=True, timeout=30,
        )
        self.mounts.append(path)

    def cut(self, kiosk: Kiosk) -> list[int]:
        """Drop the kiosk's link: kill its SSH session processes (the sshd children)."""
        if kiosk.proc is None:
            return []
        sessions = descendants(kiosk.proc.pid)
        _kill(sessions)
        return sessions

    def kiosk_pids(self, kiosk: Kiosk) -> list[int]:
        """Every process of the kiosk: its sshd, everything below it, its app and anything
        else started from its root."""
        pids = []
        if kiosk.proc is not None:
            pids = [kiosk.proc.pid, *descendants(kiosk.proc.pid)]
        app = kiosk.app_pid()
        if app:
            pids.append(app)
        root = str(kiosk.root) + "/"
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if root in cmdline:
                pids.append(int(entry.name))
        return pids

    def power_off(self, kiosk: Kiosk) -> None:
        """"Power loss": kill every process of the kiosk at once (SIGKILL, no clean-up)."""
        for _ in range(5):
            pids = self.kiosk_pids(kiosk)
            if not pids:
                break
            _kill(pids)
            time.sleep(0.05)
        if kiosk.proc is not None:
            kiosk.proc.wait(timeout=10)
            kiosk.proc = None

    def boot(self, kiosk: Kiosk) -> str:
        """Bring a powered-off kiosk back as a reboot would: ``run/`` is emptied (a tmpfs on
        a real kiosk), sshd starts, and the app is started from ``current`` by ``kioskctl
        start`` (which first checks ``current`` is complete). Returns kioskctl's output."""
        run = kiosk.root / "run"
        if run.is_dir():
            for entry in run.iterdir():
                entry.unlink()
        self.start(kiosk)
        kioskctl = kiosk.root / "bin" / "kioskctl"
        if not kioskctl.exists():
            return "no kioskctl"
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        if kiosk.clock_offset:
            env |= {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": kiosk.clock_offset}
        proc = subprocess.run([str(kioskctl), "start"], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        return (proc.stdout + proc.stderr).strip()

    def set_clock(self, kiosk: Kiosk, offset: str | None) -> None:
        """Run the kiosk's sessions (and the app they start) with a clock ``offset`` off
        (libfaketime, e.g. ``"+9h"``, ``"-7h"``); None for the true time. Restarts its sshd
        and drops its open sessions, so the next connection sees the new clock."""
        self.cut(kiosk)
        self.stop(kiosk)
        kiosk.clock_offset = offset
        self.start(kiosk)

    def fill_disk(self, kiosk: Kiosk, *, leave: int) -> int:
        """Fill the kiosk's release area until only about ``leave`` bytes are free (a file
        ``releases/FILLER``); returns the bytes free afterwards."""
        releases = kiosk.root / "releases"
        releases.mkdir(parents=True, exist_ok=True)
        st = os.statvfs(releases)
        free = st.f_bavail * st.f_frsize
        filler = releases / "FILLER"
        with contextlib.suppress(OSError), filler.open("ab") as fh:
            fh.write(b"\0" * max(free - leave, 0))
        st = os.statvfs(releases)
        return st.f_bavail * st.f_frsize

    def unfill_disk(self, kiosk: Kiosk) -> None:
        """Remove what :meth:`fill_disk` wrote."""
        (kiosk.root / "releases" / "FILLER").unlink(missing_ok=True)

    def check(self, kiosk: Kiosk) -> str:
        """The never-brick invariant ("" when it holds): ``current`` points at a complete,
        checksum-verified release under ``releases/``, its app runs and answers ``/health``
        with that release's version."""
        link = kiosk.root / "current"
        if not link.is_symlink():
            return "no current link"
        target = Path(os.path.realpath(link))
        if target.parent != Path(os.path.realpath(kiosk.root / "releases")):
            return f"current points outside releases/: {target}"
        problem = release_problem(target)
        if problem:
            return f"current is not complete: {problem}"
        if kiosk.app_pid() is None:
            return "the app does not run"
        version = (target / "VERSION").read_text().strip()
        try:
            with urllib.request.urlopen(
                f"http://{kiosk.address}:{self.app_port}/health", timeout=5
            ) as response:
                body = response.read().decode()
        except OSError as exc:
            return f"/health does not answer: {exc}"
        return "" if version in body.split() else f"/health answers {body!r}, not {version}"

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
            with contextlib.suppress(subprocess.TimeoutExpired):  # a loaded machine
                subprocess.run(
                    ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
        for kiosk in self.kiosks:
            self.cut(kiosk)
            self.stop(kiosk)
        self._kill_strays()
        for path in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30,
                           check=False)
        self.mounts.clear()

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
