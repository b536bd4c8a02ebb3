"""Every vendor profile on a recording of a real device, served by snmpsim: each value
Kentongan reports equals net-snmp's ``snmpbulkwalk`` of the same agent after the scaling the
vendor's MIB documents (written out here, apart from the YAML, so a wrong profile fails)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from collectors.base import Observation, SensorKind, SensorSample
from collectors.snmp import SnmpCollector
from tests.collectors.snmp.conftest import RecordedAgents

pytestmark = pytest.mark.integration

K = SensorKind
Ref = dict[str, str]
Rule = tuple[SensorKind, Callable[[Ref, str], float | None]]


def num(ref: Ref, oid: str) -> float:
    """net-snmp's value of ``oid`` as a number (strings holding numbers too)."""
    return float(ref[oid].split()[0])


def times(factor: float) -> Callable[[Ref, str], float]:
    """raw × factor."""
    return lambda ref, oid: num(ref, oid) * factor


def uw_dbm(ref: Ref, oid: str) -> float | None:
    """µW → dBm (0 µW: no light)."""
    v = num(ref, oid)
    return 10 * math.log10(v / 1000) if v > 0 else None


def sibling(oid: str, column: str) -> str:
    """The same row's ``column`` (``oid`` = table.column.index, one-integer index)."""
    table_col, _, idx = oid.rpartition(".")
    table = table_col.rpartition(".")[0]
    return f"{table}.{column}.{idx}"


def ram_used(ref: Ref, oid: str) -> float:
    """hrStorageUsed / hrStorageSize of the same row."""
    return num(ref, oid) / num(ref, sibling(oid, "5"))


def mikrotik_gauge(ref: Ref, oid: str) -> float:
    """mtxrGaugeValue in the unit of mtxrGaugeUnit: celsius(1), rpm(2), dV(3), dA(4), dW(5)."""
    unit = int(num(ref, sibling(oid, "4")))
    return num(ref, oid) * {1: 1, 2: 1, 3: 0.1, 4: 0.1, 5: 0.1}[unit]


