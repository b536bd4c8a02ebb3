"""Concurrent attestations of the same facility are an upsert: every writer gets a 200,
the last one wins, each write is audited, and no database error text reaches a caller.
Real concurrency (threads through the app into the database), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.auth import Role, create_token
from api.models import AuditEntry
from core.settings import Settings
from inventory.db import session_scope
from inventory.importer import import_paths
from inventory.models import SiteFacility
from kentongan.app import create_app
from tests.inventory.conftest import REGIONS, SMALL

SITE = "kantor-desa-kemiren"
NEW_SITE = "pop-glagah"  # no attestations yet: every first write races to insert
WRITERS = 16


def test_concurrent_attestations_of_one_facility(any_engine: Engine, tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(SMALL, encoding="utf-8")
    with session_scope(any_engine) as session:
        import_paths(session, [REGIONS, small])
        tokens = [create_token(session, f"tech-{n}", Role.TECHNICIAN)[1] for n in range(WRITERS)]
    url = any_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, run_poller=False))
    with TestClient(app) as client:

        def attest(n: int, site: str, facility: str, start: threading.Barrier) -> httpx.Response:
            start.wait()
            return client.put(
                f"/api/v1/sites/{site}/facilities/{facility}",
                json={"value": n % 2, "evidence": f"foto-{n}"},
                headers={"Authorization": f"Bearer {tokens[n]}"},
            )

        rounds = [(SITE, "waiting_room")] + [  # an existing row, then new ones
            (NEW_SITE, f) for f in ("reading_corner", "waiting_room", "lactation_room")
        ]
        for site, facility in rounds:
            start = threading.Barrier(WRITERS)
            with ThreadPoolExecutor(max_workers=WRITERS) as pool:
                answers = list(pool.map(
                    lambda n: attest(n, site, facility, start), range(WRITERS)  # noqa: B023
                ))
            assert [r.status_code for r in answers] == [200] * WRITERS, [
                r.text for r in answers if r.status_code != 200
            ]
            assert not any(w in r.text for r in answers for w in ("Integrity", "Unique", "UNIQUE"))
            with Session(any_engine) as session:
                row = session.get(SiteFacility, (site, facility))
                assert row is not None
                n = int(row.evidence.removeprefix("foto-"))  # type: ignore[union-attr]
                assert row.attested_by == f"tech-{n}" and row.value == n % 2
                audited = session.scalar(
                    select(func.count()).select_from(AuditEntry).where(
                        AuditEntry.target == f"site:{site}/{facility}"
                    )
                )
                assert audited == WRITERS
    app.state.engine.dispose()


def test_concurrent_creation_of_one_site_names_no_driver_error(
    any_engine: Engine, tmp_path: Path
) -> None:
    """Creating the same site at once: one 201, the rest 409 in plain words."""
    with session_scope(any_engine) as session:
        import_paths(session, [REGIONS])
        token = create_token(session, "eng", Role.ENGINEER)[1]
    url = any_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, run_poller=False))
    with TestClient(app) as client:
        start = threading.Barrier(WRITERS)

        def create(n: int) -> httpx.Response:
            start.wait()
            return client.post("/api/v1/sites", headers={"Authorization": f"Bearer {token}"},
                               json={"id": "pop-baru", "name": f"PoP {n}", "kind": "pop",
                                     "village_code": "35.10.15"})

        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            answers = list(pool.map(create, range(WRITERS)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * (WRITERS - 1), [r.text for r in answers]
    for r in answers:
        assert not any(w in r.text for w in ("Integrity", "Unique", "UNIQUE", "psycopg")), r.text
    app.state.engine.dispose()
