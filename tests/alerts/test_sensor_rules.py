"""The sensor alert rules: promtool checks them, and each alert fires, stays quiet and is
suppressed in maintenance in ``alerts/tests/sensors_test.yml``; bilingual with runbooks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from alerts.tests import sensors_generate

pytestmark = pytest.mark.integration
ALERTS = Path(__file__).resolve().parents[2] / "alerts"
SENSOR_ALERTS = {
    "OpticalRxLow",
    "OpticalRxHigh",
    "OnuLos",
    "OnuDyingGasp",
    "TemperatureHigh",
    "CpuHigh",
    "LteSignalWeak",
}


def test_sensor_rules_check_and_unit_tests_pass() -> None:
    rules = ALERTS / "rules" / "kentongan-sensors.yml"
    out = subprocess.run(
        ["/usr/bin/promtool", "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "SUCCESS: 7 rules found" in out.stdout, out.stderr
    path = ALERTS / "tests" / "sensors_test.yml"
    assert path.read_text() == sensors_generate.render(), "python -m alerts.tests.sensors_generate"
    firing, quiet = set(), set()
    for test in yaml.safe_load(path.read_text())["tests"]:
        for check in test["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == quiet == SENSOR_ALERTS
    out = subprocess.run(
        ["/usr/bin/promtool", "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_sensor_rules_are_bilingual_with_runbooks() -> None:
    data = yaml.safe_load((ALERTS / "rules" / "kentongan-sensors.yml").read_text())
    headings = {
        line[3:].strip().lower()
        for line in (ALERTS.parent / "docs" / "runbooks.md").read_text().splitlines()
        if line.startswith("## ")
    }
    for g in data["groups"]:
        for r in g["rules"]:
            assert {"summary", "summary_id", "description", "description_id", "runbook_url"} <= set(
                r["annotations"]
            )
            assert r["annotations"]["runbook_url"].split("#")[1] in headings
