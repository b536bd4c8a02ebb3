"""The SNMP collector: v2c and v3 (USM authPriv) over one shared asyncio UDP socket.

Design (see ``docs/snmp.md``):

* What to poll is data (:data:`MODULES`), chosen by device role.
* Requests are written and replies read by the specialised BER codec in
  :mod:`collectors.ber` and, for SNMPv3, the USM in :mod:`collectors.usm`; pysnmp stays the
  reference the tests cross-check against (together with net-snmp's own tools).
* One UDP socket (large receive buffer) carries every device's requests; replies are
  demultiplexed by request-id (v2c) / msgID (v3) and checked against the source address.
  Replies that are garbage, truncated, from the wrong source or for an unknown id are dropped
  (logged at debug). Each request has its own timeout and retries; retransmissions reuse the
  request-id, so a late first answer still counts.
* Interface tables are walked with one multi-column GETBULK (scalars ride along as
  non-repeaters), sized from the previous poll's row count so a router usually costs one
  round trip. Slow columns (ifName, ifAlias) are cached per device and refreshed every
  ``slow_every`` polls or ``slow_max_age`` seconds, or after a reboot.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors import ber
from collectors.base import (
    CollectorError,
    InterfaceSample,
    KioskSample,
    Observation,
    PollTimeout,
    SnmpCredentials,
    Target,
    UpsSample,
)
from collectors.usm import (
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    USM_STATS_REASONS,
    SaltCounter,
    UsmError,
    UsmUser,
    decrypt,
    encrypt,
    sign,
    verify,
)
from core.timeutil import utcnow

logger = logging.getLogger(__name__)

COUNTER32_MODULUS = 1 << 32
COUNTER64_MODULUS = 1 << 64
MAX_WALK_REQUESTS = 64
_ERROR_NAMES = {
    1: "tooBig",
    2: "noSuchName",
    3: "badValue",
    4: "readOnly",
    5: "genErr",
    6: "noAccess",
}


# --------------------------------------------------------------------------- modules


@dataclass(frozen=True, slots=True)
class SnmpModule:
    """One group of objects to poll, as data.

    Attributes:
        name: module name.
        roles: device roles it applies to (``None``: every role).
        scalars: ``(field, instance OID)`` fetched every poll.
        columns: ``(field, column OID)`` walked every poll.
        slow_columns: ``(field, column OID)`` walked only when the per-device cache is due.
        row_key: ``(column OID, value)`` selecting one row (cached, refreshed with the slow
            columns), whose ``row_columns`` are then fetched by GET every poll.
        row_columns: ``(field, column OID)`` read at the selected row.
    """

    name: str
    roles: frozenset[str] | None
    scalars: tuple[tuple[str, str], ...] = ()
    columns: tuple[tuple[str, str], ...] = ()
    slow_columns: tuple[tuple[str, str], ...] = ()
    row_key: tuple[str, bytes] | None = None
    row_columns: tuple[tuple[str, str], ...] = ()


def _extend_output_oid(name: str) -> str:
    """nsExtendOutput1Line.<name> (NET-SNMP-EXTEND-MIB, string index with length prefix)."""
    raw = name.encode()
    return "1.3.6.1.4.1.8072.1.3.2.3.1.1." + ".".join(map(str, (len(raw), *raw)))


IF_ROLES = frozenset({"router", "switch", "olt", "ont", "access_point"})

MODULES: tuple[SnmpModule, ...] = (
    SnmpModule(
        "system",
        None,
        scalars=(
            ("sys_uptime", "1.3.6.1.2.1.1.3.0"),
            ("sys_name", "1.3.6.1.2.1.1.5.0"),
            ("sys_descr", "1.3.6.1.2.1.1.1.0"),
        ),
    ),
    SnmpModule(
        "if_mib",
        IF_ROLES,
        columns=(
            ("admin_status", "1.3.6.1.2.1.2.2.1.7"),
            ("oper_status", "1.3.6.1.2.1.2.2.1.8"),
            ("in_discards", "1.3.6.1.2.1.2.2.1.13"),
            ("in_errors", "1.3.6.1.2.1.2.2.1.14"),
            ("out_discards", "1.3.6.1.2.1.2.2.1.19"),
            ("out_errors", "1.3.6.1.2.1.2.2.1.20"),
            ("in_octets", "1.3.6.1.2.1.31.1.1.1.6"),
            ("out_octets", "1.3.6.1.2.1.31.1.1.1.10"),
            ("high_speed_mbps", "1.3.6.1.2.1.31.1.1.1.15"),
        ),
        slow_columns=(
            ("name", "1.3.6.1.2.1.31.1.1.1.1"),
            ("alias", "1.3.6.1.2.1.31.1.1.1.18"),
        ),
    ),
    SnmpModule(
        "ups",
        frozenset({"ups"}),
        scalars=(
            ("ups_output_source", "1.3.6.1.2.1.33.1.4.1.0"),
            ("ups_charge_percent", "1.3.6.1.2.1.33.1.2.4.0"),
            ("ups_minutes_remaining", "1.3.6.1.2.1.33.1.2.3.0"),
        ),
    ),
    SnmpModule(
        "kiosk",
        frozenset({"kiosk"}),
        scalars=(
            ("hr_uptime", "1.3.6.1.2.1.25.1.1.0"),
            ("app_version", _extend_output_oid("kiosk-app-version")),
            ("app_active", _extend_output_oid("kiosk-app-active")),
        ),
        row_key=("1.3.6.1.2.1.25.2.3.1.3", b"/"),
        row_columns=(
            ("storage_units", "1.3.6.1.2.1.25.2.3.1.4"),
            ("storage_size", "1.3.6.1.2.1.25.2.3.1.5"),
            ("storage_used", "1.3.6.1.2.1.25.2.3.1.6"),
        ),
    ),
)

UPS_OUTPUT_SOURCE_BATTERY = 5
_ACTIVE_WORDS = frozenset({"active", "1", "true", "yes", "running", "up"})


def modules_for(role: str) -> tuple[SnmpModule, ...]:
    """The modules polled for a device role."""
    return tuple(m for m in MODULES if m.roles is None or role in m.roles)


@dataclass(frozen=True, slots=True)
class PollPlan:
    """The encoded OIDs of one role's modules, computed once per role."""

    scalar_fields: tuple[str, ...]
    scalar_oids: tuple[bytes, ...]
    column_fields: tuple[str, ...]
    column_oids: tuple[bytes, ...]
    slow_fields: tuple[str, ...]
    slow_oids: tuple[bytes, ...]
    row_key_oid: bytes | None
    row_key_value: bytes | None
    row_fields: tuple[str, ...]
    row_oids: tuple[bytes, ...]

    @classmethod
    def for_role(cls, role: str) -> PollPlan:
        """Build the plan of ``role`` from :data:`MODULES`."""
        mods = modules_for(role)
        scal = [s for m in mods for s in m.scalars]
        cols = [c for m in mods for c in m.columns]
        slow = [c for m in mods for c in m.slow_columns]
        keyed = [m for m in mods if m.row_key is not None]
        if len(keyed) > 1:
            raise CollectorError(f"role {role!r}: more than one module selects a row")
        row_mod = keyed[0] if keyed else None
        return cls(
            scalar_fields=tuple(f for f, _ in scal),
            scalar_oids=tuple(ber.oid(o) for _, o in scal),
            column_fields=tuple(f for f, _ in cols),
            column_oids=tuple(ber.oid(o) for _, o in cols),
            slow_fields=tuple(f for f, _ in slow),
            slow_oids=tuple(ber.oid(o) for _, o in slow),
            row_key_oid=ber.oid(row_mod.row_key[0]) if row_mod and row_mod.row_key else None,
            row_key_value=row_mod.row_key[1] if row_mod and row_mod.row_key else None,
            row_fields=tuple(f for f, _ in row_mod.row_columns) if row_mod else (),
            row_oids=tuple(ber.oid(o) for _, o in row_mod.row_columns) if row_mod else (),
        )