UPS_MIB = "1.3.6.1.2.1.33.1"
XUPS = "1.3.6.1.4.1.534.1"
APC = "1.3.6.1.4.1.318.1.1.1"
MTXR = "1.3.6.1.4.1.14988.1.1"
HWE = "1.3.6.1.4.1.2011.5.25.31.1.1"
# instance OID (scalars) or column OID (tables) → (kind, expected value from net-snmp)
RULES: dict[str, Rule] = {
    f"{UPS_MIB}.2.2.0": (K.RUNTIME, times(1)),
    f"{UPS_MIB}.2.3.0": (K.RUNTIME, times(60)),
    f"{UPS_MIB}.2.4.0": (K.CHARGE, times(0.01)),
    f"{UPS_MIB}.2.5.0": (K.VOLTAGE, times(0.1)),
    f"{UPS_MIB}.2.6.0": (K.CURRENT, times(0.1)),
    f"{UPS_MIB}.2.7.0": (K.TEMPERATURE, times(1)),
    f"{UPS_MIB}.4.2.0": (K.FREQUENCY, times(0.1)),
    f"{UPS_MIB}.3.3.1.2": (K.FREQUENCY, times(0.1)),
    f"{UPS_MIB}.3.3.1.3": (K.VOLTAGE, times(1)),
    f"{UPS_MIB}.4.4.1.2": (K.VOLTAGE, times(1)),
    f"{UPS_MIB}.4.4.1.3": (K.CURRENT, times(0.1)),
    f"{UPS_MIB}.4.4.1.4": (K.POWER, times(1)),
    f"{UPS_MIB}.4.4.1.5": (K.LOAD, times(0.01)),
    f"{XUPS}.2.1.0": (K.RUNTIME, times(1)),
    f"{XUPS}.2.2.0": (K.VOLTAGE, times(1)),
    f"{XUPS}.2.4.0": (K.CHARGE, times(0.01)),
    f"{XUPS}.3.1.0": (K.FREQUENCY, times(0.1)),
    f"{XUPS}.4.1.0": (K.LOAD, times(0.01)),
    f"{XUPS}.4.2.0": (K.FREQUENCY, times(0.1)),
    f"{XUPS}.6.1.0": (K.TEMPERATURE, times(1)),
    f"{XUPS}.3.4.1.2": (K.VOLTAGE, times(1)),
    f"{XUPS}.3.4.1.3": (K.CURRENT, times(1)),
    f"{XUPS}.4.4.1.2": (K.VOLTAGE, times(1)),
    f"{XUPS}.4.4.1.3": (K.CURRENT, times(1)),
    f"{XUPS}.4.4.1.4": (K.POWER, times(1)),
    f"{APC}.2.2.1.0": (K.CHARGE, times(0.01)),
    f"{APC}.2.2.2.0": (K.TEMPERATURE, times(1)),
    f"{APC}.2.2.3.0": (K.RUNTIME, times(0.01)),  # TimeTicks
    f"{APC}.2.2.8.0": (K.VOLTAGE, times(1)),
    f"{APC}.3.2.1.0": (K.VOLTAGE, times(1)),
    f"{APC}.3.2.4.0": (K.FREQUENCY, times(1)),
    f"{APC}.4.2.1.0": (K.VOLTAGE, times(1)),
    f"{APC}.4.2.2.0": (K.FREQUENCY, times(1)),
    f"{APC}.4.2.3.0": (K.LOAD, times(0.01)),
    f"{APC}.4.2.4.0": (K.CURRENT, times(1)),
    f"{APC}.2.3.1.0": (K.CHARGE, times(0.001)),
    f"{APC}.2.3.2.0": (K.TEMPERATURE, times(0.1)),
    f"{APC}.2.3.4.0": (K.VOLTAGE, times(0.1)),
    f"{APC}.3.3.1.0": (K.VOLTAGE, times(0.1)),
    f"{APC}.3.3.4.0": (K.FREQUENCY, times(0.1)),
    f"{APC}.4.3.1.0": (K.VOLTAGE, times(0.1)),
    f"{APC}.4.3.2.0": (K.FREQUENCY, times(0.1)),
    f"{APC}.4.3.3.0": (K.LOAD, times(0.001)),
    f"{APC}.4.3.4.0": (K.CURRENT, times(0.1)),
    f"{MTXR}.3.8.0": (K.VOLTAGE, times(0.1)),
    f"{MTXR}.3.10.0": (K.TEMPERATURE, times(0.1)),
    f"{MTXR}.3.11.0": (K.TEMPERATURE, times(0.1)),
    f"{MTXR}.3.17.0": (K.FAN, times(1)),
    f"{MTXR}.3.18.0": (K.FAN, times(1)),
    f"{MTXR}.1.2.1.3": (K.SIGNAL, times(1)),
    f"{MTXR}.1.2.1.8": (K.RATE, times(1)),
    f"{MTXR}.1.2.1.9": (K.RATE, times(1)),
    f"{MTXR}.1.2.1.12": (K.QUALITY, times(1)),
    f"{MTXR}.16.1.1.2": (K.SIGNAL, times(1)),
    f"{MTXR}.16.1.1.3": (K.QUALITY, times(1)),
    f"{MTXR}.16.1.1.4": (K.SIGNAL, times(1)),
    f"{MTXR}.16.1.1.7": (K.QUALITY, times(1)),
    "1.3.6.1.2.1.25.3.3.1.2": (K.CPU, times(0.01)),
    "1.3.6.1.2.1.25.2.3.1.6": (K.MEMORY, ram_used),
    f"{HWE}.1.1.5": (K.CPU, times(0.01)),
    f"{HWE}.1.1.7": (K.MEMORY, times(0.01)),
    f"{HWE}.1.1.11": (K.TEMPERATURE, times(1)),
    f"{HWE}.3.1.8": (K.OPTICAL_RX, uw_dbm),
    f"{HWE}.3.1.9": (K.OPTICAL_TX, uw_dbm),
    f"{HWE}.3.1.5": (K.TEMPERATURE, times(1)),
    f"{HWE}.3.1.6": (K.VOLTAGE, times(0.001)),
    f"{HWE}.3.1.7": (K.CURRENT, times(0.000001)),
}
GAUGES = f"{MTXR}.3.100.1.3"
# values the MIBs define as "nothing here" (no module, no sensor): no sample expected
ABSENT = {f"{HWE}.1.1.5": {"0"}, f"{HWE}.1.1.7": {"0"}, f"{HWE}.1.1.11": {"0"},
          f"{HWE}.3.1.8": {"-1"}, f"{HWE}.3.1.9": {"-1"}, f"{HWE}.3.1.5": {"-255", "-1"},
          f"{HWE}.3.1.6": {"-1"}, f"{HWE}.3.1.7": {"-1"}, f"{MTXR}.16.1.1.2": {"0"}}
STATES = {  # state sensors: instance OID → code → word
    f"{UPS_MIB}.2.1.0": {1: "unknown", 2: "normal", 3: "low", 4: "depleted"},
    f"{UPS_MIB}.4.1.0": {3: "normal", 4: "bypass", 5: "battery"},
    f"{XUPS}.2.5.0": {1: "charging", 2: "discharging", 3: "floating", 4: "resting"},
    f"{APC}.2.1.1.0": {2: "normal", 3: "low"},
    f"{APC}.4.1.1.0": {2: "online", 3: "on_battery"},
}

