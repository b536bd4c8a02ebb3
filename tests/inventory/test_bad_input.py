"""Bad input is refused whole, with ``file:line: field: reason``, and changes nothing."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from inventory.errors import ImportRejected
from inventory.importer import count_rows, import_paths
from tests.inventory.conftest import REGIONS, SMALL


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Engine:
    """A database holding the regions and the small inventory."""
    good = tmp_path / "good.yaml"
    good.write_text(SMALL, encoding="utf-8")
    with Session(engine) as session:
        import_paths(session, [REGIONS, good])
    return engine


def _refused(engine: Engine, *paths: Path) -> list[str]:
    with Session(engine) as session:
        before = count_rows(session)
    with Session(engine) as session, pytest.raises(ImportRejected) as info:
        import_paths(session, list(paths))
    with Session(engine) as session:
        assert count_rows(session) == before, "a refused import must change nothing"
    return [str(p) for p in info.value.problems]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_yaml_names_the_line(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.yaml", "sites:\n  - id: a\n    name: [unclosed\n  kind: x\n")
    problems = _refused(seeded, bad)
    assert len(problems) == 1
    assert problems[0].startswith(f"{bad}:")
    assert "malformed YAML" in problems[0]


def test_malformed_csv_row_names_the_line(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        "devices.csv",
        "id,site,role,address\nrtr-a,kantor-desa-kemiren,router,10.0.0.1\nrtr-b,only-two\n",
    )
    problems = _refused(seeded, bad)
    assert problems == [f"{bad}:3: -: 2 columns where the header has 4"]


def test_every_problem_is_reported_not_only_the_first(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        "many.yaml",
        "devices:\n"
        "  - {id: d1, site: kantor-desa-kemiren, role: router, address: 999.1.1.1}\n"
        "  - {id: d2, site: nowhere, role: router, address: 10.0.0.2}\n"
        "  - {id: d3, site: kantor-desa-kemiren, role: toaster, address: 10.0.0.3}\n",
    )
    problems = _refused(seeded, bad)
    assert any(p.startswith(f"{bad}:2: address:") and "not an IPv4 or IPv6" in p for p in problems)
    assert f"{bad}:3: site: unknown site 'nowhere'" in problems
    assert any(p.startswith(f"{bad}:4: role:") for p in problems)
    assert len(problems) == 3


def test_duplicate_ids(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        "dup.yaml",
        "devices:\n"
        "  - {id: twin, site: kantor-desa-kemiren, role: router, address: 10.0.0.1}\n"
        "  - {id: twin, site: kantor-desa-kemiren, role: ups, address: 10.0.0.2}\n",
    )
    problems = _refused(seeded, bad)
    assert problems == [f"{bad}:3: id: duplicate device 'twin' (first at {bad}:2)"]


def test_unknown_region_code(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        "site.yaml",
        "sites:\n  - id: kantor-desa-x\n    name: X\n    kind: village_office\n"
        "    village: '35.10.15.2999'\n",
    )
    problems = _refused(seeded, bad)
    assert len(problems) == 1
    assert problems[0].startswith(f"{bad}:5: village: unknown region code 35.10.15.2999")


def test_bad_ip_address(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        "ip.yaml",
        "devices:\n  - id: rtr-x\n    site: kantor-desa-kemiren\n    role: router\n"
        "    address: 10.0.0.300\n",
    )
    assert _refused(seeded, bad) == [
        f"{bad}:5: address: '10.0.0.300' is not an IPv4 or IPv6 address"
    ]


@pytest.mark.parametrize(
    ("profile", "hint"),
    [
        ("{version: 2c, community: public}", "community_env or community_file"),
        (
            "{version: 3, user: u, auth: sha, auth_key: s3cret-value, auth_key_env: X}",
            "auth_key_env or auth_key_file",
        ),
    ],
)
def test_inline_secret_is_refused_and_not_echoed(
    seeded: Engine, tmp_path: Path, profile: str, hint: str
) -> None:
    bad = _write(tmp_path, "cred.yaml", f"credentials:\n  snmp:\n    leaky: {profile}\n")
    problems = _refused(seeded, bad)
    assert len(problems) == 1
    assert "secret written inline" in problems[0] and hint in problems[0]
    assert "s3cret-value" not in problems[0] and "public" not in problems[0]


def test_ssh_password_inline_is_refused(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(tmp_path, "ssh.yaml", "credentials:\n  ssh:\n    k: {username: a, password: x}\n")
    problems = _refused(seeded, bad)
    assert "password_env or password_file" in problems[0]


def test_link_with_both_ends_on_one_device(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        "loop.yaml",
        "links:\n  - id: loop\n    medium: fibre\n    a: {device: rtr-kemiren, interface: e1}\n"
        "    z: {device: rtr-kemiren, interface: e2}\n",
    )
    problems = _refused(seeded, bad)
    assert problems == [f"{bad}:2: -: both ends are the same device 'rtr-kemiren'"]


def test_link_to_unknown_device(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        "ghost.yaml",
        "links:\n  - id: ghost\n    medium: fibre\n    a: {device: olt-glagah, interface: g0}\n"
        "    z: {device: nope, interface: e2}\n",
    )
    assert _refused(seeded, bad) == [f"{bad}:5: z.device: unknown device 'nope'"]


def test_file_that_is_not_utf8(seeded: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("sites:\n  - id: x\n    name: Kantor Desa Ketapang\xe9\n".encode("latin-1"))
    problems = _refused(seeded, bad)
    assert problems[0].startswith(f"{bad}:3: -: not UTF-8")


def test_csv_that_is_not_utf8(seeded: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "sites.csv.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"id,name,kind,village\nx,Caf\xe9,village_office,35.10.15.2004\n")
    problems = _refused(seeded, bad)
    assert "not UTF-8" in problems[0]


def test_empty_file(seeded: Engine, tmp_path: Path) -> None:
    for name in ("empty.yaml", "empty.csv"):
        bad = _write(tmp_path, name, "")
        assert _refused(seeded, bad) == [f"{bad}: -: file is empty"]


def test_missing_file(seeded: Engine, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert _refused(seeded, missing) == [f"{missing}: -: no such file"]


def test_one_bad_file_spoils_the_batch(seeded: Engine, tmp_path: Path) -> None:
    good = _write(
        tmp_path,
        "good.yaml",
        "devices:\n  - {id: new-one, site: kantor-desa-kemiren, role: switch, address: 10.9.9.9}\n",
    )
    bad = _write(tmp_path, "bad.yaml", "devices: not-a-list\n")
    problems = _refused(seeded, good, bad)
    assert problems == [f"{bad}:1: devices: must be a list of items"]


def test_unknown_field_and_section(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        "typo.yaml",
        "routers: []\ndevices:\n  - {id: r9, site: kantor-desa-kemiren, role: router, "
        "address: 10.0.0.9, adress: 1}\n",
    )
    problems = _refused(seeded, bad)
    assert f"{bad}:1: routers: unknown section" in problems[0]
    assert problems[1] == f"{bad}:3: adress: unknown field"


def test_village_office_outside_a_village(seeded: Engine, tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        "office.yaml",
        "sites:\n  - {id: kantor-desa-y, name: Y, kind: village_office, village: '35.10.15'}\n",
    )
    problems = _refused(seeded, bad)
    assert "must stand in a desa or kelurahan" in problems[0]


def test_region_with_unknown_parent(engine: Engine, tmp_path: Path) -> None:
    bad = _write(tmp_path, "r.csv", "code,name,level,parent_code\n99.01.01.2001,X,desa,\n")
    problems = _refused(engine, bad)
    assert problems == [
        f"{bad}:2: parent_code: unknown parent region 99.01.01 (import it first, e.g. "
        "admin_units.csv.gz before villages.csv.gz, or in the same command)"
    ]