# --------------------------------------------------------------------------- transport


class PollFailed(CollectorError):
    """A poll failed for a device-side reason (becomes ``ok=False`` with ``reason``)."""

    def __init__(self, reason: str, *, device: str | None = None) -> None:
        super().__init__(reason, device=device)
        self.reason = reason


class _Pending:
    __slots__ = ("addr", "decode", "future", "malformed", "payload", "retries_left", "timeout",
                 "timer")

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


class SnmpTransport(asyncio.DatagramProtocol):
    """One UDP socket shared by every device, with request-id demultiplexing."""

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
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        try:
            _, rid = ber.peek_message_id(data)
        except ber.BerError as exc:
            self.dropped += 1
            logger.debug("dropped %d-byte datagram from %s:%s: %s", len(data), addr[0], addr[1],
                         exc)
            return
        p = self._pending.get(rid)
        if p is None:
            self.dropped += 1
            logger.debug("dropped reply with unknown request-id %d from %s:%s", rid, *addr[:2])
            return
        if addr[0] != p.addr[0] or addr[1] != p.addr[1]:
            self.dropped += 1
            logger.debug("dropped reply for request-id %d from wrong source %s:%s (expected %s:%s)",
                         rid, addr[0], addr[1], *p.addr)
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
        decode: Callable[[bytes], Any],
        *,
        timeout: float,
        retries: int,
    ) -> Any:
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
                return await fut
            finally:
                if p.timer is not None:
                    p.timer.cancel()
                self._pending.pop(rid, None)