CASES = [  # recording, role, profile, subtrees net-snmp walks for the reference
    ("eatonups", "ups", "eaton-xups", [XUPS, UPS_MIB]),
    ("deltaups_rfc1628string", "ups", "ups-mib", [UPS_MIB]),
    ("apc_smart1500", "ups", "apc-powernet", [APC]),
    ("routeros", "router", "mikrotik-routeros", [MTXR, "1.3.6.1.2.1.25"]),
    ("routeros_ltap-mini", "router", "mikrotik-routeros", [MTXR]),
    ("routeros_wifi", "access_point", "mikrotik-routeros", [MTXR, "1.3.6.1.2.1.25"]),
    ("vrp_5720", "switch", "huawei-vrp", [HWE, "1.3.6.1.2.1.99"]),
    ("linux", "server", "net-snmp-linux", ["1.3.6.1.2.1.25", "1.3.6.1.4.1.2021"]),
]


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def rule_for(sample: SensorSample) -> tuple[str, Rule | None]:
    """The rule of a sample: by its instance OID (scalars), else by its column."""
    if sample.oid in RULES:
        return sample.oid, RULES[sample.oid]
    for col, rule in RULES.items():
        if sample.oid.startswith(col + "."):
            return col, rule
    return "", None


async def poll(recorded: RecordedAgents, name: str, role: str) -> Observation:
    """One poll of a recording with the shipped profiles."""
    collector = SnmpCollector()
    try:
        return await collector.collect(recorded.target(name, role, timeout=5.0))
    finally:
        await collector.aclose()


@pytest.mark.parametrize(("name", "role", "profile", "trees"), CASES)
async def test_profile_values_match_net_snmp(
    recorded: RecordedAgents, name: str, role: str, profile: str, trees: list[str]
) -> None:
    ref: Ref = {}
    for tree in trees:
        ref.update({o: v for o, (_, v) in recorded.bulkwalk(name, tree).items()})
    obs = await poll(recorded, name, role)
    assert obs.ok, obs.reason
    assert obs.profile == profile
    assert "profile_error" not in obs.extra
    assert obs.sensors, "the recording has values the profile reads"
    seen: set[str] = set()
    for s in obs.sensors:
        assert s.oid in ref, f"{s.oid} reported but not in the agent's walk"
        seen.add(s.oid)
        if s.kind is K.STATE:
            assert s.value == num(ref, s.oid)
            words = STATES.get(s.oid, {})
            if int(num(ref, s.oid)) in words:
                assert s.state == words[int(num(ref, s.oid))]
            continue
        if s.oid.startswith(GAUGES + "."):
            assert s.value == pytest.approx(mikrotik_gauge(ref, s.oid)), s
            continue
        key, rule = rule_for(s)
        assert rule is not None, f"no MIB rule for {s.oid} ({s.kind}, {s.name})"
        kind, expected = rule
        assert s.kind is kind, s
        want = expected(ref, s.oid)
        if want is None:
            assert s.value is None, s
        else:
            assert s.value == pytest.approx(want, rel=1e-9, abs=1e-9), (s, ref[s.oid])
    # nothing the profile reads is missed: every instance of a ruled OID in the walk
    for oid, value in ref.items():
        key = next((c for c in RULES if oid == c or oid.startswith(c + ".")), None)
        first = (value.split() or [""])[0]
        if key is None or first in ABSENT.get(key, set()) or not _numeric(first):
            continue
        if key == "1.3.6.1.2.1.25.2.3.1.6" and ref.get(sibling(oid, "2")) != (
            ".1.3.6.1.2.1.25.2.1.2"
        ):
            continue  # only RAM rows of hrStorage
        assert oid in seen, f"{oid} = {value} not reported"


async def test_huawei_optics_in_dbm_with_gpon_defaults_overridden(
    recorded: RecordedAgents,
) -> None:
    obs = await poll(recorded, "vrp_5720", "switch")
    rx = [s for s in obs.sensors if s.kind is K.OPTICAL_RX and s.value is not None]
    assert len(rx) == 3
    assert all(-10 < (s.value or 0) < 0 for s in rx)  # 536-604 µW = -2.7 … -2.2 dBm
    assert all(s.low == -20 and s.high == 1 for s in rx)
    assert all(s.name.startswith(("GigabitEthernet", "XGigabitEthernet", "10GE")) or s.name
               for s in rx)


async def test_lte_signal_rsrp_rsrq_sinr(recorded: RecordedAgents) -> None:
    obs = await poll(recorded, "routeros_ltap-mini", "router")
    by_name = {s.name: s.value for s in obs.sensors}
    assert by_name == {"lte3 rsrq": -10.0, "lte3 rsrp": -105.0, "lte3 sinr": 11.0}
