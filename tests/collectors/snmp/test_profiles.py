"""Profiles as data: loading, strict validation with clear errors, selection, evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.base import SensorKind
from collectors.profiles import (
    GPON_RX_HIGH_DBM,
    GPON_RX_LOW_DBM,
    IndexPart,
    ProfileError,
    evaluate_table,
    load_profiles,
    parse_index,
)

SHIPPED = load_profiles(user_dir="")


def test_shipped_profiles_load_and_include_known_profiles() -> None:
    names = set(SHIPPED.profiles)
    assert {"entity-sensor", "host-resources", "ups-mib", "eaton-xups", "apc-powernet",
            "mikrotik-routeros", "huawei-vrp", "net-snmp-linux", "generic"} <= names
    for p in SHIPPED.profiles.values():
        assert p.description
        SHIPPED.expand(p)  # every include resolves


@pytest.mark.parametrize(("oid", "descr", "role", "expected"), [
    ("1.3.6.1.4.1.14988.1", "RouterOS RB760iGS", "router", "mikrotik-routeros"),
    ("1.3.6.1.4.1.2011.2.23.291", "S5720", "switch", "huawei-vrp"),
    ("1.3.6.1.4.1.534.1", "Eaton 9PX", "ups", "eaton-xups"),
    ("1.3.6.1.4.1.318.1.3.27", "APC", "ups", "apc-powernet"),
    ("1.3.6.1.4.1.2254.2.5", "Delta", "ups", "ups-mib"),  # unknown vendor: role fallback
    ("1.3.6.1.4.1.99999.1", "?", "switch", "generic"),
    ("1.3.6.1.4.1.99999.1", "?", "kiosk", None),
    ("1.3.6.1.4.1.140", "", "router", "generic"),  # a prefix must end at a dot
])
def test_selection(oid: str, descr: str, role: str, expected: str | None) -> None:
    p = SHIPPED.select(oid, descr, role)
    assert (p.name if p else None) == expected


def test_user_directory_adds_and_replaces_profiles(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "name: huawei-vrp\ndescription: my own\nmatch: {sys_object_id: [1.3.6.1.4.1.2011]}\n"
    )
    (tmp_path / "acme.yml").write_text(
        "name: acme\ndescription: Acme\nmatch:\n  sys_object_id: [1.3.6.1.4.1.4242]\n"
        "  sys_descr: ['(?i)acme os']\n"
        "scalars:\n  - {kind: temperature, name: box, oid: 1.3.6.1.4.1.4242.1.0}\n"
    )
    ps = load_profiles(user_dir=tmp_path)
    assert ps.profiles["huawei-vrp"].description == "my own"
    assert ps.select("1.3.6.1.4.1.4242.7", "ACME OS 2.1", "router").name == "acme"  # type: ignore[union-attr]
    assert ps.select("1.3.6.1.4.1.4242.7", "other", "router").name == "generic"  # type: ignore[union-attr]


def test_profiles_dir_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.yaml").write_text("name: x\ndescription: x\n")
    monkeypatch.setenv("KENTONGAN_PROFILES_DIR", str(tmp_path))
    assert "x" in load_profiles().profiles
    monkeypatch.setenv("KENTONGAN_PROFILES_DIR", str(tmp_path / "missing"))
    with pytest.raises(ProfileError, match=r"KENTONGAN_PROFILES_DIR=.*not a directory"):
        load_profiles()


@pytest.mark.parametrize(("text", "where"), [
    ("name: a\ndescription: a\nscalar: []\n", "scalar"),  # a typo is an error, not ignored
    ("name: a\ndescription: a\nscalars:\n  - {kind: heat, oid: 1.3.6.1.0}\n", "scalars.0.kind"),
    ("name: a\ndescription: a\nscalars:\n  - {kind: cpu, oid: 'iso.3.6'}\n", "scalars.0.oid"),
    ("name: a\ndescription: a\nscalars:\n  - {oid: 1.3.6.1.0}\n", "scalars.0"),
    ("name: a\ndescription: a\ninclude: [nope]\n", "unknown profile 'nope'"),
    ("- just a list\n", "a profile is a mapping"),
    ("name: [unclosed\n", "cannot read profile"),
])
def test_bad_profiles_name_the_file_and_field(tmp_path: Path, text: str, where: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ProfileError) as err:
        load_profiles([tmp_path], user_dir="")
    assert str(f) in str(err.value) or "nope" in str(err.value)
    assert where in str(err.value)


def test_index_parsing() -> None:
    assert parse_index([IndexPart.INTEGER], [7]) == ["7"]
    assert parse_index([IndexPart.MAC, IndexPart.INTEGER], [0, 39, 16, 50, 237, 96, 9]) == [
        "00:27:10:32:ed:60", "9"]
    assert parse_index([IndexPart.STRING], [3, 97, 98, 99]) == ["abc"]
    assert parse_index([IndexPart.INTEGER, IndexPart.INTEGER], [1]) is None
    assert parse_index([IndexPart.INTEGER], [1, 2]) is None


def test_optics_conversion_sentinels_and_gpon_defaults(tmp_path: Path) -> None:
    (tmp_path / "olt.yaml").write_text("""
name: olt
description: test OLT
tables:
  - name: onu
    oid: 1.3.6.1.4.1.4242.2.1
    index: [integer, integer]
    label: "{pon} onu {index2}"
    lookups:
      pon: {oid: 1.3.6.1.4.1.4242.1.1.2, index_from: 1}
    readings:
      - {kind: optical_rx, oid: "3", scale: 0.01, absent: [-80000], no_signal: [-4000]}
      - {kind: state, oid: "4", states: {1: online, 2: los, 3: dying_gasp}}
""")
    ps = load_profiles([tmp_path], user_dir="")
    p = ps.profiles["olt"]
    col = "1.3.6.1.4.1.4242.2.1.3"
    st = "1.3.6.1.4.1.4242.2.1.4"
    samples = evaluate_table(
        p, p.tables[0],
        {col: {(1, 1): -2150, (1, 2): -4000, (2, 1): -80000}, st: {(1, 1): 1, (1, 2): 3}},
        {"pon": {(1,): b"gpon 0/1"}},
    )
    rx = [s for s in samples if s.kind is SensorKind.OPTICAL_RX]
    assert [(s.name, s.value) for s in rx] == [("gpon 0/1 onu 1", -21.5), ("gpon 0/1 onu 2", None)]
    assert rx[0].low == GPON_RX_LOW_DBM == -27 and rx[0].high == GPON_RX_HIGH_DBM == -8
    states = [(s.name, s.state) for s in samples if s.kind is SensorKind.STATE]
    assert states == [("gpon 0/1 onu 1", "online"), ("gpon 0/1 onu 2", "dying_gasp")]
    assert rx[0].oid == col + ".1.1"
