"""Fixtures for inventory tests: the shipped examples and small hand-written files."""
# ruff: noqa: E501

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
REGIONS = EXAMPLES / "banyuwangi" / "regions.csv"
SAMPLE = EXAMPLES / "banyuwangi" / "inventory.yaml"

SMALL = """\
credentials:
  snmp:
    public-v2: {version: 2c, community_env: KTG_SNMP_COMMUNITY}
    village-v3: {version: 3, user: monitor, auth: sha, auth_key_env: KTG_SNMP_AUTH, priv: aes, priv_key_env: KTG_SNMP_PRIV}
  ssh:
    kiosk: {username: kentongan, key_file: /etc/kentongan/kiosk_ed25519}
sites:
  - id: pop-glagah
    name: PoP Glagah
    kind: pop
    village: "35.10.15"
  - id: kantor-desa-kemiren
    name: Kantor Desa Kemiren
    kind: village_office
    village: "35.10.15.2004"
    facilities: {reading_corner: true, waiting_room: true, lactation_room: false, operators_trained: 2}
devices:
  - {id: olt-glagah, site: pop-glagah, role: olt, address: 10.35.0.2, snmp: village-v3}
  - {id: rtr-kemiren, site: kantor-desa-kemiren, role: router, address: 10.35.5.1, snmp: village-v3}
  - {id: kiosk-kemiren-1, site: kantor-desa-kemiren, role: kiosk, address: 10.35.5.10, ssh: kiosk, tags: [kiosk]}
  - {id: ups-kemiren, site: kantor-desa-kemiren, role: ups, address: "fd00::5", snmp: public-v2}
links:
  - id: fo-glagah-kemiren
    medium: fibre
    a: {device: olt-glagah, interface: gpon0/3}
    z: {device: rtr-kemiren, interface: ether1}
    uplink_of: kantor-desa-kemiren
    capacity: 1G
"""


@pytest.fixture
def small_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path
