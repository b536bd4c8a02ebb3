"""``/probe?target=DEVICE&module=MODULE``: the multi-target exporter pattern of snmp_exporter.

Prometheus drives the polling: each scrape of ``/probe`` polls one device once through a
collector of ``collectors`` and answers with a fresh registry holding only that poll's
results. The device's identity labels (site, village, district, upstream path) come from
http_sd target labels, so the probe's own series carry only per-series labels
(``interface``, ``version``), like snmp_exporter's.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, InfoMetricFamily, Metric
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from collectors.base import (
    SENSOR_UNITS,
    Collector,
    InterfaceSample,
    Observation,
    SensorKind,
    SensorSample,
    Target,
)
from collectors.factory import make_collector
from collectors.targets import AddressNotAllowed, CredentialError, load_entries
from core.errors import KentonganError
from inventory.models import Link

logger = logging.getLogger(__name__)

MODULES = ("snmp", "ssh")
PARAMS = ("target", "module")

CollectorFactory = Callable[[str], Collector]


class ProbeError(KentonganError):
    """A probe request that cannot be served; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, *, status: int = 400, target: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.target = target


def validate_params(items: list[tuple[str, str]]) -> tuple[str, str]:
    """Strict query validation: exactly one non-empty ``target`` and ``module``, nothing else.

    Raises:
        ProbeError: (400) on a missing, empty, repeated or unknown parameter, or an unknown
            module.
    """
    seen: dict[str, str] = {}
    for key, value in items:
        if key not in PARAMS:
            raise ProbeError(f"unknown parameter {key!r}: only 'target' and 'module' are allowed")
        if key in seen:
            raise ProbeError(f"parameter {key!r} given more than once")
        seen[key] = value
    for key in PARAMS:
        if not seen.get(key):
            raise ProbeError(f"parameter {key!r} is missing or empty")
    if seen["module"] not in MODULES:
        raise ProbeError(
            f"unknown module {seen['module']!r}: use one of {', '.join(MODULES)}",
            target=seen["target"],
        )
    return seen["target"], seen["module"]


def build_target(
    session: Session, device_id: str, module: str, *, timeout: float = 2.0, retries: int = 1
) -> Target:
    """The collector ``Target`` of one inventory device, credentials resolved through
    :mod:`collectors.targets` (the poller's own path: same references, same secrets).

    Raises:
        ProbeError: 404 for an unknown device, 400 when the device has no profile for
            ``module``, 403 when the device's address is outside the profile's
            ``allowed_networks``, 503 when a referenced secret cannot be read. The message
            never names a file, path or environment variable (the log does).
    """
    entries = load_entries(session, timeout=timeout, retries=retries, device_ids=[device_id])
    if not entries:
        raise ProbeError(f"unknown device {device_id!r}", status=404, target=device_id)
    entry = entries[0]
    if (module == "snmp" and entry.snmp is None) or (module == "ssh" and entry.ssh is None):
        raise ProbeError(f"device {device_id!r} has no {module.upper()} profile",
                         target=device_id)
    try:
        return dataclasses.replace(entry, protocol=module).resolve()
    except AddressNotAllowed as exc:
        logger.warning("probe %s refused: %s", device_id, exc)
        raise ProbeError(
            f"device {device_id!r}: refused, its address is outside the allowed_networks of "
            f"its {module.upper()} profile", status=403, target=device_id) from None
    except CredentialError as exc:
        logger.error("probe %s: credential unavailable: %s", device_id, exc)
        raise ProbeError(
            f"device {device_id!r}: credential unavailable (the server log says why)",
            status=503, target=device_id) from None


def default_collector(module: str, settings: Any = None) -> Collector:
    """A new collector of ``module``'s protocol, built as the scheduler builds it
    (:func:`collectors.factory.make_collector`) from ``settings`` (the process settings
    when None)."""
    if settings is None:
        from core.settings import get_settings

        settings = get_settings()
    return make_collector(module, settings, snmp_concurrency=1)


