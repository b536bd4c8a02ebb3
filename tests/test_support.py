"""The shared test support: free ports are loopback-only, bindable, and of the asked kind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.peers import keygen, sshd
from tests.support.ports import free_port, wait_port


@pytest.mark.parametrize(("host", "kind"), [("127.0.0.1", "tcp"), ("127.0.2.1", "udp"),
                                            ("::1", "udp")])
def test_free_port_can_be_bound(host: str, kind: str) -> None:
    port = free_port(host, kind=kind)  # type: ignore[arg-type]
    assert port >= 1024
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM) as s:
        s.bind((host, port))


def test_free_port_refuses_anything_but_loopback() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        free_port("10.35.5.1")


def test_wait_port_names_what_did_not_listen() -> None:
    port = free_port()
    with pytest.raises(TimeoutError, match=f"127.0.0.1:{port}"):
        wait_port("127.0.0.1", port, timeout=0.3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        wait_port("127.0.0.1", port, timeout=5)


@pytest.mark.integration
def test_sshd_starts_answers_and_stops(tmp_path: Path) -> None:
    keygen(tmp_path / "host_ed25519")
    port = free_port("127.0.2.50")
    config = tmp_path / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.2.50\nPort {port}\nHostKey {tmp_path / 'host_ed25519'}\n"
        f"PidFile {tmp_path / 'sshd.pid'}\nUsePAM no\nPasswordAuthentication no\n"
    )
    log = tmp_path / "sshd.log"
    with (
        sshd(config, log=log, address="127.0.2.50", port=port) as proc,
        socket.create_connection(("127.0.2.50", port), timeout=5) as conn,
    ):
        assert conn.recv(64).startswith(b"SSH-2.0-OpenSSH")
    assert proc.returncode is not None  # stopped on leaving the block
    with pytest.raises(TimeoutError):
        wait_port("127.0.2.50", port, timeout=0.3)


def test_wait_for_does_not_take_an_error_for_a_result() -> None:
    """A check that raises (a peer not listening yet) is retried, not returned as ready."""
    from tests.support.peers import wait_for

    calls = []

    def check() -> str | None:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("connection refused")
        return "ready"

    assert wait_for(check, timeout=5, what="a flaky peer", interval=0.01) == "ready"
    assert len(calls) == 3
