"""Real peers for the alerts tests: re-exported from :mod:`tests.support.peers` (the one
place that starts and stops them), plus the alert rules shortened for tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.peers import (
    alertmanager,
    backfilled_prometheus,
    process,
    prometheus,
    query,
    serve_app,
    snmpd,
    wait_for,
)

__all__ = [
    "alertmanager",
    "backfilled_prometheus",
    "fast_rules",
    "process",
    "prometheus",
    "query",
    "serve_app",
    "snmpd",
    "wait_for",
]


def fast_rules(source: Path, target: Path) -> None:
    """The rule file with ``for:`` shortened for tests: FibreLinkDown 1s, others 6s (the
    link alert must reach Alertmanager first, as with the real 1m vs 3m)."""
    data = yaml.safe_load(source.read_text())
    for group in data["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "1s" if rule["alert"] == "FibreLinkDown" else "6s"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
