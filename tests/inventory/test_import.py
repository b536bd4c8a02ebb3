"""Inventory import: the Banyuwangi sample, idempotence, dry run, prune, both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from inventory.errors import ImportRejected
from inventory.importer import count_rows, import_paths
from inventory.models import Device, Link, Region, Site, SiteFacility
from tests.inventory.conftest import EXAMPLES, REGIONS, SAMPLE


def _import(engine: Engine, *paths: Path, **kw: object):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return import_paths(session, list(paths), **kw)  # type: ignore[arg-type]


def test_banyuwangi_sample_imports_and_reimport_changes_nothing(any_engine: Engine) -> None:
    report = _import(any_engine, REGIONS, SAMPLE)
    assert report.changed
    created = {k: c.created for k, c in report.counts.items()}
    assert created["regions"] == 244  # 25 kecamatan + 217 desa/kelurahan + province + regency
    with Session(any_engine) as session:
        kec = session.scalar(
            select(func.count()).select_from(Region).where(Region.level == "kecamatan")
        )
        villages = session.scalar(
            select(func.count())
            .select_from(Site)
            .where(Site.kind.in_(("village_office", "kelurahan_office")))
        )
        kemiren = session.get(Region, "35.10.15.2004")
        assert kec == 25
        assert villages == 217
        assert kemiren is not None and kemiren.name == "Kemiren"
        assert kemiren.parent_code == "35.10.15"
        health = session.scalar(
            select(func.count()).select_from(Site).where(Site.kind == "health_site")
        )
        assert health == 47
        kiosks = session.scalar(
            select(func.count()).select_from(Device).where(Device.role == "kiosk")
        )
        assert kiosks == 217
        fibre = session.scalar(select(func.count()).select_from(Link).where(Link.medium == "fibre"))
        assert fibre is not None and fibre >= 175
    again = _import(any_engine, REGIONS, SAMPLE)
    assert not again.changed
    assert all(c.created == c.updated == c.deleted == 0 for c in again.counts.values())
    assert again.counts["devices"].unchanged == created["devices"]


def test_directory_import_reads_every_inventory_file(engine: Engine) -> None:
    report = _import(engine, EXAMPLES / "banyuwangi")
    assert report.counts["regions"].created == 244
    assert report.counts["sites"].created > 300


def test_update_is_detected_and_applied(engine: Engine, small_yaml: Path, tmp_path: Path) -> None:
    _import(engine, REGIONS, small_yaml)
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        small_yaml.read_text()
        .replace("10.35.5.10", "10.35.5.11")
        .replace("lactation_room: false", "lactation_room: true"),
        encoding="utf-8",
    )
    report = _import(engine, changed)
    assert report.counts["devices"].updated == 1
    assert report.counts["devices"].unchanged == 3
    assert report.counts["sites"].updated == 1
    with Session(engine) as session:
        assert session.get(Device, "kiosk-kemiren-1").address == "10.35.5.11"  # type: ignore[union-attr]
        fact = session.get(SiteFacility, ("kantor-desa-kemiren", "lactation_room"))
        assert fact is not None and fact.value == 1


def test_dry_run_changes_nothing(engine: Engine, small_yaml: Path) -> None:
    report = _import(engine, REGIONS, small_yaml, dry_run=True)
    assert report.dry_run and report.counts["devices"].created == 4
    with Session(engine) as session:
        assert sum(count_rows(session).values()) == 0


def test_prune_deletes_what_the_files_no_longer_list(
    engine: Engine, small_yaml: Path, tmp_path: Path
) -> None:
    _import(engine, REGIONS, small_yaml)
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text(
        small_yaml.read_text().replace(
            '  - {id: ups-kemiren, site: kantor-desa-kemiren, role: ups, address: "fd00::5", '
            "snmp: public-v2}\n",
            "",
        ),
        encoding="utf-8",
    )
    without = _import(engine, fewer)
    assert without.counts["devices"].deleted == 0  # no --prune: kept
    pruned = _import(engine, fewer, prune=True, confirm_prune=True)  # 1 of 4: needs --yes
    assert pruned.counts["devices"].deleted == 1
    assert pruned.pruned == {"devices": ["ups-kemiren"]}
    with Session(engine) as session:
        assert session.get(Device, "ups-kemiren") is None


def test_prune_refuses_to_orphan_devices(engine: Engine, small_yaml: Path, tmp_path: Path) -> None:
    _import(engine, REGIONS, small_yaml)
    only_sites = tmp_path / "sites.yaml"
    only_sites.write_text(
        "sites:\n  - {id: pop-glagah, name: PoP Glagah, kind: pop, village: '35.10.15'}\n"
    )
    with pytest.raises(ImportRejected) as info:
        _import(engine, only_sites, prune=True)
    assert "cannot delete site 'kantor-desa-kemiren'" in str(info.value)
    with Session(engine) as session:
        assert session.get(Site, "kantor-desa-kemiren") is not None


def test_csv_with_the_same_columns(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "sites.csv").write_text(
        "id,name,kind,village,lat,lon,reading_corner,operators_trained,attested_by,attested_at\n"
        "kantor-desa-kemiren,Kantor Desa Kemiren,village_office,35.10.15.2004,-8.2,114.3,ya,2,"
        "Camat Glagah,2026-09-01T09:00:00+07:00\n",
        encoding="utf-8",
    )
    (tmp_path / "devices.csv").write_text(
        "id,site,role,address,tags\nrtr-kemiren,kantor-desa-kemiren,router,10.1.1.1,core;x\n",
        encoding="utf-8",
    )
    report = _import(engine, REGIONS, tmp_path / "sites.csv", tmp_path / "devices.csv")
    assert report.counts["sites"].created == 1 and report.counts["devices"].created == 1
    with Session(engine) as session:
        fact = session.get(SiteFacility, ("kantor-desa-kemiren", "operators_trained"))
        assert fact is not None and fact.value == 2 and fact.attested_by == "Camat Glagah"
        assert session.get(Device, "rtr-kemiren").tags == ["core", "x"]  # type: ignore[union-attr]


def test_whole_country_regions_import(engine: Engine) -> None:
    national = EXAMPLES / "indonesia"
    report = _import(engine, national / "admin_units.csv.gz", national / "villages.csv.gz")
    assert report.counts["regions"].created == 7_837 + 83_762
    with Session(engine) as session:
        desa = session.scalar(
            select(func.count()).select_from(Region).where(Region.level == "desa")
        )
        assert desa == 75_266
