"""The SNMP collector: polls one device's modules over a v2c/v3 session on a shared transport.

Design (see ``docs/snmp.md``):

* What to poll is data (:mod:`collectors.snmp.modules`), chosen by device role.
* Messages are built and read by :mod:`collectors.snmp.session`; the network is a
  :class:`~collectors.snmp.transport.Transport` (a UDP socket shared by every device).
* Interface tables are walked with one multi-column GETBULK (scalars ride along as
  non-repeaters), sized from the previous poll's row count so a router usually costs one
  round trip. Slow columns (ifName, ifAlias) are cached per device and refreshed every
  ``slow_every`` polls or ``slow_max_age`` seconds, or after a reboot.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
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
from collectors.profiles import ProfileSet, default_profiles
from collectors.snmp.modules import IF_32_FIELDS, IF_HC_FIELDS, PollPlan
from collectors.snmp.profiled import ProfileState, read_profiles
from collectors.snmp.session import Engine, V2cSession, V3Reply, V3Session, report_reason
from collectors.snmp.transport import PollFailed, Transport, UdpTransport
from collectors.snmp.walk import ERROR_NAMES, WalkHints, bulk_walk
from collectors.usm import SaltCounter, UsmError, UsmUser
from core.timeutil import utcnow

logger = logging.getLogger(__name__)

COUNTER32_MODULUS = 1 << 32
COUNTER64_MODULUS = 1 << 64
_IF_SKIP: dict[bool | None, frozenset[str]] = {
    None: frozenset(),
    True: frozenset(IF_32_FIELDS),
    False: frozenset(IF_HC_FIELDS),
}
_NO_PROFILE_ROLES = frozenset({"kiosk"})  # kiosks have their own module; keep their polls light
_IF_SPEED_MAX = 2**32 - 1  # ifSpeed saturates here: the real speed is in ifHighSpeed only
UPS_OUTPUT_SOURCE_BATTERY = 5
_ACTIVE_WORDS = frozenset({"active", "1", "true", "yes", "running", "up"})


@dataclass(slots=True)
class _DeviceState:
    """Per-device cache: slow columns, table sizes, the selected row."""

    polls: int = 0
    slow_at: float = 0.0
    slow: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    row_index: bytes | None = None
    last_uptime: int | None = None
    ifx: bool | None = None
    """Whether the agent has ifXTable (None: unknown, or some rows only: walk both)."""
    if_hints: WalkHints = field(default_factory=WalkHints)
    profile: ProfileState = field(default_factory=ProfileState)


@dataclass(slots=True)
class _Ctx:
    target: Target
    addr: tuple[str, int]
    session: V2cSession | V3Session
    requests: int = 0
    replies: int = 0


class SnmpCollector:
    """Polls devices over SNMP v2c/v3 (the ``Collector`` protocol of ``collectors.base``).

    Args:
        max_concurrency: devices polled at the same time (further ``collect`` calls wait).
        max_inflight: requests in flight on the shared socket.
        slow_every: refresh slow columns (ifName, ifAlias, the storage row) every N polls.
        slow_max_age: … or when the cache is older than this many seconds.
        max_repetitions: GETBULK max-repetitions before a device's table size is known
            (then it adapts: see :mod:`collectors.snmp.walk`).
        poll_budget: seconds a poll may walk before it fails ("walk did not end within the
            poll's time budget"); keep it under the scheduler's per-poll deadline.
        profiles: vendor profiles to read (default: the shipped ones plus
            ``$KENTONGAN_PROFILES_DIR``); ``ProfileSet.empty()`` reads the modules only.
        transport: the network (default: a :class:`UdpTransport` with ``max_inflight``); unit
            tests pass a fake.
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
        poll_budget: float = 12.0,
        profiles: ProfileSet | None = None,
        transport: Transport | None = None,
    ) -> None:
        self._max_concurrency = max_concurrency
        self._transport: Transport = transport or UdpTransport(max_inflight=max_inflight)
        self._sem: asyncio.Semaphore | None = None
        self._slow_every = slow_every
        self._slow_max_age = slow_max_age
        self._max_rep = max_repetitions
        self._poll_budget = poll_budget
        self._profiles = profiles if profiles is not None else default_profiles()
        self._plans: dict[str, PollPlan] = {}
        self._states: dict[str, _DeviceState] = {}
        self._engines: dict[tuple[str, int], Engine] = {}
        self._users: dict[SnmpCredentials, UsmUser] = {}
        self._v2c: dict[bytes, V2cSession] = {}
        self._salt = SaltCounter()
        self._addr_cache: dict[str, str] = {}

    @property
    def transport(self) -> Transport:
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
                device_id=target.device_id,
                protocol="snmp",
                ok=False,
                started_at=started,
                duration_seconds=0.0,
            )
            ctx: _Ctx | None = None
            try:
                ctx = await self._context(target)
                await self._poll(ctx, obs, time.monotonic() + self._poll_budget)
                obs.ok = True
            except PollTimeout:
                obs.reason = (
                    "timeout"
                    if ctx is None or ctx.replies == 0
                    else ("timeout in the middle of a poll (agent stopped answering)")
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

    async def walk(self, target: Target, oid: str = "1.3.6.1.2.1.1") -> list[ber.Varbind]:
        """Every varbind under ``oid`` (the adaptive bulk walk; for writing profiles).

        Raises:
            PollFailed, PollTimeout: the agent failed or did not answer.
            CollectorError: bad credentials configuration or a non-numeric OID.
        """
        if self._sem is None:
            await self._transport.start()
            self._sem = asyncio.Semaphore(self._max_concurrency)
        ctx = await self._context(target)

        async def request(tag: int, a: int, b: int, oids: Sequence[bytes]) -> ber.Pdu:
            return await self._request(ctx, tag, a, b, oids)

        col = ber.oid(oid)
        walked = await bulk_walk(
            request, ["v"], [col], WalkHints(), deadline=time.monotonic() + self._poll_budget,
            initial_repetitions=self._max_rep,
        )
        out: list[ber.Varbind] = []
        for idx, row in walked.rows.items():
            out.append((col + idx, 0, row["v"]))
        out.sort(key=lambda vb: ber.decode_oid(vb[0]))
        return out

    @staticmethod
    def _clear_partial(obs: Observation) -> None:
        obs.sys_uptime_ticks = None
        obs.sys_name = None
        obs.sys_descr = None
        obs.interfaces = []
        obs.ups = None
        obs.kiosk = None
        obs.sensors = []
        obs.profile = None

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
            session: V2cSession | V3Session | None = self._v2c.get(community)
            if session is None:
                session = self._v2c[community] = V2cSession(community)
            return _Ctx(target, addr, session)
        if creds.version not in ("3", "v3"):
            raise CollectorError(
                f"unsupported SNMP version {creds.version!r}", device=target.device_id
            )
        user = self._users.get(creds)
        if user is None:
            user = self._users[creds] = UsmUser(creds)
        engine = self._engines.get(addr)
        if engine is None:
            engine = self._engines[addr] = Engine()
        ctx = _Ctx(target, addr, V3Session(user, engine, self._salt))
        if not engine.known:
            async with engine.lock:
                if not engine.known:
                    await self._discover(ctx, engine)
        return ctx

    async def _discover(self, ctx: _Ctx, engine: Engine) -> None:
        assert isinstance(ctx.session, V3Session)
        rid = self._transport.next_id()
        payload = ctx.session.build_discovery(rid)
        ctx.requests += 1
        reply: V3Reply = await self._transport.exchange(
            ctx.addr,
            rid,
            payload,
            ctx.session.decode,
            timeout=ctx.target.timeout,
            retries=ctx.target.retries,
        )
        if not reply.engine_id:
            raise PollFailed("engine discovery returned no engine id")
        engine.engine_id = reply.engine_id
        engine.update(reply.boots, reply.time)
        logger.debug(
            "%s: discovered engine %s boots=%d time=%d",
            ctx.target.device_id,
            reply.engine_id.hex(),
            reply.boots,
            reply.time,
        )

    async def _request(self, ctx: _Ctx, tag: int, a: int, b: int, oids: Iterable[bytes]) -> ber.Pdu:
        vbl = ber.encode_varbinds(oids)
        session = ctx.session
        for attempt in range(3):
            rid = self._transport.next_id()
            ctx.requests += 1
            decode: Callable[[bytes], ber.Pdu | V3Reply] = session.decode
            reply = await self._transport.exchange(
                ctx.addr,
                rid,
                session.build(rid, tag, a, b, vbl),
                decode,
                timeout=ctx.target.timeout,
                retries=ctx.target.retries,
            )
            if isinstance(reply, ber.Pdu):
                pdu = reply
            else:
                pdu = reply.pdu
                if reply.authenticated:
                    assert isinstance(session, V3Session)
                    session.engine.update(reply.boots, reply.time)
            if pdu.tag != ber.REPORT:
                ctx.replies += 1
                return pdu
            num, reason = report_reason(pdu)
            if isinstance(session, V3Session) and attempt < 2:
                if num == 2 and isinstance(reply, V3Reply) and reply.authenticated:
                    continue  # not in time window: clock re-synchronised above
                if num == 4:
                    session.engine.engine_id = b""
                    await self._discover(ctx, session.engine)
                    continue
            raise PollFailed(reason)
        raise PollFailed("agent keeps reporting")  # pragma: no cover

    # -------------------------------------------------------------------------------
    async def _poll(self, ctx: _Ctx, obs: Observation, deadline: float) -> None:
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
        if refresh:
            state.ifx = None  # re-learn whether the agent has ifXTable
        skip = _IF_SKIP[state.ifx]
        values: dict[str, Any] = {}
        walk_fields: list[str] = []
        walk_oids: list[bytes] = []
        for f, o in zip(plan.column_fields, plan.column_oids, strict=True):
            if f not in skip:
                walk_fields.append(f)
                walk_oids.append(o)
        if refresh:
            walk_fields += plan.slow_fields
            walk_oids += plan.slow_oids
            if plan.row_key_oid is not None:
                walk_fields.append("__row_key")
                walk_oids.append(plan.row_key_oid)
        scalars_in_walk = bool(walk_oids) and all(o[-1] == 0 for o in plan.scalar_oids)
        rows: dict[bytes, dict[str, Any]] = {}
        if walk_oids:

            async def request(tag: int, a: int, b: int, oids: Sequence[bytes]) -> ber.Pdu:
                return await self._request(ctx, tag, a, b, oids)

            walked = await bulk_walk(
                request,
                walk_fields,
                walk_oids,
                state.if_hints,
                deadline=deadline,
                initial_repetitions=self._max_rep,
                non_repeaters=[o[:-1] for o in plan.scalar_oids] if scalars_in_walk else (),
            )
            rows = walked.rows
            for f, want, (o, tag, v) in zip(
                plan.scalar_fields, plan.scalar_oids, walked.scalars, strict=False
            ):
                if o == want and tag not in ber.EXCEPTION_TAGS:
                    values[f] = v
            if state.ifx is None and "in_octets" in walk_fields and "in_octets_32" in walk_fields:
                has_hc = [r.get("in_octets") is not None for r in rows.values()]
                if has_hc:
                    state.ifx = True if all(has_hc) else False if not any(has_hc) else None
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
                raise PollFailed(
                    f"agent error {ERROR_NAMES.get(pdu.error_status, '?')} "
                    f"({pdu.error_status}) on GET"
                )
            if len(pdu.varbinds) != len(get_oids):
                raise PollFailed("GET reply with a different number of values")
            for f, want, (o, tag, v) in zip(get_fields, get_oids, pdu.varbinds, strict=True):
                if o == want and tag not in ber.EXCEPTION_TAGS:
                    values[f] = v
            if state.row_index is not None and any(f not in values for f in plan.row_fields):
                state.row_index = None  # the row moved; find it again next poll
        obs.extra["slow_refreshed"] = refresh
        if refresh:
            state.slow_at = now
            if plan.slow_fields:
                state.slow = {
                    idx: {f: r.get(f) for f in plan.slow_fields} for idx, r in rows.items()
                }
        self._fill(obs, plan, state, values, rows)
        if self._profiles.profiles and target.role not in _NO_PROFILE_ROLES:
            await self._read_profiles(ctx, obs, state, refresh, deadline)
        uptime = obs.sys_uptime_ticks
        if uptime is not None and state.last_uptime is not None and uptime < state.last_uptime:
            state.polls = 0  # rebooted: interfaces may have been renumbered
        else:
            state.polls += 1
        state.last_uptime = uptime

    async def _read_profiles(
        self, ctx: _Ctx, obs: Observation, state: _DeviceState, refresh: bool, deadline: float
    ) -> None:
        ps = state.profile
        if refresh or ps.name is None:
            chosen = self._profiles.select(obs.sys_object_id, obs.sys_descr, ctx.target.role)
            name = chosen.name if chosen is not None else ""
            if name != ps.name:
                state.profile = ps = ProfileState(
                    name=name, chain=self._profiles.expand(chosen) if chosen else []
                )
        obs.profile = ps.name or None
        if not ps.chain:
            return

        async def request(tag: int, a: int, b: int, oids: Sequence[bytes]) -> ber.Pdu:
            return await self._request(ctx, tag, a, b, oids)

        try:
            obs.sensors, counts = await read_profiles(
                request,
                ps,
                refresh=refresh,
                deadline=deadline,
                slow_interval=ctx.target.onu_interval,
                initial_repetitions=self._max_rep,
            )
            obs.extra["profile_tables"] = counts["tables"]
            obs.extra["profile_tables_skipped"] = counts["tables_skipped"]
        except (PollFailed, PollTimeout) as exc:
            # interfaces and system values were read: keep them, say what is missing
            obs.extra["profile_error"] = getattr(exc, "reason", None) or str(exc) or "timeout"
            logger.debug("%s: profile %s: %s", ctx.target.device_id, ps.name, exc)

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
        oid = values.get("sys_object_id")
        obs.sys_object_id = ".".join(map(str, oid)) if isinstance(oid, tuple) else None
        if plan.column_fields:
            interfaces = []
            for idx, r in rows.items():
                sub = ber.decode_subids(idx)
                if len(sub) != 1:
                    continue
                slow = state.slow.get(idx) or {}
                admin = r.get("admin_status")
                oper = r.get("oper_status")
                hc = r.get("in_octets") is not None or r.get("out_octets") is not None
                speed = r.get("high_speed_mbps")
                if speed is None:
                    bps = r.get("speed_bps")
                    if isinstance(bps, int) and bps < _IF_SPEED_MAX:
                        speed = bps // 1_000_000
                interfaces.append(
                    InterfaceSample(
                        index=sub[0],
                        name=_text(slow.get("name")) or _text(slow.get("descr")),
                        alias=_text(slow.get("alias")),
                        admin_up=None if admin is None else admin == 1,
                        oper_up=None if oper is None else oper == 1,
                        in_octets=r.get("in_octets") if hc else r.get("in_octets_32"),
                        out_octets=r.get("out_octets") if hc else r.get("out_octets_32"),
                        in_errors=r.get("in_errors"),
                        out_errors=r.get("out_errors"),
                        in_discards=r.get("in_discards"),
                        out_discards=r.get("out_discards"),
                        high_speed_mbps=speed,
                        counter_bits=64 if hc else 32,
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
