"""Write ``kentongan_test.yml`` (promtool unit tests) from the cases below.

promtool compares annotations too, so the expected annotations are expanded here from the
rule file's templates (``{{ $labels.x }}`` and ``{{ $value }}`` forms only). Run after
editing a rule or a case:  ``python -m alerts.tests.generate``. The test suite checks that
the committed file is what this script writes, then runs ``promtool test rules`` on it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE.parent / "rules" / "kentongan.yml"
OUTPUT = HERE / "kentongan_test.yml"

KEMIREN = {
    "site": "kantor-desa-kemiren", "village_code": "35.10.15.2004",
    "district_code": "35.10.15", "uplink": "fo-glagah-kemiren",
    "upstream_1": "fo-core-glagah", "upstream_2": "fo-glagah-kemiren",
}


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


def _dev(device: str, role: str) -> dict[str, str]:
    return {"device": device, "role": role, **KEMIREN}


def _link(link: str, medium: str = "fibre") -> dict[str, str]:
    return {
        "link": link, "medium": medium, "link_depth": "1", "site": "pop-glagah",
        "village_code": "35.10.15.2004", "district_code": "35.10.15", "upstream_1": link,
    }


# (name, input series, [(alertname, eval_time, [(labels, value-for-templates)])])
Case = tuple[str, list[dict[str, str]], list[tuple[str, str, list[tuple[dict[str, str], str]]]]]
RTR, KIOSK, UPS = _dev("rtr-kemiren", "router"), _dev("kiosk-kemiren-1", "kiosk"), _dev(
    "ups-kemiren", "ups"
)
CASES: list[Case] = [
    ("DeviceDown fires 30s after the poller's verdict, not before, not for kiosks", [
        _series("kentongan_device_up", RTR, "1 0x10"),
        _series("kentongan_maintenance", RTR, "0x10"),
        _series("kentongan_device_up", KIOSK, "1 0x10"),
    ], [("DeviceDown", "1m", []), ("DeviceDown", "2m", [(RTR, "0")])]),
    ("DeviceDown suppressed in a maintenance window", [
        _series("kentongan_device_up", RTR, "1 0x10"),
        _series("kentongan_maintenance", RTR, "0 1x10"),
    ], [("DeviceDown", "5m", [])]),
    ("KioskOffline fires after 15m", [
        _series("kentongan_device_up", KIOSK, "1 0x30"),
        _series("kentongan_maintenance", KIOSK, "0x30"),
    ], [("KioskOffline", "10m", []), ("KioskOffline", "20m", [(KIOSK, "0")])]),
    ("KioskOffline suppressed in maintenance", [
        _series("kentongan_device_up", KIOSK, "1 0x30"),
        _series("kentongan_maintenance", KIOSK, "1x30"),
    ], [("KioskOffline", "20m", [])]),
    ("UPSOnBattery", [
        _series("kentongan_ups_on_battery", UPS, "0 1x10"),
        _series("kentongan_ups_on_battery", {**UPS, "device": "ups-olehsari"}, "0x10"),
    ], [("UPSOnBattery", "2m", []), ("UPSOnBattery", "5m", [(UPS, "1")])]),
    ("UPSOnBattery: a blip shorter than 2m never fires", [
        _series("kentongan_ups_on_battery", UPS, "0 1 0x10 1 0x10"),
    ], [("UPSOnBattery", "2m", []), ("UPSOnBattery", "13m", []), ("UPSOnBattery", "20m", [])]),
    ("UPSOnBattery: flapping power stays one alert while mains returns for under 5m", [
        _series("kentongan_ups_on_battery", UPS, "0 1 1 1 0 0 1 1 1 0 1 1 1 0 0 0 0 0 0 0 0 0 0"),
    ], [("UPSOnBattery", "3m", [(UPS, "1")]), ("UPSOnBattery", "5m", [(UPS, "0")]),
        ("UPSOnBattery", "9m", [(UPS, "0")]), ("UPSOnBattery", "13m", [(UPS, "0")]),
        ("UPSOnBattery", "20m", [])]),
    ("FibreLinkDown, not for radio links, not in maintenance", [
        _series("kentongan_link_up", _link("fo-core-glagah"), "1 0x10"),
        _series("kentongan_link_up", _link("rl-core-licin", "radio"), "1 0x10"),
        _series("kentongan_maintenance", {"device": "rtr-pop-glagah", "site": "pop-glagah"},
                "0x10"),
    ], [("FibreLinkDown", "1m", []), ("FibreLinkDown", "3m", [(_link("fo-core-glagah"), "0")])]),
    ("FibreLinkDown suppressed when the site is in maintenance", [
        _series("kentongan_link_up", _link("fo-core-glagah"), "1 0x10"),
        _series("kentongan_maintenance", {"device": "rtr-pop-glagah", "site": "pop-glagah"},
                "1x10"),
    ], [("FibreLinkDown", "3m", [])]),
    ("FibreLinkDown in probe mode: from the interfaces at the link's ends", [
        _series("kentongan_interface_oper_status", {
            "device": "olt-noc", "interface": "gpon0/1", "link": "fo-core-glagah",
            "job": "kentongan-probe", "instance": "olt-noc"}, "1 0x10"),
        _series("kentongan_interface_oper_status", {
            "device": "olt-noc", "interface": "gpon0/5", "link": "fo-core-rogojampi",
            "job": "kentongan-probe", "instance": "olt-noc"}, "1x10"),
        _series("kentongan_link_info", _link("fo-core-glagah"), "1x10"),
        _series("kentongan_link_info", _link("fo-core-rogojampi"), "1x10"),
    ], [("FibreLinkDown", "3m", [(_link("fo-core-glagah"), "0")])]),
    ("FibreLinkDown: the embedded poller's verdict wins over the interfaces", [
        _series("kentongan_interface_oper_status", {
            "device": "olt-noc", "interface": "gpon0/1", "link": "fo-core-glagah"}, "1 0x10"),
        _series("kentongan_link_info", _link("fo-core-glagah"), "1x10"),
        _series("kentongan_link_up", _link("fo-core-glagah"), "1x10"),
    ], [("FibreLinkDown", "3m", [])]),
    ("LinkFlapping", [
        _series("kentongan_link_up", _link("fo-core-glagah"), "1 0 1 0 1 0 1 1 1 1 1"),
        _series("kentongan_link_up", _link("fo-core-rogojampi"), "1x10"),
    ], [("LinkFlapping", "8m", [(_link("fo-core-glagah"), "6")])]),
    ("LinkFlapping not firing on a stable link", [
        _series("kentongan_link_up", _link("fo-core-glagah"), "1x10 0x10"),
    ], [("LinkFlapping", "15m", [])]),
    ("InterfaceErrorsHigh at 2 errors/s, not at 0.5", [
        _series("kentongan_interface_in_errors_total",
                {**RTR, "interface": "ether1"}, "0+120x30"),
        _series("kentongan_interface_out_errors_total",
                {**RTR, "interface": "ether1"}, "0x30"),
        _series("kentongan_interface_in_errors_total",
                {**RTR, "interface": "ether2"}, "0+30x30"),
        _series("kentongan_interface_out_errors_total",
                {**RTR, "interface": "ether2"}, "0x30"),
    ], [("InterfaceErrorsHigh", "5m", []),
        ("InterfaceErrorsHigh", "20m", [({**RTR, "interface": "ether1"}, "2")])]),
    ("UplinkSaturated at 95% of capacity, not at 9.5%", [
        _series("kentongan_interface_in_octets_total",
                {"device": "rtr-pop-glagah", "interface": "ether1", "link": "fo-core-glagah"},
                "0+7125000000x30"),
        _series("kentongan_interface_out_octets_total",
                {"device": "rtr-pop-glagah", "interface": "ether1", "link": "fo-core-glagah"},
                "0x30"),
        _series("kentongan_link_capacity_bps", _link("fo-core-glagah"), "1000000000x30"),
        _series("kentongan_interface_in_octets_total",
                {"device": "rtr-rogojampi", "interface": "ether1", "link": "fo-core-rogojampi"},
                "0+7125000000x30"),
        _series("kentongan_link_capacity_bps", _link("fo-core-rogojampi"), "10000000000x30"),
    ], [("UplinkSaturated", "10m", []), ("UplinkSaturated", "25m", [(
        {k: v for k, v in _link("fo-core-glagah").items()} | {"direction": "in"}, "0.95")])]),
    ("KioskAppOutdated: the one kiosk not on the fleet's version", [
        _series("kentongan_kiosk_app_info", {**KIOSK, "version": "2.4.1"}, "1x500"),
        _series("kentongan_kiosk_app_info",
                {**KIOSK, "device": "kiosk-olehsari-1", "version": "2.4.1"}, "1x500"),
        _series("kentongan_kiosk_app_info",
                {**KIOSK, "device": "kiosk-licin-1", "version": "2.3.0"}, "1x500"),
    ], [("KioskAppOutdated", "3h", []), ("KioskAppOutdated", "7h", [(
        {**KIOSK, "device": "kiosk-licin-1", "version": "2.3.0"}, "1")])]),
    ("KioskAppOutdated not firing when all kiosks agree", [
        _series("kentongan_kiosk_app_info", {**KIOSK, "version": "2.4.1"}, "1x500"),
        _series("kentongan_kiosk_app_info",
                {**KIOSK, "device": "kiosk-olehsari-1", "version": "2.4.1"}, "1x500"),
    ], [("KioskAppOutdated", "7h", [])]),
    ("KioskDiskLow at 5%, not at 30%", [
        _series("kentongan_kiosk_disk_free_bytes", KIOSK, "3200000000x60"),
        _series("kentongan_kiosk_disk_size_bytes", KIOSK, "64000000000x60"),
        _series("kentongan_kiosk_disk_free_bytes", {**KIOSK, "device": "kiosk-olehsari-1"},
                "19200000000x60"),
        _series("kentongan_kiosk_disk_size_bytes", {**KIOSK, "device": "kiosk-olehsari-1"},
                "64000000000x60"),
    ], [("KioskDiskLow", "20m", []), ("KioskDiskLow", "45m", [(KIOSK, "0.05")])]),
    ("PollerStalled when no poll completed for 5 minutes", [
        _series("kentongan_poller_last_cycle_timestamp_seconds",
                {"instance": "kentongan-1:8000", "job": "kentongan"}, "0x20"),
        _series("kentongan_poller_last_cycle_timestamp_seconds",
                {"instance": "kentongan-2:8000", "job": "kentongan"}, "0+60x20"),
    ], [("PollerStalled", "3m", []), ("PollerStalled", "10m", [(
        {"instance": "kentongan-1:8000", "job": "kentongan"}, "600")])]),
]

_TEMPLATE = re.compile(r"\{\{\s*\$(labels\.(\w+)|value)\s*(\|\s*(\w+)\s*)?\}\}")


def _humanize(value: float, fn: str | None) -> str:
    if fn == "humanizePercentage":
        return f"{value * 100:.4g}%"
    if fn == "humanize":
        return f"{value:.4g}"
    return f"{value:g}" if value != int(value) else str(int(value))


def expand(template: str, labels: dict[str, str], value: str) -> str:
    """Expand the subset of Go templates the rules use."""

    def sub(match: re.Match[str]) -> str:
        if match.group(2):
            return labels.get(match.group(2), "")
        return _humanize(float(value), match.group(4))

    return _TEMPLATE.sub(sub, template)


def build() -> dict[str, Any]:
    """The promtool test file as data."""
    rules = {
        r["alert"]: r
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for r in group["rules"]
        if "alert" in r
    }
    tests = []
    for name, series, checks in CASES:
        alert_tests = []
        for alertname, at, expected in checks:
            rule = rules[alertname]
            exp = []
            for labels, value in expected:
                full = {**labels, **rule.get("labels", {})}
                exp.append({
                    "exp_labels": full,
                    "exp_annotations": {
                        k: expand(v, full, value) for k, v in rule["annotations"].items()
                    },
                })
            alert_tests.append({"eval_time": at, "alertname": alertname, "exp_alerts": exp})
        tests.append({"name": name, "interval": "1m",
                      "input_series": series, "alert_rule_test": alert_tests})
    return {"rule_files": ["../rules/kentongan.yml"], "evaluation_interval": "1m",
            "tests": tests}


def render() -> str:
    """The file's text."""
    header = "# Generated by `python -m alerts.tests.generate`; edit the cases there.\n"
    return header + yaml.safe_dump(build(), sort_keys=False, width=100, allow_unicode=True)


if __name__ == "__main__":
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