class ObservationCollector:
    """A one-shot collector exposing one :class:`Observation` (registered per request)."""

    def __init__(self, obs: Observation, *, links: Mapping[str, str] | None = None) -> None:
        self._obs = obs
        self._links = dict(links or {})

    def collect(self) -> Iterator[Metric]:
        """The probe's families."""
        obs = self._obs
        yield _gauge("kentongan_probe_success", "1 when the device answered the probe.",
                     1 if obs.ok else 0)
        yield _gauge("kentongan_probe_duration_seconds", "How long the probe's poll took.",
                     obs.duration_seconds)
        yield _gauge("kentongan_device_up", "1 when the device answers its polls.",
                     1 if obs.ok else 0)
        if not obs.ok:
            return
        if obs.sys_uptime_ticks is not None:
            yield _gauge("kentongan_device_uptime_seconds", "Device uptime (sysUpTime).",
                         obs.sys_uptime_ticks / 100.0)
        if obs.interfaces:
            yield from _interface_families(obs, self._links)
        if obs.ups is not None:
            ups = obs.ups
            if ups.on_battery is not None:
                yield _gauge("kentongan_ups_on_battery", "1 when the UPS runs on battery.",
                             1 if ups.on_battery else 0)
            if ups.charge_percent is not None:
                yield _gauge("kentongan_ups_battery_charge_ratio", "UPS battery charge (0-1).",
                             ups.charge_percent / 100.0)
            if ups.minutes_remaining is not None:
                yield _gauge("kentongan_ups_battery_runtime_seconds",
                             "Estimated battery runtime left.", ups.minutes_remaining * 60.0)
        yield from system_families(obs)
        yield from sensor_families(obs.sensors)
        if obs.kiosk is not None:
            kiosk = obs.kiosk
            if kiosk.app_version is not None:
                info = InfoMetricFamily("kentongan_kiosk_app", "The kiosk application's version.",
                                        labels=["version"])
                info.add_metric([kiosk.app_version], {})
                yield info
            if kiosk.disk_free_bytes is not None:
                yield _gauge("kentongan_kiosk_disk_free_bytes", "Free bytes on the data disk.",
                             kiosk.disk_free_bytes)


def system_families(obs: Observation) -> Iterator[Metric]:
    """``kentongan_device_system_info``: what the agent says it is, and the profile read."""
    if obs.sys_descr is None and obs.sys_object_id is None and obs.sys_name is None:
        return
    info = InfoMetricFamily(
        "kentongan_device_system", "The agent's sysName, sysDescr, sysObjectID and profile.",
        labels=["sys_name", "sys_descr", "sys_object_id", "profile"],
    )
    info.add_metric([obs.sys_name or "", (obs.sys_descr or "")[:200], obs.sys_object_id or "",
                     obs.profile or ""], {})
    yield info


def sensor_families(sensors: Sequence[SensorSample]) -> Iterator[Metric]:
    """One family per sensor kind (``kentongan_sensor_<kind>_<unit>``, base units), state
    sensors as ``kentongan_sensor_state{state=…} 1``, and the thresholds as
    ``kentongan_sensor_low_threshold`` / ``kentongan_sensor_high_threshold``
    (``kind`` label) for the alert rules. Labels: ``sensor``, ``table``, ``index``. A sensor
    with no signal (value ``None``) is exported as ``kentongan_sensor_no_signal 1``."""
    by_kind: dict[SensorKind, GaugeMetricFamily] = {}
    state = GaugeMetricFamily("kentongan_sensor_state", "State sensors (1 for the current state).",
                              labels=["sensor", "table", "index", "state"])
    no_signal = GaugeMetricFamily("kentongan_sensor_no_signal",
                                  "1 when a sensor reports no signal (no light, no carrier).",
                                  labels=["kind", "sensor", "table", "index"])
    low = GaugeMetricFamily("kentongan_sensor_low_threshold", "Low threshold of a sensor.",
                            labels=["kind", "sensor", "table", "index"])
    high = GaugeMetricFamily("kentongan_sensor_high_threshold", "High threshold of a sensor.",
                             labels=["kind", "sensor", "table", "index"])
    seen: set[tuple[str, str, str, str]] = set()
    for s in sensors:
        key = (s.kind.value, s.name, s.table, s.index)
        if key in seen:  # two readings naming the same series: keep the first
            continue
        seen.add(key)
        where = [s.name, s.table, s.index]
        if s.kind is SensorKind.STATE:
            state.add_metric([*where, s.state or "unknown"], 1)
            continue
        if s.value is None:
            no_signal.add_metric([s.kind.value, *where], 1)
        else:
            fam = by_kind.get(s.kind)
            if fam is None:
                name = f"kentongan_sensor_{s.kind.value}_{SENSOR_UNITS[s.kind]}"
                fam = by_kind[s.kind] = GaugeMetricFamily(
                    name, f"{s.kind.value} sensors, in {SENSOR_UNITS[s.kind]}.",
                    labels=["sensor", "table", "index"])
            fam.add_metric(where, s.value)
        if s.low is not None:
            low.add_metric([s.kind.value, *where], s.low)
        if s.high is not None:
            high.add_metric([s.kind.value, *where], s.high)
    yield from by_kind.values()
    for fam in (state, no_signal, low, high):
        if fam.samples:
            yield fam


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _interface_families(obs: Observation, links: Mapping[str, str]) -> Iterator[Metric]:
    """Interface series; an interface that ends an inventory link also carries ``link``
    (the rules derive link state from it in probe mode)."""
    from prometheus_client.metrics_core import CounterMetricFamily

    def labels(i: InterfaceSample) -> dict[str, str]:
        name = i.name or f"if{i.index}"
        link = links.get(name)
        return {"interface": name, "link": link} if link else {"interface": name}

    specs: Mapping[str, tuple[str, str]] = {
        "oper_up": ("kentongan_interface_oper_status", "1 when operationally up."),
        "admin_up": ("kentongan_interface_admin_status", "1 when enabled."),
    }
    for attr, (name, doc) in specs.items():
        fam = GaugeMetricFamily(name, doc)
        for i in obs.interfaces:
            value = getattr(i, attr)
            if value is not None:
                fam.add_sample(name, labels(i), 1 if value else 0)
        yield fam
    speed = GaugeMetricFamily("kentongan_interface_speed_bps", "Interface speed (bits/s).")
    for i in obs.interfaces:
        if i.high_speed_mbps is not None:
            speed.add_sample("kentongan_interface_speed_bps", labels(i), i.high_speed_mbps * 1e6)
    yield speed
    for attr in ("in_octets", "out_octets", "in_errors", "out_errors", "in_discards",
                 "out_discards"):
        cfam = CounterMetricFamily(f"kentongan_interface_{attr}", f"Raw {attr} counter.")
        for i in obs.interfaces:
            value = getattr(i, attr)
            if value is not None:
                cfam.add_sample(f"kentongan_interface_{attr}_total", labels(i), value)
        yield cfam