# --------------------------------------------------------------------------- sessions


class _V2cSession:
    """Builds and reads v2c messages for one community."""

    __slots__ = ("community", "prefix")

    def __init__(self, community: bytes) -> None:
        self.community = community
        self.prefix = ber.encode_integer(1) + ber.encode_tlv(ber.OCTET_STRING, community)

    def build(self, rid: int, tag: int, a: int, b: int, vbl: bytes) -> bytes:
        return ber.encode_tlv(ber.SEQUENCE, self.prefix + ber.encode_pdu(tag, rid, a, b, vbl))

    def decode(self, data: bytes) -> ber.Pdu:
        msg = ber.decode_v2c_message(data)
        if msg.community != self.community:
            raise ber.BerError("reply with a different community")
        if msg.pdu.tag != ber.RESPONSE:
            raise ber.BerError(f"not a Response PDU (tag 0x{msg.pdu.tag:02x})")
        return msg.pdu


@dataclass(slots=True)
class _Engine:
    """What we know of one authoritative SNMPv3 engine (an agent)."""

    engine_id: bytes = b""
    boots: int = 0
    time: int = 0
    ref: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def known(self) -> bool:
        return bool(self.engine_id)

    def now(self) -> int:
        return self.time + int(time.monotonic() - self.ref)

    def update(self, boots: int, etime: int) -> None:
        self.boots = boots
        self.time = etime
        self.ref = time.monotonic()


@dataclass(slots=True)
class _V3Reply:
    pdu: ber.Pdu
    engine_id: bytes
    boots: int
    time: int
    authenticated: bool


