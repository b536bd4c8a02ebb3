"""Inventory writes for engineers and technicians, every one audited.

* technician+: attest a facility or trained operators (``PUT …/facilities/{facility}``);
* engineer+: create/update sites and devices, delete a device or an attestation.

The audit entry (who, when, what changed: before/after) lands in the same transaction as
the change. The readiness board is refreshed after each write.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from api.auth import EngineerDep, TechnicianDep, audit
from api.deps import SessionDep
from api.params import InputDateTime, SlugId, printable
from api.readiness.board import invalidate_all
from api.routes.inventory import DeviceOut as DevicePublic
from api.routes.inventory import FacilityOut
from api.routes.inventory import SiteOut as SitePublic
from core.timeutil import as_utc, utcnow
from inventory.choices import (
    BOOLEAN_FACILITIES,
    VILLAGE_LEVELS,
    DeviceRole,
    Facility,
    SiteKind,
    SiteStatus,
)
from inventory.models import Device, Link, Region, Site, SiteFacility, SnmpProfile, SshProfile
from inventory.schemas import SLUG, check_address

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["inventory-write"])

SlugPath = SlugId
Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not found"},
    409: {"description": "Conflicts with the inventory"},
}


class FacilityIn(BaseModel):
    """An attestation: the value (1/0 for rooms, a count for trained operators)."""

    model_config = ConfigDict(extra="forbid")

    value: int = Field(ge=0, le=1000)
    evidence: str | None = Field(None, max_length=512,
                                 description="Document or photo reference")
    attested_at: InputDateTime | None = Field(None, description="Default: now")
    expires_at: InputDateTime | None = None

    _printable = field_validator("evidence")(
        lambda v: printable(v, "evidence", multiline=True)
    )


class SiteBase(BaseModel):
    """Fields of a site that can be set."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=160)
    kind: SiteKind | None = None
    status: SiteStatus | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    address: str | None = Field(None, max_length=255)

    @field_validator("name", "address")
    @classmethod
    def _printable(cls, value: str | None, info: ValidationInfo) -> str | None:
        return printable(value, info.field_name or "-", multiline=info.field_name == "address")


class SiteCreate(SiteBase):
    """A new site."""

    id: str = Field(pattern=SLUG, max_length=64)
    name: str = Field(min_length=1, max_length=160)
    kind: SiteKind
    village_code: str = Field(max_length=16, pattern=r"^\d{2}(\.\d{2}){2}(\.\d{4})?$")


class SiteUpdate(SiteBase):
    """Changes to a site (only the fields given)."""


class DeviceBase(BaseModel):
    """Fields of a device that can be set."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = None
    snmp_port: int | None = Field(None, ge=1, le=65535)
    ssh_port: int | None = Field(None, ge=1, le=65535)
    vendor: str | None = Field(None, max_length=64)
    model: str | None = Field(None, max_length=64)
    snmp_profile: str | None = Field(None, max_length=64, pattern=SLUG)
    ssh_profile: str | None = Field(None, max_length=64, pattern=SLUG)
    enabled: bool | None = None

    @field_validator("vendor", "model")
    @classmethod
    def _printable(cls, value: str | None, info: ValidationInfo) -> str | None:
        return printable(value, info.field_name or "-")

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)


class DeviceCreate(DeviceBase):
    """A new device."""

    id: str = Field(pattern=SLUG, max_length=64)
    site: str = Field(pattern=SLUG, max_length=64)
    role: DeviceRole
    address: str


class DeviceUpdate(DeviceBase):
    """Changes to a device (only the fields given)."""


def _plain(obj: Any, fields: list[str]) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in fields}


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v}


def _commit(session: SessionDep) -> None:
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        logger.info("inventory write refused by the database: %s", exc.orig)
        raise HTTPException(status_code=409, detail="conflicts with the inventory (changed "
                            "meanwhile by someone else?): reload and try again") from exc
    invalidate_all()


_FACILITY_FIELDS = ("value", "attested_by", "attested_at", "evidence", "expires_at")


def _upsert_facility(session: SessionDep, values: dict[str, Any]) -> SiteFacility:
    """Insert or update one attestation in a single statement (``INSERT … ON CONFLICT DO
    UPDATE``), so that two people attesting the same facility at once both succeed: the
    last one wins, and neither sees a unique-key error."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(SiteFacility).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[SiteFacility.site_id, SiteFacility.facility],
        set_={f: getattr(stmt.excluded, f) for f in _FACILITY_FIELDS},
    )
    session.execute(stmt)
    row = session.get(SiteFacility, (values["site_id"], values["facility"]),
                      populate_existing=True)
    assert row is not None
    return row