def device_links(session: Session, device_id: str) -> dict[str, str]:
    """``{interface name: link id}`` for the inventory links that end on ``device_id``."""
    out: dict[str, str] = {}
    for link in session.scalars(
        select(Link).where(or_(Link.a_device == device_id, Link.z_device == device_id))
    ):
        if link.a_device == device_id:
            out[link.a_interface] = link.id
        if link.z_device == device_id:
            out[link.z_interface] = link.id
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedProbe:
    """What a probe needs from the database, read before any device is contacted."""

    device_id: str
    module: str
    target: Target
    links: dict[str, str]


def prepare(
    session: Session, params: list[tuple[str, str]], *, timeout: float = 2.0, retries: int = 1
) -> PreparedProbe:
    """The database half of a probe (blocking: run it in a worker thread): validate the
    query, build the target, read the device's links.

    Raises:
        ProbeError: see :func:`validate_params` and :func:`build_target`.
    """
    device_id, module = validate_params(params)
    target = build_target(session, device_id, module, timeout=timeout, retries=retries)
    return PreparedProbe(device_id=device_id, module=module, target=target,
                         links=device_links(session, device_id))


async def run_prepared(
    prepared: PreparedProbe, *, factory: CollectorFactory = default_collector
) -> bytes:
    """The device half of a probe (no database): poll once, render a fresh registry."""
    collector = factory(prepared.module)
    try:
        obs = await collector.collect(prepared.target)
    finally:
        await collector.aclose()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ObservationCollector(obs, links=prepared.links))
    logger.debug("probe %s module=%s ok=%s", prepared.device_id, prepared.module, obs.ok)
    return generate_latest(registry)


async def probe(
    session: Session,
    params: list[tuple[str, str]],
    *,
    factory: CollectorFactory | None = None,
    settings: Any = None,
    timeout: float = 2.0,
    retries: int = 1,
) -> bytes:
    """Validate, poll the device once, render a fresh registry (the database part runs on
    the calling thread: the API uses :func:`prepare` in a worker thread instead). The
    collector comes from ``factory`` or else is built from ``settings`` as the scheduler
    builds its own.

    Raises:
        ProbeError: see :func:`validate_params` and :func:`build_target`.
    """
    prepared = prepare(session, params, timeout=timeout, retries=retries)
    if factory is None:
        return await run_prepared(
            prepared, factory=lambda module: default_collector(module, settings))
    return await run_prepared(prepared, factory=factory)
