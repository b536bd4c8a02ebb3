"""Sensor families on /probe: names in base units, states, no-signal and thresholds."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collectors.base import InterfaceSample, Observation, SensorKind, SensorSample, UpsSample
from collectors.probe import ObservationCollector
from core.timeutil import utcnow


def scrape(obs: Observation) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Render the probe's families and read them back with the Prometheus parser."""
    reg = CollectorRegistry()
    reg.register(ObservationCollector(obs))
    text = generate_latest(reg).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_sensor_ups_speed_and_system_families() -> None:
    obs = Observation("olt-glagah", "snmp", True, utcnow(), 0.1, sys_name="olt",
                      sys_descr="ZXA10", sys_object_id="1.3.6.1.4.1.3902", profile="x",
                      interfaces=[InterfaceSample(1, name="gpon-olt_1/1/1", high_speed_mbps=2500)],
                      ups=UpsSample(minutes_remaining=12.5))
    obs.sensors = [
        SensorSample(SensorKind.OPTICAL_RX, "onu 1", -21.5, "p", "onu", "1.1", low=-27, high=-8),
        SensorSample(SensorKind.OPTICAL_RX, "onu 2", None, "p", "onu", "1.2", low=-27, high=-8),
        SensorSample(SensorKind.TEMPERATURE, "board", 41.0, "p", "scalars", ""),
        SensorSample(SensorKind.STATE, "onu 2", 2, "p", "onu_state", "1.2", state="los"),
    ]
    got = scrape(obs)
    where = {("sensor", "onu 1"), ("table", "onu"), ("index", "1.1")}
    assert got[("kentongan_sensor_optical_rx_dbm", frozenset(where))] == -21.5
    assert got[("kentongan_sensor_low_threshold",
                frozenset(where | {("kind", "optical_rx")}))] == -27
    assert got[("kentongan_sensor_high_threshold",
                frozenset(where | {("kind", "optical_rx")}))] == -8
    assert got[("kentongan_sensor_no_signal", frozenset(
        {("kind", "optical_rx"), ("sensor", "onu 2"), ("table", "onu"), ("index", "1.2")}))] == 1
    assert got[("kentongan_sensor_temperature_celsius", frozenset(
        {("sensor", "board"), ("table", "scalars"), ("index", "")}))] == 41
    assert got[("kentongan_sensor_state", frozenset(
        {("sensor", "onu 2"), ("table", "onu_state"), ("index", "1.2"), ("state", "los")}))] == 1
    assert got[("kentongan_interface_speed_bps",
                frozenset({("interface", "gpon-olt_1/1/1")}))] == 2.5e9
    assert got[("kentongan_ups_battery_runtime_seconds", frozenset())] == 750
    info = [k for k in got if k[0] == "kentongan_device_system_info"]
    assert info and ("sys_object_id", "1.3.6.1.4.1.3902") in info[0][1]
