"""The one site/device filter (inventory/query.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from inventory.choices import SERVICE_POINT_KINDS, DeviceRole, SiteStatus
from inventory.models import Device, Site
from inventory.query import DeviceFilter, SiteFilter, has_tags
from tests.alerts.support import seed


def _sites(engine: Engine, flt: SiteFilter) -> set[str]:
    with Session(engine) as session:
        return set(session.scalars(flt.apply(select(Site.id))))


def _devices(engine: Engine, flt: DeviceFilter) -> set[str]:
    with Session(engine) as session:
        stmt = select(Device.id).join(Site, Site.id == Device.site_id)
        return set(session.scalars(flt.apply(stmt)))


def test_site_filter(any_engine: Engine) -> None:
    seed(any_engine)
    with any_engine.begin() as conn:
        conn.execute(update(Site).where(Site.id == "kantor-desa-olehsari")
                     .values(status=SiteStatus.DECOMMISSIONED))
    glagah = {"pop-glagah", "kantor-desa-kemiren", "kantor-desa-olehsari",
              "kantor-kel-banjarsari"}
    assert _sites(any_engine, SiteFilter(district="35.10.15")) == glagah
    assert _sites(any_engine, SiteFilter(village="35.10.13.2013")) == {"kantor-desa-rogojampi"}
    offices = SiteFilter(district="35.10.15", kinds=SERVICE_POINT_KINDS)
    assert _sites(any_engine, offices) == glagah - {"pop-glagah"}
    active = SiteFilter(district="35.10.15", kinds=SERVICE_POINT_KINDS, active_only=True)
    assert _sites(any_engine, active) == glagah - {"pop-glagah", "kantor-desa-olehsari"}
    assert _sites(any_engine, SiteFilter(kinds=[])) == set()
    assert len(_sites(any_engine, SiteFilter())) == 6


def test_device_filter(any_engine: Engine) -> None:
    seed(any_engine)
    with any_engine.begin() as conn:
        conn.execute(update(Device).where(Device.id == "kiosk-olehsari-1").values(enabled=False))
    kiosks = DeviceFilter.of(district="35.10.15", role=DeviceRole.KIOSK)
    assert _devices(any_engine, kiosks) == {"kiosk-kemiren-1", "kiosk-olehsari-1",
                                            "kiosk-banjarsari-1"}
    enabled = DeviceFilter.of(district="35.10.15", role="kiosk", enabled_only=True)
    assert _devices(any_engine, enabled) == {"kiosk-kemiren-1", "kiosk-banjarsari-1"}
    at_site = DeviceFilter.of(site="kantor-desa-kemiren")
    assert _devices(any_engine, at_site) == {"rtr-kemiren", "ups-kemiren", "kiosk-kemiren-1"}
    named = DeviceFilter.of(village="35.10.15.2004", devices=["rtr-kemiren", "rtr-olehsari"])
    assert _devices(any_engine, named) == {"rtr-kemiren"}
    assert _devices(any_engine, DeviceFilter.of(devices=[])) == _devices(
        any_engine, DeviceFilter()
    )


def test_has_tags() -> None:
    assert has_tags(None, ["a"]) and has_tags([], None)
    assert has_tags(["kiosk", "pilot"], ["kiosk"], ["pilot", "x"])
    assert not has_tags(["pilot"], ["kiosk"], None)
