"""The fibre tree walk and maintenance window evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from inventory.importer import import_paths
from inventory.maintenance import (
    covered_seconds,
    in_maintenance,
    maintenance_intervals,
    parse_weekdays,
)
from inventory.topology import Node, Topology
from tests.inventory.conftest import REGIONS, SAMPLE


@pytest.fixture
def topo(engine: Engine) -> Topology:
    with Session(engine) as session:
        import_paths(session, [REGIONS, SAMPLE])
        return Topology.load(session)


def test_village_kiosk_depends_on_router_ont_drop_pop_and_backbone(topo: Topology) -> None:
    chain = topo.upstream(Node("device", "kiosk-kemiren-1"))
    assert chain[:2] == [Node("device", "rtr-kemiren"), Node("device", "ont-kemiren")]
    links = [n.id for n in chain if n.kind == "link"]
    assert links == ["fo-glagah-kemiren", "fo-noc-glagah"]
    assert chain[-1] == Node("device", "core-noc")
    assert topo.upstream_links("kantor-desa-kemiren") == ["fo-glagah-kemiren", "fo-noc-glagah"]


def test_sites_behind_a_backbone_link(topo: Topology) -> None:
    behind = topo.sites_behind("fo-noc-glagah")
    assert "kantor-desa-kemiren" in behind
    assert "pop-glagah" in behind
    assert "kantor-desa-sarongan" not in behind  # Pesanggaran hangs off another link
    assert topo.sites_behind("fo-glagah-kemiren") == {"kantor-desa-kemiren"}


@dataclass
class W:
    scope: str
    target: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    weekdays: str | None = None
    start_time: str | None = None
    duration_minutes: int | None = None


def test_one_off_window() -> None:
    w = W(
        "device",
        "rtr-a",
        datetime(2026, 11, 1, 1, tzinfo=UTC),
        datetime(2026, 11, 1, 3, tzinfo=UTC),
    )
    assert in_maintenance([w], datetime(2026, 11, 1, 2, tzinfo=UTC), device_id="rtr-a")
    assert not in_maintenance([w], datetime(2026, 11, 1, 3, tzinfo=UTC), device_id="rtr-a")
    assert not in_maintenance([w], datetime(2026, 11, 1, 2, tzinfo=UTC), device_id="rtr-b")


def test_recurring_window_is_in_wib_and_crosses_midnight() -> None:
    # Sundays 23:00-01:00 WIB = Sunday 16:00-18:00 UTC
    w = W("district", "35.10.15", weekdays="sun", start_time="23:00", duration_minutes=120)
    sunday_wib_2330 = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)  # Sunday
    assert in_maintenance([w], sunday_wib_2330, district_code="35.10.15")
    assert in_maintenance([w], sunday_wib_2330 + timedelta(hours=1), district_code="35.10.15")
    assert not in_maintenance([w], sunday_wib_2330 + timedelta(hours=2), district_code="35.10.15")
    month = maintenance_intervals(
        [w],
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
        district_code="35.10.15",
    )
    assert len(month) == 5  # five Sundays in November 2026
    assert covered_seconds(month) == 5 * 7200


def test_overlapping_windows_merge() -> None:
    a = W("site", "s", datetime(2026, 1, 1, 0, tzinfo=UTC), datetime(2026, 1, 1, 2, tzinfo=UTC))
    b = W("site", "s", datetime(2026, 1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 3, tzinfo=UTC))
    got = maintenance_intervals(
        [a, b], datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), site_id="s"
    )
    assert covered_seconds(got) == 3 * 3600


def test_bad_weekday_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown weekday 'funday'"):
        parse_weekdays("mon,funday")