@router.put("/sites/{site_id}/facilities/{facility}", response_model=FacilityOut,
            responses=_ERRORS)
def put_facility(site_id: SlugPath, facility: Facility, body: FacilityIn,
                 principal: TechnicianDep, session: SessionDep) -> FacilityOut:
    """Attest a facility (or the number of trained operators) at a site (technician+).
    The attester is the token's name; the time is now unless given."""
    if session.get(Site, site_id) is None:
        raise HTTPException(status_code=404, detail=f"no site {site_id!r}")
    if facility in BOOLEAN_FACILITIES and body.value not in (0, 1):
        raise HTTPException(status_code=422, detail=f"{facility}: value must be 0 or 1")
    attested_at = as_utc(body.attested_at) if body.attested_at else utcnow()
    expires_at = as_utc(body.expires_at) if body.expires_at else None
    if expires_at is not None and expires_at <= attested_at:
        raise HTTPException(status_code=422, detail="expires_at must be after attested_at")
    fields = list(_FACILITY_FIELDS)
    old = session.get(SiteFacility, (site_id, facility.value))
    before = _plain(old, fields) if old is not None else {}
    row = _upsert_facility(session, {
        "site_id": site_id, "facility": facility.value, "value": body.value,
        "attested_by": principal.name, "attested_at": attested_at, "evidence": body.evidence,
        "expires_at": expires_at,
    })
    audit(session, principal, action="facility.attest", target=f"site:{site_id}/{facility}",
          details={"changes": _changes(before, _plain(row, fields))})
    _commit(session)
    return FacilityOut.model_validate(row)


@router.delete("/sites/{site_id}/facilities/{facility}", status_code=204, responses=_ERRORS,
               response_class=Response)
def delete_facility(site_id: SlugPath, facility: Facility, principal: EngineerDep,
                    session: SessionDep) -> Response:
    """Withdraw an attestation (engineer+): the check becomes unknown."""
    row = session.get(SiteFacility, (site_id, facility.value))
    if row is None:
        raise HTTPException(status_code=404, detail=f"no {facility} attestation at {site_id!r}")
    before = _plain(row, ["value", "attested_by", "attested_at", "evidence", "expires_at"])
    session.delete(row)
    audit(session, principal, action="facility.withdraw", target=f"site:{site_id}/{facility}",
          details={"before": before})
    _commit(session)
    return Response(status_code=204)


_SITE_FIELDS = ["name", "kind", "status", "village_code", "district_code", "lat", "lon",
                "address"]


@router.post("/sites", response_model=SitePublic, status_code=201, responses=_ERRORS)
def create_site(body: SiteCreate, principal: EngineerDep, session: SessionDep) -> SitePublic:
    """Create a site (engineer+). Its village must be a known desa/kelurahan region."""
    if session.get(Site, body.id) is not None:
        raise HTTPException(status_code=409, detail=f"site {body.id!r} exists already")
    region = session.get(Region, body.village_code)
    if region is None:
        raise HTTPException(status_code=409,
                            detail=f"unknown region {body.village_code!r} (import regions first)")
    district = region.parent_code if region.level in VILLAGE_LEVELS else region.code
    site = Site(id=body.id, name=body.name, kind=body.kind.value,
                status=(body.status or SiteStatus.ACTIVE).value, village_code=body.village_code,
                district_code=district or body.village_code, lat=body.lat, lon=body.lon,
                address=body.address, tags=[])
    session.add(site)
    audit(session, principal, action="site.create", target=f"site:{body.id}",
          details={"after": _plain(site, _SITE_FIELDS)})
    _commit(session)
    return SitePublic.model_validate(site)


@router.patch("/sites/{site_id}", response_model=SitePublic, responses=_ERRORS)
def update_site(site_id: SlugPath, body: SiteUpdate, principal: EngineerDep,
                session: SessionDep) -> SitePublic:
    """Change a site (engineer+): only the fields given."""
    site = session.get(Site, site_id)
    if site is None:
        raise HTTPException(status_code=404, detail=f"no site {site_id!r}")
    before = _plain(site, _SITE_FIELDS)
    for key, value in body.model_dump(exclude_unset=True).items():
        if value is None and key in ("name", "kind", "status"):
            raise HTTPException(status_code=422, detail=f"{key} cannot be null")
        setattr(site, key, value.value if hasattr(value, "value") else value)
    audit(session, principal, action="site.update", target=f"site:{site_id}",
          details={"changes": _changes(before, _plain(site, _SITE_FIELDS))})
    _commit(session)
    return SitePublic.model_validate(site)


