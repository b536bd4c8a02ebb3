"""Inputs are data, never templates: ``{{ … }}``, ``{% … %}`` and ``lookup(…)`` posted in
every rollout field, through the API and the CLI, against real Ansible and sshd kiosks
(one up, one unreachable), never run on the controller: the marker files never appear.
A field that cannot carry such a value literally is refused, naming the field."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api.auth import Role, create_token
from api.models import AuditEntry
from core.settings import Settings
from inventory.db import session_scope
from kentongan.app import create_app
from playbooks.choices import FAILURE_STATES, HostState
from playbooks.models import Rollout
from playbooks.sample_app import release_filename
from tests.playbooks.conftest import add_kiosks, running_fleet, site_vars_file
from tests.playbooks.helpers import hosts, rollout
from tests.playbooks.kiosks import KioskFleet

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
FINISHED = {"completed", "paused", "halted", "failed", "aborted"}


def payloads(markers: Path, tag: str) -> list[str]:
    """Three ways to ask Ansible to run ``touch MARKER`` on the controller (no spaces:
    ``${IFS}``, so they also fit in a URL)."""
    touch = f"touch${{IFS}}{markers}/{tag}"
    return [
        f"{{{{lookup('pipe','{touch}-expr')}}}}",
        f"{{%if(lookup('pipe','{touch}-stmt'))%}}{{%endif%}}",
        f"lookup('pipe','{touch}-bare')",
    ]


def assert_no_marker(markers: Path) -> None:
    """Nothing ran: the marker directory is still empty."""
    assert sorted(p.name for p in markers.iterdir()) == []


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KioskFleet]:
    """This module's own fleet (127.0.5.x): kiosk-1..4 up, kiosk-5 unreachable."""
    yield from running_fleet(
        tmp_path_factory.mktemp("fleet-5"), [f"127.0.5.{i}" for i in range(1, 6)]
    )


