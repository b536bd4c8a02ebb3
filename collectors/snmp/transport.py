"""The SNMP transport: one shared asyncio UDP socket, behind the small :class:`Transport` protocol.

One UDP socket (large receive buffer) carries every device's requests; replies are
demultiplexed by request-id (v2c) / msgID (v3) and checked against the source address.
Replies that are garbage, truncated, from the wrong source or for an unknown id are dropped
(logged at debug). Each request has its own timeout and retries; retransmissions reuse the
request-id, so a late first answer still counts.

The collector sees only :class:`Transport` (five methods), so unit tests can hand it a
recording fake (``tests/collectors/snmp/fakes.py``), as snmp_exporter's ``scraper/mock.go``.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from collectors import ber
from collectors.base import CollectorError, PollTimeout
from collectors.usm import UsmError

logger = logging.getLogger(__name__)

T = TypeVar("T")


@runtime_checkable
class Transport(Protocol):
    """What the SNMP collector needs from the network: one request, one reply.

    Attributes:
        dropped: replies dropped so far (garbage, wrong source, unknown id), for diagnostics.
    """

    dropped: int

    async def start(self) -> None:
        """Open the socket (idempotent)."""

    def close(self) -> None:
        """Close the socket; pending requests fail."""

    def next_id(self) -> int:
        """A free request-id (31-bit, never 0)."""

    def socket_address(self, ip: str) -> str:
        """``ip`` as the socket addresses it (e.g. IPv4-mapped on a dual-stack socket)."""

    async def exchange(
        self,
        addr: tuple[str, int],
        rid: int,
        payload: bytes,
        decode: Callable[[bytes], T],
        *,
        timeout: float,
        retries: int,
    ) -> T:
        """Send ``payload`` to ``addr`` and return ``decode(reply)`` of the reply with id ``rid``.

        Raises:
            PollTimeout: no valid reply after ``retries`` retransmissions.
            PollFailed: only malformed replies came back, or the send failed.
        """


class PollFailed(CollectorError):
    """A poll failed for a device-side reason (becomes ``ok=False`` with ``reason``)."""

    def __init__(self, reason: str, *, device: str | None = None) -> None:
        super().__init__(reason, device=device)
        self.reason = reason


class _Pending:
    __slots__ = (
        "addr",
        "decode",
        "future",
        "malformed",
        "payload",
        "retries_left",
        "timeout",
        "timer",
    )

    def __init__(
        self,
        future: asyncio.Future[Any],
        addr: tuple[str, int],
        decode: Callable[[bytes], Any],
        payload: bytes,
        retries: int,
        timeout: float,
    ) -> None:
        self.future = future
        self.addr = addr
        self.decode = decode
        self.payload = payload
        self.retries_left = retries
        self.timeout = timeout
        self.timer: asyncio.TimerHandle | None = None
        self.malformed: str | None = None


class UdpTransport(asyncio.DatagramProtocol):
    """One UDP socket shared by every device, demultiplexed by request-id (a :class:`Transport`)."""

    def __init__(self, *, max_inflight: int = 512, rcvbuf: int = 8 << 20) -> None:
        self._max_inflight = max_inflight
        self._rcvbuf = rcvbuf
        self._pending: dict[int, _Pending] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_id = int.from_bytes(os.urandom(3), "big")
        self.dropped = 0
        self.family = socket.AF_INET

    async def start(self) -> None:
        """Open the socket (idempotent): dual-stack IPv6 when the host has IPv6, so one
        socket serves IPv4 and IPv6 agents; plain IPv4 otherwise."""
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", 0))
            self.family = socket.AF_INET6
        except OSError:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("0.0.0.0", 0))
            self.family = socket.AF_INET
        for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if opt is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, self._rcvbuf)
                break
            except OSError:
                continue
        sock.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)
        self._transport = transport
        self._loop = loop
        self._sem = asyncio.Semaphore(self._max_inflight)

    @property
    def receive_buffer(self) -> int:
        """The socket's effective SO_RCVBUF (the kernel may cap or double what was asked)."""
        if self._transport is None:
            return 0
        sock = self._transport.get_extra_info("socket")
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def close(self) -> None:
        """Close the socket; pending requests fail."""
        for p in list(self._pending.values()):
            if p.timer is not None:
                p.timer.cancel()
            if not p.future.done():
                p.future.set_exception(PollFailed("collector closed"))
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def socket_address(self, ip: str) -> str:
        """``ip`` as this socket sends to it and sees replies come from: IPv4 becomes
        ``::ffff:a.b.c.d`` on a dual-stack socket."""
        addr = ipaddress.ip_address(ip)
        if self.family == socket.AF_INET6:
            if addr.version == 4:
                return f"::ffff:{addr}"
            return addr.compressed
        if addr.version == 6:
            raise PollFailed(f"cannot reach IPv6 agent {ip}: this host has no IPv6 socket")
        return str(addr)

    def next_id(self) -> int:
        """A free request-id (31-bit, never 0)."""
        while True:
            self._next_id = (self._next_id + 1) & 0x7FFFFFFF or 1
            if self._next_id not in self._pending:
                return self._next_id

    # asyncio.DatagramProtocol ------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            _, rid = ber.peek_message_id(data)
        except ber.BerError as exc:
            self.dropped += 1
            logger.debug(
                "dropped %d-byte datagram from %s:%s: %s", len(data), addr[0], addr[1], exc
            )
            return
        p = self._pending.get(rid)
        if p is None:
            self.dropped += 1
            logger.debug("dropped reply with unknown request-id %d from %s:%s", rid, *addr[:2])
            return
        if addr[0] != p.addr[0] or addr[1] != p.addr[1]:
            self.dropped += 1
            logger.debug(
                "dropped reply for request-id %d from wrong source %s:%s (expected %s:%s)",
                rid,
                addr[0],
                addr[1],
                *p.addr,
            )
            return
        if p.future.done():
            return
        try:
            result = p.decode(data)
        except (ber.BerError, UsmError) as exc:
            self.dropped += 1
            p.malformed = str(exc)
            logger.debug("dropped malformed reply from %s:%s: %s", addr[0], addr[1], exc)
            return
        p.future.set_result(result)

    def error_received(self, exc: Exception) -> None:
        logger.debug("UDP socket error: %s", exc)

    # requests ------------------------------------------------------------------------
    def _on_timer(self, rid: int) -> None:
        p = self._pending.get(rid)
        if p is None or p.future.done():
            return
        if p.retries_left > 0 and self._transport is not None:
            p.retries_left -= 1
            self._transport.sendto(p.payload, p.addr)
            assert self._loop is not None
            p.timer = self._loop.call_later(p.timeout, self._on_timer, rid)
            return
        if p.malformed is not None:
            p.future.set_exception(PollFailed(f"malformed reply: {p.malformed}"))
        else:
            p.future.set_exception(PollTimeout("timeout"))

    async def exchange(
        self,
        addr: tuple[str, int],
        rid: int,
        payload: bytes,
        decode: Callable[[bytes], T],
        *,
        timeout: float,
        retries: int,
    ) -> T:
        """Send ``payload`` and wait for the reply with id ``rid`` from ``addr``.

        Raises:
            PollTimeout: no valid reply after ``retries`` retransmissions.
            PollFailed: only malformed replies came back.
        """
        if self._transport is None or self._sem is None or self._loop is None:
            raise CollectorError("SNMP transport not started")
        async with self._sem:
            fut = self._loop.create_future()
            p = _Pending(fut, addr, decode, payload, retries, timeout)
            self._pending[rid] = p
            try:
                try:
                    self._transport.sendto(payload, addr)
                except OSError as exc:
                    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                        raise PollFailed(f"unreachable: {exc.strerror}") from exc
                    raise PollFailed(f"cannot send: {exc.strerror or exc}") from exc
                p.timer = self._loop.call_later(timeout, self._on_timer, rid)
                result: T = await fut
                return result
            finally:
                if p.timer is not None:
                    p.timer.cancel()
                self._pending.pop(rid, None)


SnmpTransport = UdpTransport
"""The former name of :class:`UdpTransport`."""
