"""Helpers of the rollout tests."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from core.settings import Settings
from inventory.db import session_scope
from playbooks.choices import WaveMode
from playbooks.models import Rollout, RolloutEvent, RolloutHost
from playbooks.release import resolve_release
from playbooks.rollout import RolloutOptions, RolloutSummary, create_rollout, run_rollout
from playbooks.targets import TargetFilter
from tests.playbooks.kiosks import Kiosk, KioskFleet


def app_version(fleet: KioskFleet, kiosk: Kiosk) -> str | None:
    """The version the kiosk app answers on /health, None when it does not answer 200."""
    try:
        with urllib.request.urlopen(
            f"http://{kiosk.address}:{fleet.app_port}/health", timeout=3
        ) as response:
            return str(response.read().decode().split()[1])
    except OSError:
        return None


def start_rollout(
    engine: Engine,
    fleet: KioskFleet,
    releases: Path,
    version: str,
    devices: list[str],
    *,
    settings: Settings,
    canary: int = 1,
    batch: str = "100%",
    max_fail: float = 0.0,
    waves: WaveMode = WaveMode.FLAT,
    auto_resume: bool | None = None,
    run: bool = True,
    **run_kwargs: Any,
) -> tuple[int, RolloutSummary | None]:
    """Create a rollout of ``version`` to ``devices`` and (by default) run it; the fleet's
    variables come from ``settings.playbook_vars_file`` (see ``rollout_settings``)."""
    release = resolve_release(version, release_dir=releases)
    rid = create_rollout(
        engine,
        release,
        target=TargetFilter(devices=tuple(devices)),
        options=RolloutOptions(
            canary=canary,
            batch=batch,
            max_fail=max_fail,
            waves=waves,
            auto_resume=auto_resume,
        ),
        created_by="pytest",
    )
    if not run:
        return rid, None
    summary = run_rollout(engine, rid, settings=settings, envvars=fleet.envvars(), **run_kwargs)
    return rid, summary


def hosts(engine: Engine, rollout_id: int) -> dict[str, RolloutHost]:
    """The rollout's hosts by device id."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(RolloutHost).where(RolloutHost.rollout_id == rollout_id)
        ).all()
        return {h.device_id: h for h in rows}


def rollout(engine: Engine, rollout_id: int) -> Rollout:
    """The rollout row."""
    with session_scope(engine) as session:
        row = session.get(Rollout, rollout_id)
        assert row is not None
        return row


def events(engine: Engine, rollout_id: int) -> list[RolloutEvent]:
    """The rollout's events in order."""
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(RolloutEvent)
                .where(RolloutEvent.rollout_id == rollout_id)
                .order_by(RolloutEvent.id)
            )
        )