class _V3Session:
    """Builds and reads USM messages for one user at one engine."""

    __slots__ = ("engine", "salt", "user")

    def __init__(self, user: UsmUser, engine: _Engine, salt: SaltCounter) -> None:
        self.user = user
        self.engine = engine
        self.salt = salt

    def build_discovery(self, rid: int) -> bytes:
        pdu = ber.encode_pdu(ber.GET_REQUEST, rid, 0, 0, ber.encode_varbinds(()))
        usm = ber.encode_usm_params(b"", 0, 0, b"", b"", b"")
        return ber.encode_v3_message(
            rid, 65507, FLAG_REPORTABLE, usm, ber.encode_scoped_pdu(b"", b"", pdu)
        )

    def build(self, rid: int, tag: int, a: int, b: int, vbl: bytes) -> bytes:
        eng = self.engine
        user = self.user
        keys = user.keys_for(eng.engine_id)
        boots, etime = eng.boots, eng.now()
        scoped = ber.encode_scoped_pdu(eng.engine_id, b"", ber.encode_pdu(tag, rid, a, b, vbl))
        priv = b""
        if user.priv:
            priv = self.salt.next()
            msg_data = ber.encode_tlv(ber.OCTET_STRING, encrypt(keys, boots, etime, priv, scoped))
        else:
            msg_data = scoped
        auth_zero = bytes(keys.digest_len)
        usm = ber.encode_usm_params(eng.engine_id, boots, etime, user.name, auth_zero, priv)
        msg = ber.encode_v3_message(rid, 65507, user.flags, usm, msg_data)
        if not user.auth:
            return msg
        # msgAuthenticationParameters sit right before the last field of the USM parameters
        # (privParams, a 2-byte header plus the salt), which end where msgData starts.
        pos = len(msg) - len(msg_data) - (2 + len(priv)) - keys.digest_len
        return msg[:pos] + sign(keys, msg) + msg[pos + keys.digest_len :]

    def decode(self, data: bytes) -> _V3Reply:
        m = ber.decode_v3_message(data)
        authenticated = bool(m.flags & FLAG_AUTH)
        if authenticated:
            if not self.user.auth:
                raise UsmError("authenticated reply to a noAuth user")
            keys = self.user.keys_for(m.engine_id)
            verify(keys, data, m.auth_offset, m.auth_params)
            if m.flags & FLAG_PRIV:
                if m.data_tag != ber.OCTET_STRING:
                    raise UsmError("encrypted flag set but data is not an OCTET STRING")
                content = ber.unwrap_sequence(
                    decrypt(keys, m.engine_boots, m.engine_time, m.priv_params, m.data)
                )
            else:
                content = m.data
        else:
            content = m.data
        if m.data_tag != ber.SEQUENCE and not (m.flags & FLAG_PRIV):
            raise UsmError("plaintext reply without a ScopedPDU")
        _, _, pdu = ber.decode_scoped_pdu(content)
        if pdu.tag not in (ber.RESPONSE, ber.REPORT):
            raise UsmError(f"not a Response or Report PDU (tag 0x{pdu.tag:02x})")
        if not authenticated and pdu.tag != ber.REPORT and self.user.auth:
            raise UsmError("unauthenticated response to an authenticated request")
        return _V3Reply(pdu, m.engine_id, m.engine_boots, m.engine_time, authenticated)


_USM_STATS_PREFIX = ber.oid("1.3.6.1.6.3.15.1.1")


def _report_reason(pdu: ber.Pdu) -> tuple[int, str]:
    """(usmStats number, reason) of a Report PDU."""
    for o, _, _ in pdu.varbinds:
        if o.startswith(_USM_STATS_PREFIX):
            sub = ber.decode_subids(o[len(_USM_STATS_PREFIX) :])
            if sub:
                return sub[0], USM_STATS_REASONS.get(sub[0], f"report {ber.oid_text(o)}")
        return 0, f"report {ber.oid_text(o)}"
    return 0, "empty report"


# --------------------------------------------------------------------------- collector


@dataclass(slots=True)
class _DeviceState:
    """Per-device cache: slow columns, table sizes, the selected row."""

    polls: int = 0
    slow_at: float = 0.0
    slow: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    rows: int = 0
    row_index: bytes | None = None
    last_uptime: int | None = None


@dataclass(slots=True)
class _Ctx:
    target: Target
    addr: tuple[str, int]
    session: _V2cSession | _V3Session
    requests: int = 0
    replies: int = 0