@pytest.fixture(scope="module")
def release_server(releases: Path) -> Iterator[str]:
    """The release directory over HTTP on loopback (the query string is ignored)."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(releases), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    """Where a template that ran would leave its marker file."""
    path = tmp_path / "markers"
    path.mkdir()
    return path


def _sha(releases: Path, version: str) -> str:
    return hashlib.sha256((releases / release_filename(version)).read_bytes()).hexdigest()


def _payload_url(base: str, version: str, values: list[str]) -> str:
    query = "&".join(f"q{i}={value}" for i, value in enumerate(values))
    return f"{base}{release_filename(version)}?{query}"


def test_api_passes_every_field_as_data(
    engine: Engine,
    sqlite_url: str,
    fleet: KioskFleet,
    releases: Path,
    release_server: str,
    markers: Path,
    tmp_path: Path,
) -> None:
    evil = payloads(markers, "api")
    add_kiosks(engine, fleet, bad_address=evil[0])
    with session_scope(engine) as session:
        _row, token = create_token(session, "teknisi-api", Role.TECHNICIAN)
    settings = Settings(
        database_url=sqlite_url,
        run_poller=False,
        release_dir=releases,
        release_sources=(release_server,),
        playbook_vars_file=site_vars_file(fleet, tmp_path),
        service_hours="00:00-00:00",
        service_days="mon",
    )
    tech = {"Authorization": f"Bearer {token}"}
    base = {"version": "1.0.0", "devices": ["kiosk-1"], "run": False}
    url = _payload_url(release_server, "1.0.0", evil)
    with TestClient(create_app(settings)) as http:
        # Fields that cannot carry a template literally are refused, naming the field.
        for value in evil:
            for field, body, status, words in (
                ("version", {"version": value}, 422, '"version"'),
                ("version", {"version": value[:60]}, 400, "release version"),
                ("devices", {"devices": [value]}, 400, "no enabled kiosk device named"),
                ("tags", {"devices": [], "tags": [value]}, 400, "no enabled device matches"),
                ("district", {"district": value}, 422, "district"),
                ("village", {"village": value}, 422, "village"),
                ("canary_village", {"canary_village": value}, 422, "canary_village"),
                ("sha256", {"sha256": value}, 422, "sha256"),
                ("batch", {"batch": value}, 422, "batch"),
                ("url", {"url": release_server + "x?" + value.replace("(", " ("),
                         "sha256": "0" * 64}, 400, "the URL is not an allowed source"),
            ):
                response = http.post("/api/v1/rollouts", json=base | body, headers=tech)
                assert response.status_code == status, (field, response.text)
                assert words in response.text, (field, response.text)
        # An inventory row holding a template (the address) is refused by name.
        evil_row = http.post("/api/v1/rollouts", headers=tech,
                             json=base | {"devices": [], "tags": ["evil"]})
        assert evil_row.status_code == 400 and "kiosk-evil: address" in evil_row.text
        with session_scope(engine) as session:
            assert session.scalar(select(func.count()).select_from(Rollout)) == 0

        # The URL carries all three literally, to a kiosk that is up and one that is not.
        created = http.post("/api/v1/rollouts", headers=tech, json={
            "version": "1.0.0", "url": url, "sha256": _sha(releases, "1.0.0"),
            "devices": ["kiosk-1", "kiosk-5"], "canary": 0, "batch": "100%",
            "max_fail": 100, "run": True,
        })
        assert created.status_code == 202, created.text
        rid = created.json()["id"]
        deadline = time.monotonic() + 400
        while http.get(f"/api/v1/rollouts/{rid}",
                       headers=tech).json()["status"] not in FINISHED:
            assert time.monotonic() < deadline, "the rollout did not finish"
            time.sleep(1)
    assert_no_marker(markers)
    state = hosts(engine, rid)
    assert state["kiosk-1"].state in (HostState.CHANGED, HostState.OK), state["kiosk-1"].message
    assert state["kiosk-5"].state == HostState.PENDING  # unreachable, waiting to be retried
    assert rollout(engine, rid).params["release"]["url"] == url
    with session_scope(engine) as session:
        start = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "rollout.start")
        ).one()
    assert start.actor == "teknisi-api" and start.details["request"]["url"] == url


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "kentongan"), "rollout", "start", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def test_cli_passes_every_option_as_data(
    inventory: Engine,
    sqlite_url: str,
    fleet: KioskFleet,
    releases: Path,
    release_server: str,
    markers: Path,
    tmp_path: Path,
) -> None:
    evil = payloads(markers, "cli")
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"kiosk_note": evil[1], "kiosk_notes": [evil[2], {
        "nested": evil[0]}]}))
    env = os.environ | fleet.envvars() | {
        "KENTONGAN_DATABASE_URL": sqlite_url,
        "KENTONGAN_RELEASE_SOURCES": release_server,
        "KENTONGAN_PLAYBOOK_VARS_FILE": str(site_vars_file(fleet, tmp_path)),
        "KENTONGAN_SERVICE_HOURS": "00:00-00:00",
        "KENTONGAN_LOG_LEVEL": "WARNING",
        "COLUMNS": "400",
    }
    env.pop("KENTONGAN_RELEASE_DIR", None)
    sha = _sha(releases, "1.1.0")
    for args, words in (
        (["--version", evil[0], "--release-dir", str(releases)], "release version"),
        (["--version", "1.1.0", "--release-dir", str(releases), "--device", evil[0]],
         "no enabled kiosk device named"),
        (["--version", "1.1.0", "--release-dir", str(releases), "--district", evil[0]],
         "no enabled device matches"),
        (["--version", "1.1.0", "--url", release_server + "x y", "--sha256", sha,
          "--device", "kiosk-1"], "not an allowed source"),
        (["--version", "1.1.0", "--release-dir", str(releases), "--device", "kiosk-1",
          "--var", f"{evil[0]}=1"], "looks like an Ansible template"),
    ):
        result = _cli(args, env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert words in " ".join(result.stderr.split()), (args, result.stderr)
    with session_scope(inventory) as session:
        assert session.scalar(select(func.count()).select_from(Rollout)) == 0

    args = ["--version", "1.1.0", "--url", _payload_url(release_server, "1.1.0", evil),
            "--sha256", sha, "--device", "kiosk-1", "--device", "kiosk-5", "--canary", "0",
            "--batch", "100%", "--max-fail", "100%", "--vars-file", str(vars_file)]
    args += ["--var", "kiosk_health_path=/health?" + "&".join(f"q{i}={v}" for i, v in
                                                             enumerate(evil))]
    result = _cli(args, env)
    assert result.returncode in (0, 1), result.stderr
    assert_no_marker(markers)
    with session_scope(inventory) as session:
        rid = session.scalar(select(func.max(Rollout.id)))
    assert rid is not None
    state = hosts(inventory, rid)
    assert state["kiosk-1"].attempts == 1 and state["kiosk-5"].state == HostState.PENDING
    # The health check asked for the literal path, which the app does not serve: it failed.
    assert state["kiosk-1"].state in FAILURE_STATES, state["kiosk-1"].message
    assert "Health check" in (state["kiosk-1"].message or "")
