"""Read models of rollouts (pydantic), shared by the API and the CLI."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from playbooks.choices import WaveMode
from playbooks.models import Rollout, RolloutHost
from playbooks.rollout import rollout_is_stale


class RolloutHostPublic(BaseModel):
    """One kiosk within a rollout."""

    model_config = ConfigDict(from_attributes=True)

    device_id: str
    village_code: str | None
    district_code: str | None
    batch: int
    state: str
    attempts: int
    last_task: str | None
    message: str | None
    previous_version: str | None
    updated_at: datetime
    next_try_at: datetime | None


class RolloutPublic(BaseModel):
    """A rollout without its hosts."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    version: str
    status: str
    message: str | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    current_batch: int | None
    stale: bool = False
    counts: dict[str, int] = Field(default_factory=dict)


class RolloutDetail(RolloutPublic):
    """A rollout with its options and every host."""

    params: dict[str, object]
    hosts: list[RolloutHostPublic]


class RolloutCreate(BaseModel):
    """What a technician asks for: release (from the configured release directory, or a
    URL with its sha256), targets and batching."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=64, examples=["1.4.0"])
    url: str | None = Field(default=None, max_length=2048)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    canary: int = Field(default=1, ge=0, le=1000)
    batch: str = Field(default="25%", pattern=r"^\d{1,5}(\.\d+)?%?$", examples=["25%", "5"])
    max_fail: float = Field(default=10.0, ge=0, le=100)
    pause: float = Field(default=0.0, ge=0, le=86400)
    district: str | None = Field(default=None, pattern=r"^[0-9.]{1,16}$")
    village: str | None = Field(default=None, pattern=r"^[0-9.]{1,16}$")
    tags: list[str] = Field(default_factory=list, max_length=20)
    devices: list[str] = Field(default_factory=list, max_length=5000)
    waves: WaveMode = WaveMode.FLAT
    canary_village: str | None = Field(default=None, pattern=r"^[0-9.]{1,16}$")
    auto_resume: bool | None = None
    run: bool = Field(default=True, description="Start running at once (in the server).")


def _counts(session: Session, ids: list[int]) -> dict[int, dict[str, int]]:
    result: dict[int, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return result
    for rid, state in session.execute(
        select(RolloutHost.rollout_id, RolloutHost.state).where(RolloutHost.rollout_id.in_(ids))
    ):
        result[rid][state] = result[rid].get(state, 0) + 1
    return result


def _public(row: Rollout, counts: dict[str, int]) -> RolloutPublic:
    item = RolloutPublic.model_validate(row)
    item.stale = rollout_is_stale(row)
    item.counts = counts
    return item


def list_rollouts(
    session: Session, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[RolloutPublic]:
    """Rollouts, newest first."""
    stmt = select(Rollout).order_by(Rollout.id.desc()).limit(limit).offset(offset)
    if status:
        stmt = stmt.where(Rollout.status == status)
    rows = session.scalars(stmt).all()
    counts = _counts(session, [r.id for r in rows])
    return [_public(r, counts[r.id]) for r in rows]


def rollout_detail(session: Session, rollout_id: int) -> RolloutDetail | None:
    """One rollout with its hosts, or None."""
    row = session.get(Rollout, rollout_id)
    if row is None:
        return None
    hosts = session.scalars(
        select(RolloutHost)
        .where(RolloutHost.rollout_id == rollout_id)
        .order_by(RolloutHost.batch, RolloutHost.device_id)
    ).all()
    base = _public(row, _counts(session, [rollout_id])[rollout_id])
    return RolloutDetail(
        **base.model_dump(),
        params=dict(row.params or {}),
        hosts=[RolloutHostPublic.model_validate(h) for h in hosts],
    )
