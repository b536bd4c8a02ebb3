"""Routes: kiosk app rollouts for technicians (``/api/v1/rollouts``)."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from sqlalchemy.orm import Session

from api.auth import Principal, TechnicianDep, ViewerDep, audit
from api.deps import SessionDep
from api.params import IntId
from core.settings import Settings
from playbooks.api_views import (
    RolloutCreate,
    RolloutDetail,
    RolloutPublic,
    list_rollouts,
    rollout_detail,
)
from playbooks.choices import RolloutStatus
from playbooks.errors import RolloutError
from playbooks.release import (
    DownloadAttempt,
    ReleaseSources,
    pick_release_dir,
    resolve_release,
)
from playbooks.rollout import RolloutOptions, create_rollout, run_rollout
from playbooks.targets import TargetFilter

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/rollouts", tags=["rollouts"])


def _run_in_background(request: Request, rollout_id: int) -> None:
    engine = request.app.state.engine
    settings: Settings = request.app.state.settings

    def target() -> None:
        try:
            run_rollout(engine, rollout_id, settings=settings)
        except Exception:
            logger.exception("rollout %s stopped with an error", rollout_id)

    threading.Thread(target=target, name=f"rollout-{rollout_id}", daemon=True).start()


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RolloutDetail,
    responses={
        400: {
            "description": "Unknown release, URL not an allowed source, download failed, "
            "checksum mismatch, empty target set, unsafe inventory data"
        }
    },
)
def post_rollout(
    body: RolloutCreate, request: Request, session: SessionDep, principal: TechnicianDep
) -> RolloutDetail:
    """Start a rollout (technician or above). The release comes from the server's release
    directory (``KENTONGAN_RELEASE_DIR`` or a directory of ``KENTONGAN_RELEASE_SOURCES``) or
    from ``url`` (under a base URL of ``KENTONGAN_RELEASE_SOURCES``) with its ``sha256``.

    The full request and the person are audited, and so is every download attempt, in the
    same transaction as the rollout. Nothing but the audit is written when the input is
    rejected."""
    settings: Settings = request.app.state.settings
    engine = request.app.state.engine
    asked = body.model_dump(mode="json")
    attempts: list[DownloadAttempt] = []
    sources = ReleaseSources.from_entries(settings.release_sources)
    try:
        release = resolve_release(
            body.version,
            release_dir=pick_release_dir(body.version, [settings.release_dir,
                                                        *sources.directories]),
            url=body.url,
            sha256=body.sha256.lower() if body.sha256 else None,
            sources=sources,
            timeout=settings.release_download_timeout,
            max_bytes=settings.release_download_max_bytes,
            record=attempts.append,
        )
        rollout_id = create_rollout(
            engine,
            release,
            target=TargetFilter(
                district=body.district,
                village=body.village,
                tags=tuple(body.tags),
                devices=tuple(body.devices),
            ),
            options=RolloutOptions(
                canary=body.canary,
                batch=body.batch,
                max_fail=body.max_fail,
                pause=body.pause,
                waves=body.waves,
                canary_village=body.canary_village,
                auto_resume=body.auto_resume,
            ),
            created_by=f"api:{principal.name}",
            session=session,
        )
    except RolloutError as exc:
        session.rollback()
        _audit_attempts(session, principal, attempts, target=f"release:{body.version}")
        audit(session, principal, action="rollout.refused", target=f"release:{body.version}",
              details={"request": asked, "error": str(exc)})
        session.commit()
        raise HTTPException(status_code=400, detail=str(exc)) from None
    except BaseException:
        session.rollback()
        raise
    _audit_attempts(session, principal, attempts, target=f"rollout:{rollout_id}")
    audit(
        session,
        principal,
        action="rollout.start",
        target=f"rollout:{rollout_id}",
        details={"request": asked, "release": release.as_params()},
    )
    session.commit()
    if body.run:
        _run_in_background(request, rollout_id)
    detail = rollout_detail(session, rollout_id)
    assert detail is not None
    return detail


def _audit_attempts(
    session: Session, principal: Principal, attempts: list[DownloadAttempt], *, target: str
) -> None:
    for attempt in attempts:
        audit(session, principal, action="rollout.download", target=target,
              details=attempt.as_details())


@router.get("", response_model=list[RolloutPublic])
def get_rollouts(
    session: SessionDep,
    _principal: ViewerDep,
    status_filter: Annotated[RolloutStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[RolloutPublic]:
    """Rollouts, newest first (viewer or above)."""
    return list_rollouts(
        session, status=str(status_filter) if status_filter else None, limit=limit, offset=offset
    )


@router.get("/{rollout_id}", response_model=RolloutDetail, responses={404: {}})
def get_rollout(rollout_id: IntId, session: SessionDep, _principal: ViewerDep) -> RolloutDetail:
    """One rollout with every kiosk's state, last task and message (viewer or above)."""
    detail = rollout_detail(session, rollout_id)
    if detail is None:
        raise HTTPException(status_code=404, detail=f"no rollout {rollout_id}")
    return detail


def install(app: FastAPI) -> None:
    """Mount the rollout routes."""
    app.include_router(router)
