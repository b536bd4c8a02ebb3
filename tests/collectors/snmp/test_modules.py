"""Modules as data, role selection, and configuration errors (which do raise)."""

from __future__ import annotations

import pytest

from collectors.base import Collector, CollectorError, Secret, SnmpCredentials, Target
from collectors.snmp import SnmpCollector, modules_for, plan_summary


def test_roles_select_modules() -> None:
    assert [m.name for m in modules_for("router")] == ["system", "if_mib"]
    assert [m.name for m in modules_for("ont")] == ["system", "if_mib"]
    assert [m.name for m in modules_for("ups")] == ["system", "if_mib", "ups"]
    assert [m.name for m in modules_for("kiosk")] == ["system", "kiosk"]
    assert [m.name for m in modules_for("server")] == ["system", "if_mib"]


def test_plan_keeps_slow_columns_apart() -> None:
    plan = plan_summary("router")
    assert plan["slow_columns"] == ("name", "alias", "descr")
    assert "name" not in plan["columns"] and len(plan["columns"]) == 12
    assert plan_summary("kiosk")["row_columns"] == ("storage_units", "storage_size",
                                                    "storage_used")


def test_is_a_collector() -> None:
    assert isinstance(SnmpCollector(), Collector)
    assert SnmpCollector.protocol == "snmp"


@pytest.mark.parametrize("creds", [
    None,
    SnmpCredentials(version="1", community=Secret("public")),
    SnmpCredentials(version="2c"),
    SnmpCredentials(version="3", user="u", auth="md5", auth_key=Secret("k" * 8)),
])
async def test_configuration_errors_raise(creds: SnmpCredentials | None) -> None:
    collector = SnmpCollector()
    try:
        with pytest.raises(CollectorError):
            await collector.collect(Target("d", "router", "127.0.0.1", snmp_port=1161,
                                           snmp=creds))
    finally:
        await collector.aclose()
