"""Free loopback ports, and waiting for a listener: the one copy the tests and benchmarks use."""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import Literal


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"tests bind loopback only (127.0.0.0/8, ::1), not {host!r}")


def free_port(host: str = "127.0.0.1", *, kind: Literal["tcp", "udp"] = "tcp") -> int:
    """A port the kernel says is free on loopback ``host`` right now (TCP, or UDP for
    SNMP agents). Always >= 1024: the kernel hands out ephemeral ports."""
    _check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    with socket.socket(family, sock_type) as sock:
        sock.bind((host, 0))
        port = int(sock.getsockname()[1])
    assert port >= 1024, port
    return port


def wait_port(host: str, port: int, *, timeout: float = 10.0) -> None:
    """Wait until something accepts TCP connections on ``host:port``.

    Raises:
        TimeoutError: nothing listens after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.05)
