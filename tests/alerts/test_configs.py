"""promtool and amtool over the shipped and generated configuration."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from alerts.config import (
    alertmanager_config,
    example_alertmanager,
    inventory_districts,
    inventory_max_depth,
    prometheus_config,
)
from alerts.tests import generate

pytestmark = pytest.mark.integration
ALERTS = Path(__file__).resolve().parents[2] / "alerts"
EXPECTED_ALERTS = {
    "DeviceDown", "FibreLinkDown", "LinkFlapping", "InterfaceErrorsHigh", "UplinkSaturated",
    "KioskOffline", "KioskAppOutdated", "KioskDiskLow", "UPSOnBattery", "PollerStalled",
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_promtool_check_rules() -> None:
    out = run("/usr/bin/promtool", "check", "rules", str(ALERTS / "rules" / "kentongan.yml"))
    assert "SUCCESS: 12 rules found" in out.stdout  # 10 alerts + 2 recording rules


def test_every_rule_is_bilingual_with_runbook() -> None:
    data = yaml.safe_load((ALERTS / "rules" / "kentongan.yml").read_text())
    rules = {r["alert"]: r for g in data["groups"] for r in g["rules"] if "alert" in r}
    assert set(rules) == EXPECTED_ALERTS
    headings = {
        line[3:].strip().lower()
        for line in (ALERTS.parent / "docs" / "runbooks.md").read_text().splitlines()
        if line.startswith("## ")
    }
    for name, rule in rules.items():
        assert rule["for"] and rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert {"summary", "summary_id", "description", "description_id", "runbook_url"} <= set(
            rule["annotations"]), name
        anchor = rule["annotations"]["runbook_url"].split("#")[1]
        assert anchor in headings, anchor


def test_promtool_unit_tests_cover_every_alert_and_pass() -> None:
    path = ALERTS / "tests" / "kentongan_test.yml"
    assert path.read_text() == generate.render(), "run python -m alerts.tests.generate"
    data = yaml.safe_load(path.read_text())
    firing, quiet = set(), set()
    for test in data["tests"]:
        for check in test["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == EXPECTED_ALERTS and quiet == EXPECTED_ALERTS
    out = run("/usr/bin/promtool", "test", "rules", str(path))
    assert "SUCCESS" in out.stdout


def test_amtool_check_config_example_and_generated(seeded: Engine, tmp_path: Path) -> None:
    example = ALERTS / "alertmanager.example.yml"
    assert example.read_text() == example_alertmanager()
    run("/usr/bin/amtool", "check-config", str(example))
    with Session(seeded) as session:
        districts = inventory_districts(session)
        depth = inventory_max_depth(session)
    assert depth == 2 and {d.code for d in districts} >= {"35.10.15", "35.10.13"}
    generated = tmp_path / "am.yml"
    generated.write_text(yaml.safe_dump(alertmanager_config(districts, max_depth=depth)))
    out = run("/usr/bin/amtool", "check-config", str(generated))
    assert "4 inhibit rules" in out.stdout


@pytest.mark.parametrize("mode", ["embedded", "probe"])
def test_promtool_check_config_both_modes(mode: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text((ALERTS / "rules" / "kentongan.yml").read_text())
    config = prometheus_config(mode=mode, rule_files=[str(rules)], shards=4, shard=2)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    run("/usr/bin/promtool", "check", "config", str(path))


@pytest.mark.parametrize(("labels", "receivers"), [
    ({"severity": "critical", "district_code": "35.10.15"},
     "kentongan,noc-oncall,kecamatan-35.10.15"),
    ({"severity": "critical", "district_code": "35.10.99"}, "kentongan,noc-oncall"),
    ({"severity": "warning", "district_code": "35.10.13"}, "kentongan,kecamatan-35.10.13"),
    ({"severity": "info", "district_code": "35.10.99"}, "kentongan,noc-daytime"),
])
def test_alertmanager_routes_by_district_and_severity(labels: dict[str, str],
                                                      receivers: str) -> None:
    out = run("/usr/bin/amtool", "config", "routes", "test",
              f"--config.file={ALERTS / 'alertmanager.example.yml'}",
              *(f"{k}={v}" for k, v in labels.items()))
    assert out.stdout.strip() == receivers