class SnmpCollector:
    """Polls devices over SNMP v2c/v3 (the ``Collector`` protocol of ``collectors.base``).

    Args:
        max_concurrency: devices polled at the same time (further ``collect`` calls wait).
        max_inflight: requests in flight on the shared socket.
        slow_every: refresh slow columns (ifName, ifAlias, the storage row) every N polls.
        slow_max_age: … or when the cache is older than this many seconds.
        max_repetitions: GETBULK max-repetitions before a device's table size is known.
    """

    protocol = "snmp"

    def __init__(
        self,
        *,
        max_concurrency: int = 256,
        max_inflight: int = 512,
        slow_every: int = 10,
        slow_max_age: float = 900.0,
        max_repetitions: int = 16,
    ) -> None:
        self._max_concurrency = max_concurrency
        self._transport = SnmpTransport(max_inflight=max_inflight)
        self._sem: asyncio.Semaphore | None = None
        self._slow_every = slow_every
        self._slow_max_age = slow_max_age
        self._max_rep = max_repetitions
        self._plans: dict[str, PollPlan] = {}
        self._states: dict[str, _DeviceState] = {}
        self._engines: dict[tuple[str, int], _Engine] = {}
        self._users: dict[SnmpCredentials, UsmUser] = {}
        self._v2c: dict[bytes, _V2cSession] = {}
        self._salt = SaltCounter()
        self._addr_cache: dict[str, str] = {}

    @property
    def transport(self) -> SnmpTransport:
        """The shared UDP transport (for diagnostics: ``dropped``, ``receive_buffer``)."""
        return self._transport

    async def aclose(self) -> None:
        """Close the shared socket."""
        self._transport.close()

    def forget(self, device_id: str) -> None:
        """Drop a device's cached slow columns (e.g. after it was reconfigured)."""
        self._states.pop(device_id, None)

    # -------------------------------------------------------------------------------
    async def collect(self, target: Target) -> Observation:
        """Poll ``target`` once; device-side failures come back as ``ok=False``."""
        if self._sem is None:
            await self._transport.start()
            self._sem = asyncio.Semaphore(self._max_concurrency)
        async with self._sem:
            started = utcnow()
            t0 = time.perf_counter()
            obs = Observation(
                device_id=target.device_id, protocol="snmp", ok=False, started_at=started,
                duration_seconds=0.0,
            )
            ctx: _Ctx | None = None
            try:
                ctx = await self._context(target)
                await self._poll(ctx, obs)
                obs.ok = True
            except PollTimeout:
                obs.reason = "timeout" if ctx is None or ctx.replies == 0 else (
                    "timeout in the middle of a poll (agent stopped answering)"
                )
                self._clear_partial(obs)
            except PollFailed as exc:
                obs.reason = exc.reason
                self._clear_partial(obs)
            except (UsmError, ber.BerError) as exc:
                obs.reason = str(exc)
                self._clear_partial(obs)
            obs.duration_seconds = time.perf_counter() - t0
            if ctx is not None:
                obs.extra["requests"] = ctx.requests
            return obs

    @staticmethod
    def _clear_partial(obs: Observation) -> None:
        obs.sys_uptime_ticks = None
        obs.sys_name = None
        obs.sys_descr = None
        obs.interfaces = []
        obs.ups = None
        obs.kiosk = None

    async def _resolve(self, host: str) -> str:
        cached = self._addr_cache.get(host)
        if cached is not None:
            return cached
        try:
            ip = str(ipaddress.ip_address(host))
        except ValueError:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
            except OSError as exc:
                raise PollFailed(f"cannot resolve {host}: {exc}") from exc
            ip = str(infos[0][4][0])
        ip = self._transport.socket_address(ip)
        self._addr_cache[host] = ip
        return ip

    async def _context(self, target: Target) -> _Ctx:
        creds = target.snmp
        if creds is None:
            raise CollectorError("no SNMP credentials", device=target.device_id)
        addr = (await self._resolve(target.address), target.snmp_port)
        if creds.version in ("2c", "2", "v2c"):
            if creds.community is None:
                raise CollectorError("SNMPv2c without a community", device=target.device_id)
            community = creds.community.get().encode()
            session: _V2cSession | _V3Session | None = self._v2c.get(community)
            if session is None:
                session = self._v2c[community] = _V2cSession(community)
            return _Ctx(target, addr, session)
        if creds.version not in ("3", "v3"):
            raise CollectorError(f"unsupported SNMP version {creds.version!r}",
                                 device=target.device_id)
        user = self._users.get(creds)
        if user is None:
            user = self._users[creds] = UsmUser(creds)
        engine = self._engines.get(addr)
        if engine is None:
            engine = self._engines[addr] = _Engine()
        ctx = _Ctx(target, addr, _V3Session(user, engine, self._salt))
        if not engine.known:
            async with engine.lock:
                if not engine.known:
                    await self._discover(ctx, engine)
        return ctx

    async def _discover(self, ctx: _Ctx, engine: _Engine) -> None:
        assert isinstance(ctx.session, _V3Session)
        rid = self._transport.next_id()
        payload = ctx.session.build_discovery(rid)
        ctx.requests += 1
        reply: _V3Reply = await self._transport.exchange(
            ctx.addr, rid, payload, ctx.session.decode,
            timeout=ctx.target.timeout, retries=ctx.target.retries,
        )
        if not reply.engine_id:
            raise PollFailed("engine discovery returned no engine id")
        engine.engine_id = reply.engine_id
        engine.update(reply.boots, reply.time)
        logger.debug("%s: discovered engine %s boots=%d time=%d", ctx.target.device_id,
                     reply.engine_id.hex(), reply.boots, reply.time)

    async def _request(
        self, ctx: _Ctx, tag: int, a: int, b: int, oids: Iterable[bytes]
    ) -> ber.Pdu:
        vbl = ber.encode_varbinds(oids)
        session = ctx.session
        for attempt in range(3):
            rid = self._transport.next_id()
            ctx.requests += 1
            reply = await self._transport.exchange(
                ctx.addr, rid, session.build(rid, tag, a, b, vbl), session.decode,
                timeout=ctx.target.timeout, retries=ctx.target.retries,
            )
            if isinstance(reply, ber.Pdu):
                pdu = reply
            else:
                pdu = reply.pdu
                if reply.authenticated:
                    assert isinstance(session, _V3Session)
                    session.engine.update(reply.boots, reply.time)
            if pdu.tag != ber.REPORT:
                ctx.replies += 1
                return pdu
            num, reason = _report_reason(pdu)
            if isinstance(session, _V3Session) and attempt < 2:
                if num == 2 and reply.authenticated:  # type: ignore[union-attr]
                    continue  # not in time window: clock re-synchronised above
                if num == 4:
                    session.engine.engine_id = b""
                    await self._discover(ctx, session.engine)
                    continue
            raise PollFailed(reason)
        raise PollFailed("agent keeps reporting")  # pragma: no cover

    # -------------------------------------------------------------------------------
    async def _poll(self, ctx: _Ctx, obs: Observation) -> None:
        target = ctx.target
        plan = self._plans.get(target.role)
        if plan is None:
            plan = self._plans[target.role] = PollPlan.for_role(target.role)
        state = self._states.get(target.device_id)
        if state is None:
            state = self._states[target.device_id] = _DeviceState()
        now = time.monotonic()
        refresh = (
            state.polls % self._slow_every == 0
            or now - state.slow_at > self._slow_max_age
            or (plan.row_key_oid is not None and state.row_index is None)
        )
        values: dict[str, Any] = {}
        rows: dict[bytes, dict[str, Any]] = {}
        walk_fields = list(plan.column_fields)
        walk_oids = list(plan.column_oids)
        if refresh:
            walk_fields += plan.slow_fields
            walk_oids += plan.slow_oids
            if plan.row_key_oid is not None:
                walk_fields.append("__row_key")
                walk_oids.append(plan.row_key_oid)
        scalars_in_walk = bool(walk_oids) and all(o[-1] == 0 for o in plan.scalar_oids)
        if walk_oids:
            await self._walk(ctx, plan, state, walk_fields, walk_oids, scalars_in_walk, values,
                             rows)
        get_fields: list[str] = []
        get_oids: list[bytes] = []
        if not scalars_in_walk:
            get_fields += plan.scalar_fields
            get_oids += plan.scalar_oids
        if plan.row_key_oid is not None:
            if refresh:
                state.row_index = next(
                    (idx for idx, r in rows.items() if r.get("__row_key") == plan.row_key_value),
                    None,
                )
            if state.row_index is not None:
                get_fields += plan.row_fields
                get_oids += [o + state.row_index for o in plan.row_oids]
        if get_oids:
            pdu = await self._request(ctx, ber.GET_REQUEST, 0, 0, get_oids)
            if pdu.error_status:
                raise PollFailed(f"agent error {_ERROR_NAMES.get(pdu.error_status, '?')} "
                                 f"({pdu.error_status}) on GET")
            if len(pdu.varbinds) != len(get_oids):
                raise PollFailed("GET reply with a different number of values")
            for f, want, (o, tag, v) in zip(get_fields, get_oids, pdu.varbinds, strict=True):
                if o == want and tag not in ber.EXCEPTION_TAGS:
                    values[f] = v
            if state.row_index is not None and any(
                f not in values for f in plan.row_fields
            ):
                state.row_index = None  # the row moved; find it again next poll
        obs.extra["slow_refreshed"] = refresh
        if refresh:
            state.slow_at = now
            if plan.slow_fields:
                state.slow = {
                    idx: {f: r.get(f) for f in plan.slow_fields} for idx, r in rows.items()
                }
        self._fill(obs, plan, state, values, rows)
        uptime = obs.sys_uptime_ticks
        if uptime is not None and state.last_uptime is not None and uptime < state.last_uptime:
            state.polls = 0  # rebooted: interfaces may have been renumbered
        else:
            state.polls += 1
        state.last_uptime = uptime

    async def _walk(
        self,
        ctx: _Ctx,
        plan: PollPlan,
        state: _DeviceState,
        fields: list[str],
        columns: list[bytes],
        with_scalars: bool,
        values: dict[str, Any],
        rows: dict[bytes, dict[str, Any]],
    ) -> None:
        """Multi-column GETBULK walk; scalars ride along as non-repeaters (GETNEXT on parent)."""
        nr_oids = [o[:-1] for o in plan.scalar_oids] if with_scalars else []
        last = list(columns)
        active = list(range(len(columns)))
        expected = state.rows
        max_rep = expected + 1 if expected else self._max_rep
        got = [0] * len(columns)
        requests = 0
        n_rows = 0
        while active:
            requests += 1
            if requests > MAX_WALK_REQUESTS:
                raise PollFailed("walk did not end")
            nr = len(nr_oids)
            pdu = await self._request(
                ctx, ber.GET_BULK_REQUEST, nr, max_rep, [*nr_oids, *(last[i] for i in active)]
            )
            if pdu.error_status:
                if pdu.error_status == 1 and max_rep > 1:
                    max_rep = max(1, max_rep // 2)
                    continue
                raise PollFailed(f"agent error {_ERROR_NAMES.get(pdu.error_status, '?')} "
                                 f"({pdu.error_status}) on GETBULK")
            vbs = pdu.varbinds
            if nr:
                if len(vbs) < nr:
                    raise PollFailed("GETBULK reply without the requested scalars")
                for f, want, (o, tag, v) in zip(plan.scalar_fields, plan.scalar_oids, vbs,
                                                strict=False):
                    if o == want and tag not in ber.EXCEPTION_TAGS:
                        values[f] = v
                nr_oids = []
            width = len(active)
            done: set[int] = set()
            k = 0
            for o, tag, v in vbs[nr:]:
                ci = active[k % width]
                k += 1
                if ci in done:
                    continue
                col = columns[ci]
                if tag == ber.END_OF_MIB_VIEW or not o.startswith(col) or len(o) == len(col):
                    done.add(ci)
                    continue
                idx = o[len(col) :]
                row = rows.get(idx)
                if row is None:
                    row = rows[idx] = {}
                row[fields[ci]] = None if tag in ber.EXCEPTION_TAGS else v
                last[ci] = o
                got[ci] += 1
            if k == 0:
                break
            active = [ci for ci in active if ci not in done]
            n_rows = len(rows)
            if expected and active:
                # the agent truncated the reply: ask only for the rows still expected
                max_rep = max(1, expected + 1 - min(got[ci] for ci in active))
        state.rows = n_rows

    def _fill(
        self,
        obs: Observation,
        plan: PollPlan,
        state: _DeviceState,
        values: dict[str, Any],
        rows: dict[bytes, dict[str, Any]],
    ) -> None:
        uptime = values.get("sys_uptime")
        obs.sys_uptime_ticks = uptime if isinstance(uptime, int) else None
        obs.sys_name = _text(values.get("sys_name"))
        obs.sys_descr = _text(values.get("sys_descr"))
        if plan.column_fields:
            interfaces = []
            for idx, r in rows.items():
                sub = ber.decode_subids(idx)
                if len(sub) != 1:
                    continue
                slow = state.slow.get(idx) or {}
                admin = r.get("admin_status")
                oper = r.get("oper_status")
                interfaces.append(
                    InterfaceSample(
                        index=sub[0],
                        name=_text(slow.get("name")),
                        alias=_text(slow.get("alias")),
                        admin_up=None if admin is None else admin == 1,
                        oper_up=None if oper is None else oper == 1,
                        in_octets=r.get("in_octets"),
                        out_octets=r.get("out_octets"),
                        in_errors=r.get("in_errors"),
                        out_errors=r.get("out_errors"),
                        in_discards=r.get("in_discards"),
                        out_discards=r.get("out_discards"),
                        high_speed_mbps=r.get("high_speed_mbps"),
                    )
                )
            interfaces.sort(key=lambda i: i.index)
            obs.interfaces = interfaces
        if "ups_output_source" in plan.scalar_fields:
            src = values.get("ups_output_source")
            charge = values.get("ups_charge_percent")
            minutes = values.get("ups_minutes_remaining")
            obs.ups = UpsSample(
                on_battery=None if src is None else src == UPS_OUTPUT_SOURCE_BATTERY,
                charge_percent=None if charge is None else float(charge),
                minutes_remaining=None if minutes is None else float(minutes),
            )
        if "app_version" in plan.scalar_fields:
            hr = values.get("hr_uptime")
            active = _text(values.get("app_active"))
            units = values.get("storage_units")
            size = values.get("storage_size")
            used = values.get("storage_used")
            total = free = None
            if isinstance(units, int) and isinstance(size, int) and isinstance(used, int):
                total = units * size
                free = units * max(0, size - used)
            obs.kiosk = KioskSample(
                app_version=_text(values.get("app_version")),
                app_active=None if active is None else active.strip().lower() in _ACTIVE_WORDS,
                disk_free_bytes=free,
                disk_total_bytes=total,
                uptime_seconds=None if not isinstance(hr, int) else hr / 100.0,
            )


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None


def plan_summary(role: str) -> Mapping[str, tuple[str, ...]]:
    """Field names polled for ``role`` (for docs and the CLI)."""
    p = PollPlan.for_role(role)
    return {
        "scalars": p.scalar_fields,
        "columns": p.column_fields,
        "slow_columns": p.slow_fields,
        "row_columns": p.row_fields,
    }

