"""Input hygiene of the importer: destructive prunes ask first, duplicate YAML keys and
control characters are refused, every inline secret is reported, the error list is capped."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from core.settings import get_settings
from inventory.errors import ImportRejected
from inventory.importer import MAX_PROBLEMS, ImportReport, count_rows, import_paths
from inventory.models import Device, Site
from kentongan.cli import app
from tests.inventory.conftest import REGIONS, SMALL

DEVICE = (
    "  - {{id: ap-{n:02d}, site: kantor-desa-kemiren, role: access_point, "
    "address: 10.35.9.{n}}}\n"
)


def _fleet(tmp_path: Path, name: str, cameras: range) -> Path:
    """SMALL plus access points ``ap-NN`` numbered by ``cameras``."""
    extra = "".join(DEVICE.format(n=n) for n in cameras)
    text = SMALL.replace("links:\n", extra + "links:\n", 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _import(engine: Engine, *paths: Path, **kw: bool) -> ImportReport:
    with Session(engine) as session:
        return import_paths(session, list(paths), **kw)


def _refused(engine: Engine, *paths: Path, **kw: bool) -> ImportRejected:
    with Session(engine) as session:
        before = count_rows(session)
    with Session(engine) as session, pytest.raises(ImportRejected) as info:
        import_paths(session, list(paths), **kw)
    with Session(engine) as session:
        assert count_rows(session) == before, "a refused import must change nothing"
    return info.value


def _devices(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Device)) or 0


# -- --prune asks first -------------------------------------------------------------------
def test_prune_refuses_an_empty_csv_of_a_kind(
    engine: Engine, small_yaml: Path, tmp_path: Path
) -> None:
    _import(engine, REGIONS, small_yaml)
    empty = tmp_path / "devices.csv"
    empty.write_text("id,site,role,address\n", encoding="utf-8")
    refusal = _refused(engine, empty, prune=True)
    text = str(refusal)
    assert "lists no device at all" in text and "delete all 4" in text and "--yes" in text
    assert "kiosk-kemiren-1" in text  # names what would go
    assert _devices(engine) == 4


def test_prune_refuses_an_empty_yaml_list(engine: Engine, small_yaml: Path, tmp_path: Path) -> None:
    _import(engine, REGIONS, small_yaml)
    links = tmp_path / "links.yaml"
    links.write_text("links: []\n", encoding="utf-8")
    assert "lists no link at all" in str(_refused(engine, links, prune=True))
    report = _import(engine, links, prune=True, confirm_prune=True)
    assert report.counts["links"].deleted == 1


def test_prune_refuses_more_than_a_tenth_unless_confirmed(engine: Engine, tmp_path: Path) -> None:
    _import(engine, REGIONS, _fleet(tmp_path, "all.yaml", range(10, 26)))  # 4 + 16 = 20
    fewer = _fleet(tmp_path, "fewer.yaml", range(10, 23))  # drops ap-23..25: 3 of 20 = 15 %
    text = str(_refused(engine, fewer, prune=True))
    assert "would delete 3 of 20 device(s), more than 10%" in text
    assert "ap-23, ap-24, ap-25" in text
    assert _devices(engine) == 20
    report = _import(engine, fewer, prune=True, confirm_prune=True)
    assert report.counts["devices"].deleted == 3
    assert report.pruned["devices"] == ["ap-23", "ap-24", "ap-25"]
    assert _devices(engine) == 17


def test_prune_of_a_tenth_or_less_needs_no_confirmation(engine: Engine, tmp_path: Path) -> None:
    _import(engine, REGIONS, _fleet(tmp_path, "all.yaml", range(10, 26)))  # 20 devices
    fewer = _fleet(tmp_path, "fewer.yaml", range(10, 24))  # 2 of 20 = 10 %: not more
    report = _import(engine, fewer, prune=True)
    assert report.pruned == {"devices": ["ap-24", "ap-25"]}
    assert _devices(engine) == 18


def test_dry_run_lists_the_ids_and_deletes_nothing(engine: Engine, tmp_path: Path) -> None:
    _import(engine, REGIONS, _fleet(tmp_path, "all.yaml", range(10, 26)))
    fewer = _fleet(tmp_path, "fewer.yaml", range(10, 20))
    report = _import(engine, fewer, prune=True, dry_run=True)
    assert report.pruned["devices"] == [f"ap-{n}" for n in range(20, 26)]
    assert report.counts["devices"].deleted == 6
    assert report.prune_warnings == [
        "devices: --prune would delete 6 of 20 device(s), more than 10%; needs --yes"
    ]
    assert _devices(engine) == 20


@pytest.fixture
def cli_db(engine: Engine, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("KENTONGAN_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    yield engine  # type: ignore[misc]
    get_settings.cache_clear()


def test_cli_prune_dry_run_then_yes(cli_db: Engine, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["inventory", "import", str(REGIONS),
                               str(_fleet(tmp_path, "all.yaml", range(10, 26)))]).exit_code == 0
    fewer = str(_fleet(tmp_path, "fewer.yaml", range(10, 20)))
    dry = runner.invoke(app, ["inventory", "import", fewer, "--prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete 6: ap-20, ap-21, ap-22, ap-23, ap-24, ap-25" in dry.stdout
    assert "needs --yes" in dry.stdout
    refused = runner.invoke(app, ["inventory", "import", fewer, "--prune"])
    assert refused.exit_code == 1 and "confirm with --yes" in refused.stderr
    assert _devices(cli_db) == 20
    done = runner.invoke(app, ["inventory", "import", fewer, "--prune", "--yes"])
    assert done.exit_code == 0, done.output
    assert "deleted 6: ap-20" in done.stdout
    assert _devices(cli_db) == 14
    assert "--yes" in runner.invoke(app, ["inventory", "import", "--help"]).stdout


# -- duplicate YAML keys ---------------------------------------------------------------
def test_duplicate_key_in_an_item_names_both_lines(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "dup.yaml"
    bad.write_text(
        "sites:\n"
        "  - id: pop-glagah\n"
        "    name: PoP Glagah\n"
        "    kind: pop\n"
        "    village: '35.10.15'\n"
        "    name: Someone Else\n",
        encoding="utf-8",
    )
    problems = [str(p) for p in _refused(engine, REGIONS, bad).problems]
    assert problems == [f"{bad}:6: name: duplicate key 'name' (lines 3 and 6); keep one"]


def test_duplicate_section_and_flow_keys(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "dup.yaml"
    bad.write_text(
        "devices:\n"
        "  - {id: a, site: s, role: router, address: 10.0.0.1, address: 10.0.0.2}\n"
        "devices: []\n",
        encoding="utf-8",
    )
    problems = [str(p) for p in _refused(engine, bad).problems]
    assert problems == [
        f"{bad}:2: address: duplicate key 'address' (lines 2 and 2); keep one",
        f"{bad}:3: devices: duplicate key 'devices' (lines 1 and 3); keep one",
    ]


def test_yaml_merge_keys_are_not_duplicates(engine: Engine, tmp_path: Path) -> None:
    good = tmp_path / "merge.yaml"
    good.write_text(
        "sites:\n"
        "  - &base {id: pop-a, name: PoP A, kind: pop, village: '35.10.15'}\n"
        "  - {<<: *base, id: pop-b, name: PoP B}\n",
        encoding="utf-8",
    )
    assert _import(engine, REGIONS, good).counts["sites"].created == 2


# -- control characters --------------------------------------------------------------
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\n"])
def test_control_character_in_a_name_is_refused(
    engine: Engine, tmp_path: Path, char: str
) -> None:
    bad = tmp_path / "sites.csv"
    bad.write_text(f'id,name,kind,village\npop-a,"PoP{char}A",pop,35.10.15\n', encoding="utf-8")
    problems = [str(p) for p in _refused(engine, REGIONS, bad).problems]
    assert problems == [
        f"{bad}:2: name: contains the control character U+{ord(char):04X} at position 3; "
        "remove it (names and ids must be printable text)"
    ]
    with Session(engine) as session:
        assert session.get(Site, "pop-a") is None


def test_control_character_in_an_id_from_yaml_escapes(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "sites.yaml"
    bad.write_text(
        'sites:\n  - {id: "pop\\0a", name: "PoP\\tA", kind: pop, village: "35.10.15"}\n',
        encoding="utf-8",
    )
    problems = [str(p) for p in _refused(engine, REGIONS, bad).problems]
    assert len(problems) == 2
    assert problems[0].startswith(f"{bad}:2: id: 'pop\\x00a' is not a valid id")
    assert problems[1].startswith(f"{bad}:2: name: contains the control character U+0009")


def test_line_breaks_stay_allowed_in_free_text(engine: Engine, tmp_path: Path) -> None:
    good = tmp_path / "sites.yaml"
    good.write_text(
        "sites:\n  - id: pop-a\n    name: PoP A\n    kind: pop\n    village: '35.10.15'\n"
        "    address: |\n      Jl. Raya Glagah 1\n      Banyuwangi\n",
        encoding="utf-8",
    )
    assert _import(engine, REGIONS, good).counts["sites"].created == 1


# -- inline secrets ------------------------------------------------------------------
def test_every_inline_secret_on_a_line_is_reported(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "cred.yaml"
    bad.write_text(
        "credentials:\n  snmp:\n    leaky: {version: 3, user: u, auth: sha, auth_key: k1-value, "
        "priv: aes, priv_key: k2-value, community: k3-value}\n",
        encoding="utf-8",
    )
    problems = [str(p) for p in _refused(engine, bad).problems]
    assert [p.split(": ")[1] for p in problems] == ["community", "auth_key", "priv_key"]
    assert all("secret written inline" in p for p in problems)
    assert not any("-value" in p for p in problems)


def test_every_inline_secret_of_a_csv_row_is_reported(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "ssh.csv"
    bad.write_text("name,username,password,private_key\nk,kentongan,pw-value,key-value\n",
                   encoding="utf-8")
    problems = [str(p) for p in _refused(engine, bad).problems]
    assert problems == [
        f"{bad}:2: password: secret written inline in 'password': secrets are never stored; "
        "use password_env or password_file",
        f"{bad}:2: private_key: secret written inline in 'private_key': secrets are never "
        "stored; use key_file (a path)",
    ]


# -- the error list is capped --------------------------------------------------------
def test_problem_list_keeps_the_first_thousand_and_counts_all(
    cli_db: Engine, tmp_path: Path
) -> None:
    bad = tmp_path / "devices.csv"
    rows = "".join(f"dev-{n},nowhere\n" for n in range(2500))  # 2 columns of 4: one each
    bad.write_text("id,site,role,address\n" + rows, encoding="utf-8")
    refusal = _refused(cli_db, bad)
    assert len(refusal.problems) == MAX_PROBLEMS == 1000
    assert refusal.total == 2500
    assert str(refusal.problems[0]) == f"{bad}:2: -: 2 columns where the header has 4"
    result = CliRunner().invoke(app, ["inventory", "import", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.count("columns where the header has 4") == 1000
    assert "… and 1500 more" in result.stderr and "2500 problem(s)" in result.stderr
