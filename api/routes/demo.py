"""``/api/v1/demo/faults``: make and clear faults in the demo's simulated fleet.

Exists only in demo mode: ``kentongan demo`` calls :func:`install_demo` with its fault
injector; :func:`api.app.create_app` never installs it. Every route needs an admin token
and every change is audited. Routes are plain functions: FastAPI runs them in its
thread pool, so starting a kiosk's sshd or writing the audit row never blocks the loop.
``kentongan demo fault …`` is the CLI on top.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, FastAPI, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AdminDep, Principal, audit
from api.deps import SessionDep
from collectors.simfleet.faults import Fault, FaultError, FaultInjector

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/demo", tags=["demo"])

_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"
MAX_DURATION = 7 * 86400.0


class FaultPublic(BaseModel):
    """A fault as the API shows it (times UTC)."""

    id: int
    kind: str
    subject: str
    began_at: str
    ended_at: str | None
    ends_by: str | None
    by: str
    ended_by: str | None
    devices: list[str]


class CutRequest(BaseModel):
    """Cut a fibre link, for ``for_seconds`` if given (else until repaired)."""

    model_config = ConfigDict(extra="forbid")
    link: str = Field(pattern=_ID)
    for_seconds: float | None = Field(default=None, gt=0, le=MAX_DURATION)


class RepairRequest(BaseModel):
    """Repair a cut fibre link."""

    model_config = ConfigDict(extra="forbid")
    link: str = Field(pattern=_ID)


class PowerRequest(BaseModel):
    """Cut (``off``) or restore (``on``) a site's mains power."""

    model_config = ConfigDict(extra="forbid")
    site: str = Field(pattern=_ID)
    state: Literal["off", "on"]
    for_seconds: float | None = Field(default=None, gt=0, le=MAX_DURATION)


class KioskRequest(BaseModel):
    """Switch a kiosk off (``stop``) or on (``start``)."""

    model_config = ConfigDict(extra="forbid")
    kiosk: str = Field(pattern=_ID)
    state: Literal["stop", "start"]
    for_seconds: float | None = Field(default=None, gt=0, le=MAX_DURATION)


class SilenceRequest(BaseModel):
    """Make a device's agent stop answering (``silent: true``) or answer again."""

    model_config = ConfigDict(extra="forbid")
    device: str = Field(pattern=_ID)
    silent: bool = True
    for_seconds: float | None = Field(default=None, gt=0, le=MAX_DURATION)


def _injector(request: Request) -> FaultInjector:
    injector: FaultInjector | None = getattr(request.app.state, "demo_faults", None)
    if injector is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "faults exist only in `kentongan demo`")
    return injector


def _public(fault: Fault) -> FaultPublic:
    return FaultPublic.model_validate(fault.as_dict())


def _apply(session: SessionDep, principal: Principal, action: str, target: str,
           details: dict[str, object], call: Callable[[], Fault]) -> FaultPublic:
    try:
        fault = call()
    except FaultError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    audit(session, principal, action=action, target=target, details={**details,
                                                                     "fault": fault.id})
    session.commit()
    return _public(fault)


@router.get("/faults", response_model=list[FaultPublic])
def list_faults(request: Request, _admin: AdminDep, active: bool = False) -> list[FaultPublic]:
    """Faults made so far (``active=true``: only those that still hold)."""
    injector = _injector(request)
    faults = injector.active() if active else list(injector.log)
    return [_public(f) for f in faults]


@router.post("/faults/cut", response_model=FaultPublic, status_code=201)
def cut(body: CutRequest, request: Request, session: SessionDep,
              admin: AdminDep) -> FaultPublic:
    """Cut a fibre link: its A-end port goes down and everything behind it goes silent."""
    injector = _injector(request)
    return _apply(session, admin, "demo.fault.cut", f"link:{body.link}",
                        {"for_seconds": body.for_seconds},
                        lambda: injector.cut(body.link, by=admin.name,
                                             duration=body.for_seconds))


@router.post("/faults/repair", response_model=FaultPublic)
def repair(body: RepairRequest, request: Request, session: SessionDep,
                 admin: AdminDep) -> FaultPublic:
    """Repair a cut link."""
    injector = _injector(request)
    return _apply(session, admin, "demo.fault.repair", f"link:{body.link}", {},
                        lambda: injector.repair(body.link, by=admin.name))


@router.post("/faults/power", response_model=FaultPublic)
def power(body: PowerRequest, request: Request, session: SessionDep,
                admin: AdminDep) -> FaultPublic:
    """Cut or restore a site's mains power (its UPSes go on battery and back)."""
    injector = _injector(request)
    return _apply(session, admin, f"demo.fault.power_{body.state}",
                        f"site:{body.site}", {"for_seconds": body.for_seconds},
                        lambda: injector.power(body.site, on=body.state == "on", by=admin.name,
                                               duration=body.for_seconds))


@router.post("/faults/kiosk", response_model=FaultPublic)
def kiosk(body: KioskRequest, request: Request, session: SessionDep,
                admin: AdminDep) -> FaultPublic:
    """Switch a kiosk off or on."""
    injector = _injector(request)
    return _apply(session, admin, f"demo.fault.kiosk_{body.state}",
                        f"device:{body.kiosk}", {"for_seconds": body.for_seconds},
                        lambda: injector.kiosk(body.kiosk, running=body.state == "start",
                                               by=admin.name, duration=body.for_seconds))


@router.post("/faults/silence", response_model=FaultPublic)
def silence(body: SilenceRequest, request: Request, session: SessionDep,
                  admin: AdminDep) -> FaultPublic:
    """Silence a device's agent, or let it answer again."""
    injector = _injector(request)
    if body.silent:
        def call() -> Fault:
            return injector.silence(body.device, by=admin.name, duration=body.for_seconds)
    else:
        def call() -> Fault:
            return injector.unsilence(body.device, by=admin.name)
    return _apply(session, admin,
                        "demo.fault.silence" if body.silent else "demo.fault.unsilence",
                        f"device:{body.device}", {"for_seconds": body.for_seconds}, call)


def install_demo(app: FastAPI, injector: FaultInjector) -> None:
    """Add the fault routes to a demo app (never called outside ``kentongan demo``)."""
    app.state.demo_faults = injector
    app.include_router(router)
