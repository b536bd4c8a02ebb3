"""Readiness reads uplink availability from the embedded store (maintenance excluded) or,
when ``KENTONGAN_PROMETHEUS_URL`` is set, from a real Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.readiness.inputs import uplink_availability
from collectors.models import StateTransition
from inventory.importer import import_paths
from inventory.models import MaintenanceWindow
from tests.alerts.peers import backfilled_prometheus
from tests.alerts.support import free_port

ROOT = Path(__file__).resolve().parents[2]
LINK = "fo-glagah-kemiren"


def _link_history(start: datetime) -> str:
    """4 hours at 60 s: the uplink up for 3 hours, then down for 1."""
    t0 = int(start.timestamp())
    lines = ["# TYPE kentongan_link_up gauge"]
    lines += [
        f'kentongan_link_up{{link="{LINK}",site="kantor-desa-kemiren"}} {int(p < 3 * 3600)} '
        f"{t0 + p}"
        for p in range(0, 4 * 3600, 60)
    ]
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, datetime]]:
    work = tmp_path_factory.mktemp("readiness-prom")
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    start = end - timedelta(hours=4)
    with backfilled_prometheus(work, _link_history(start)) as url:
        yield url, start


@pytest.mark.integration
def test_from_prometheus(backfilled: tuple[str, datetime], engine: Engine) -> None:
    url, start = backfilled
    with Session(engine) as session:
        facts = uplink_availability(
            session, [LINK], start=start, end=start + timedelta(hours=4), prometheus_url=url
        )
    assert facts[LINK].percent == pytest.approx(75.0, abs=1.0)
    assert facts[LINK].down_s == pytest.approx(3600, abs=120)


def test_prometheus_that_does_not_answer_gives_no_facts(engine: Engine) -> None:
    with Session(engine) as session:
        facts = uplink_availability(
            session,
            [LINK],
            start=datetime(2026, 1, 1, tzinfo=UTC),
            end=datetime(2026, 1, 2, tzinfo=UTC),
            prometheus_url=f"http://127.0.0.1:{free_port()}",
        )
    assert facts == {}


def test_store_leaves_maintenance_out(engine: Engine) -> None:
    examples = ROOT / "examples" / "banyuwangi"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with Session(engine) as session:
        import_paths(session, [examples / "regions.csv", examples / "inventory.yaml"])
    with Session(engine) as session:
        session.add_all(
            [
                StateTransition(
                    kind="link", subject=LINK, from_status="unknown", to_status="up", at=start
                ),
                StateTransition(
                    kind="link",
                    subject=LINK,
                    from_status="up",
                    to_status="down",
                    at=start + timedelta(hours=10),
                ),
                StateTransition(
                    kind="link",
                    subject=LINK,
                    from_status="down",
                    to_status="up",
                    at=start + timedelta(hours=12),
                ),
            ]
        )
        session.commit()
    end = start + timedelta(hours=20)
    with Session(engine) as session:
        before = uplink_availability(session, [LINK], start=start, end=end)[LINK]
    assert before.percent == pytest.approx(90.0)
    with Session(engine) as session:
        session.add(
            MaintenanceWindow(
                id="glagah-fo",
                scope="district",
                target="35.10.15",
                starts_at=start + timedelta(hours=10),
                ends_at=start + timedelta(hours=11),
            )
        )
        session.commit()
    with Session(engine) as session:
        after = uplink_availability(session, [LINK], start=start, end=end)[LINK]
    assert after.down_s == pytest.approx(3600)
    assert after.percent == pytest.approx(100 * 18 / 19)
    assert after.observed_s == pytest.approx(20 * 3600)