_DESTINATION_FIELDS = frozenset({"address", "snmp_port", "ssh_port", "snmp_profile",
                                 "ssh_profile"})
_DEVICE_FIELDS = ["site_id", "role", "address", "snmp_port", "ssh_port", "vendor", "model",
                  "snmp_profile", "ssh_profile", "enabled"]


def _check_profiles(session: SessionDep, body: DeviceBase) -> None:
    if body.snmp_profile and session.get(SnmpProfile, body.snmp_profile) is None:
        raise HTTPException(status_code=409, detail=f"unknown snmp profile {body.snmp_profile!r}")
    if body.ssh_profile and session.get(SshProfile, body.ssh_profile) is None:
        raise HTTPException(status_code=409, detail=f"unknown ssh profile {body.ssh_profile!r}")


@router.post("/devices", response_model=DevicePublic, status_code=201, responses=_ERRORS)
def create_device(body: DeviceCreate, principal: EngineerDep,
                  session: SessionDep) -> DevicePublic:
    """Add a device to a site (engineer+)."""
    if session.get(Device, body.id) is not None:
        raise HTTPException(status_code=409, detail=f"device {body.id!r} exists already")
    if session.get(Site, body.site) is None:
        raise HTTPException(status_code=409, detail=f"unknown site {body.site!r}")
    _check_profiles(session, body)
    device = Device(
        id=body.id, site_id=body.site, role=body.role.value, address=body.address,
        snmp_port=body.snmp_port or 161, ssh_port=body.ssh_port or 22, vendor=body.vendor,
        model=body.model, snmp_profile=body.snmp_profile, ssh_profile=body.ssh_profile,
        enabled=True if body.enabled is None else body.enabled, tags=[],
    )
    session.add(device)
    audit(session, principal, action="device.create", target=f"device:{body.id}",
          details={"after": _plain(device, _DEVICE_FIELDS)})
    _commit(session)
    return DevicePublic.model_validate(device)


@router.patch("/devices/{device_id}", response_model=DevicePublic, responses=_ERRORS)
def update_device(device_id: SlugPath, body: DeviceUpdate, principal: EngineerDep,
                  session: SessionDep) -> DevicePublic:
    """Change a device (engineer+): only the fields given."""
    device = session.get(Device, device_id)
    if device is None:
        raise HTTPException(status_code=404, detail=f"no device {device_id!r}")
    _check_profiles(session, body)
    before = _plain(device, _DEVICE_FIELDS)
    for key, value in body.model_dump(exclude_unset=True).items():
        if value is None and key in ("address", "snmp_port", "ssh_port", "enabled"):
            raise HTTPException(status_code=422, detail=f"{key} cannot be null")
        setattr(device, key, value)
    changes = _changes(before, _plain(device, _DEVICE_FIELDS))
    details: dict[str, Any] = {"changes": changes}
    moved = sorted(set(changes) & _DESTINATION_FIELDS)
    if moved:
        # where the device's credentials will be sent next: kept old -> new, and logged
        details["credential_destination_changed"] = moved
        logger.warning("device %s: %s changed by %s (%s)", device_id, ", ".join(moved),
                       principal.name, "; ".join(
                           f"{k}: {changes[k]['from']} -> {changes[k]['to']}" for k in moved))
    audit(session, principal, action="device.update", target=f"device:{device_id}",
          details=details)
    _commit(session)
    return DevicePublic.model_validate(device)


@router.delete("/devices/{device_id}", status_code=204, responses=_ERRORS,
               response_class=Response)
def delete_device(device_id: SlugPath, principal: EngineerDep, session: SessionDep) -> Response:
    """Remove a device (engineer+); refused while a link ends on it or a device hangs
    below it."""
    device = session.get(Device, device_id)
    if device is None:
        raise HTTPException(status_code=404, detail=f"no device {device_id!r}")
    link = session.scalars(select(Link.id).where(
        or_(Link.a_device == device_id, Link.z_device == device_id))).first()
    if link is not None:
        raise HTTPException(status_code=409, detail=f"link {link!r} ends on {device_id!r}")
    child = session.scalars(select(Device.id).where(Device.parent_device_id == device_id)).first()
    if child is not None:
        raise HTTPException(status_code=409, detail=f"device {child!r} depends on {device_id!r}")
    before = _plain(device, _DEVICE_FIELDS)
    session.delete(device)
    audit(session, principal, action="device.delete", target=f"device:{device_id}",
          details={"before": before})
    _commit(session)
    return Response(status_code=204)


def install(app: FastAPI) -> None:
    """Add these routes to ``app``."""
    app.include_router(router)
