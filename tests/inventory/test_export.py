"""Exports: YAML round-trip, Ansible inventory (checked by real ``ansible-inventory``),
Prometheus http_sd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from inventory.export import ansible_inventory, inventory_document, prometheus_sd
from inventory.importer import import_paths
from tests.inventory.conftest import REGIONS, SAMPLE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sample(any_engine: Engine) -> Engine:
    with Session(any_engine) as session:
        import_paths(session, [REGIONS, SAMPLE])
    return any_engine


def test_yaml_export_round_trips(sample: Engine, tmp_path: Path, sqlite_url: str) -> None:
    with Session(sample) as session:
        doc = inventory_document(session)
    exported = tmp_path / "export.yaml"
    exported.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    with Session(sample) as session:
        again = import_paths(session, [exported])
    assert not again.changed, again.as_dict()
    assert again.counts["devices"].unchanged == len(doc["devices"])
    # Into an empty database (with the regions), then exported again: identical.
    from tests.support.db import migrated_engine

    fresh = migrated_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    with Session(fresh) as session:
        import_paths(session, [REGIONS, exported])
    with Session(fresh) as session:
        assert inventory_document(session) == doc
    fresh.dispose()


def test_ansible_inventory_groups_and_vars(sample: Engine) -> None:
    with Session(sample) as session:
        inv = ansible_inventory(session, district="35.10.15", role="kiosk")
    hosts = inv["_meta"]["hostvars"]
    assert "kiosk-kemiren-1" in hosts
    assert all(h["kentongan_role"] == "kiosk" for h in hosts.values())
    assert set(inv["district_35_10_15"]["hosts"]) == set(hosts)
    assert "kiosk-kemiren-1" in inv["village_35_10_15_2004"]["hosts"]
    assert "kiosk-kemiren-1" in inv["tag_kiosk"]["hosts"]
    kemiren = hosts["kiosk-kemiren-1"]
    assert kemiren["ansible_user"] == "kentongan"
    assert kemiren["ansible_ssh_private_key_file"] == "/etc/kentongan/kiosk_ed25519"
    assert kemiren["village_code"] == "35.10.15.2004"


def test_real_ansible_reads_the_dynamic_inventory(engine: Engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        import_paths(session, [REGIONS, SAMPLE])
    sample = engine
    script = tmp_path / "kentongan-inventory"
    script.write_text(
        f"#!/bin/sh\nexec {sys.executable} -m kentongan.cli inventory export --format ansible "
        '--role kiosk "$@"\n'
    )
    script.chmod(0o755)
    env = dict(os.environ, KENTONGAN_DATABASE_URL=str(sample.url), ANSIBLE_HOME=str(tmp_path))
    ansible_inventory_bin = Path(sys.executable).parent / "ansible-inventory"
    out = subprocess.run(
        [str(ansible_inventory_bin), "-i", str(script), "--list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["_meta"]["hostvars"]["kiosk-kemiren-1"]["ansible_host"].startswith("10.")
    assert "kiosk-kemiren-1" in data["village_35_10_15_2004"]["hosts"]
    host = subprocess.run(
        [str(ansible_inventory_bin), "-i", str(script), "--host", "kiosk-kemiren-1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert json.loads(host.stdout)["village_code"] == "35.10.15.2004"


def test_prometheus_sd_labels_follow_the_fibre_tree(sample: Engine) -> None:
    with Session(sample) as session:
        groups = prometheus_sd(session)
    by_device = {g["targets"][0]: g["labels"] for g in groups}
    kiosk = by_device["kiosk-kemiren-1"]
    assert kiosk["village_code"] == "35.10.15.2004"
    assert kiosk["district_code"] == "35.10.15"
    assert kiosk["site"] == "kantor-desa-kemiren"
    uplinks = kiosk["__meta_kentongan_upstream_links"].split(",")
    assert uplinks[0] == kiosk["uplink"] and uplinks[-1] == "fo-noc-glagah"
    assert all(set(g) == {"targets", "labels"} for g in groups)
