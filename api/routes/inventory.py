"""Inventory reads: regions, sites, devices and links, with filters and pagination.

Regions and sites are readable like readiness (public when ``public_readiness``);
devices and links carry management addresses and need a viewer token or above.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from api.auth import Principal, Role, optional_principal, require_role
from api.deps import SessionDep
from api.params import SlugId, text_query
from api.readiness.fields import UtcDateTime
from inventory.models import Device, Link, Region, Site, SiteFacility
from inventory.query import DeviceFilter, SiteFilter
from inventory.topology import Topology

router = APIRouter(prefix="/api/v1", tags=["inventory"])

T = TypeVar("T")

Viewer = Annotated[Principal, Depends(require_role(Role.VIEWER))]
Reader = Annotated[Principal | None, Depends(optional_principal)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip")]
Code = Annotated[
    str | None, Query(pattern=r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$", description="Region code")
]


class Page(BaseModel, Generic[T]):
    """One page of results."""

    total: int
    limit: int
    offset: int
    items: list[T]


class RegionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    level: str
    parent_code: str | None
    lat: float | None
    lon: float | None


class FacilityOut(BaseModel):
    """An attestation as stored."""

    model_config = ConfigDict(from_attributes=True)

    site_id: str
    facility: str
    value: int
    attested_by: str | None
    attested_at: UtcDateTime | None
    evidence: str | None
    expires_at: UtcDateTime | None


class SiteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    kind: str
    status: str
    village_code: str
    district_code: str
    lat: float | None
    lon: float | None
    address: str | None
    tags: list[str]


class SiteDetail(SiteOut):
    facilities: list[FacilityOut] = Field(default_factory=list)
    uplink: str | None = None
    upstream_links: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    site_id: str
    role: str
    address: str
    snmp_port: int
    ssh_port: int
    device_type: str | None
    vendor: str | None
    model: str | None
    snmp_profile: str | None
    ssh_profile: str | None
    parent_device_id: str | None
    poll_interval: float | None
    enabled: bool
    tags: list[str]


class DeviceDetail(DeviceOut):
    upstream: list[str] = Field(default_factory=list, description="kind:id, nearest first")


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    medium: str
    a_device: str
    a_interface: str
    z_device: str
    z_interface: str
    provider: str | None
    capacity_bps: int | None
    length_m: float | None
    uplink_of: str | None


def _page(
    session: Session, query: Select[Any], out: type[BaseModel], limit: int, offset: int
) -> Any:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = [out.model_validate(row) for row in session.scalars(query.limit(limit).offset(offset))]
    return Page[out](total=total, limit=limit, offset=offset, items=items)  # type: ignore[valid-type]


@router.get("/regions", response_model=Page[RegionOut])
def list_regions(
    session: SessionDep,
    _caller: Reader,
    level: Annotated[
        str | None, Query(pattern="^(provinsi|kabupaten|kota|kecamatan|desa|kelurahan)$")
    ] = None,
    parent: Code = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """Kemendagri regions (kecamatan, desa, kelurahan…), by level or parent code."""
    query = select(Region).order_by(Region.code)
    if level:
        query = query.where(Region.level == level)
    if parent:
        query = query.where(Region.parent_code == parent)
    return _page(session, query, RegionOut, limit, offset)


@router.get("/sites", response_model=Page[SiteOut])
def list_sites(
    session: SessionDep,
    _caller: Reader,
    district: Code = None,
    village: Code = None,
    kind: Annotated[str | None, text_query(32)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """Sites, filtered by kecamatan, village or kind."""
    flt = SiteFilter(district=district, village=village, kinds=[kind] if kind else None)
    query = flt.apply(select(Site).order_by(Site.id))
    return _page(session, query, SiteOut, limit, offset)


@router.get("/sites/{site_id}", response_model=SiteDetail)
def get_site(site_id: SlugId, session: SessionDep, _caller: Reader) -> SiteDetail:
    """One site with its facilities (attestations), devices and upstream links."""
    site = session.get(Site, site_id)
    if site is None:
        raise HTTPException(404, f"no site {site_id!r}")
    facilities = session.scalars(
        select(SiteFacility).where(SiteFacility.site_id == site_id).order_by(SiteFacility.facility)
    )
    topo = Topology.load(session)
    links = topo.upstream_links(site_id)
    return SiteDetail(
        **SiteOut.model_validate(site).model_dump(),
        facilities=[FacilityOut.model_validate(f) for f in facilities],
        uplink=topo.site_uplink.get(site_id),
        upstream_links=links,
        devices=sorted(d for d, s in topo.device_site.items() if s == site_id),
    )


@router.get("/devices", response_model=Page[DeviceOut])
def list_devices(
    session: SessionDep,
    _caller: Viewer,
    district: Code = None,
    village: Code = None,
    site: Annotated[str | None, text_query(64)] = None,
    role: Annotated[str | None, text_query(16)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """Devices, filtered by kecamatan, village, site or role."""
    flt = DeviceFilter.of(district=district, village=village, site=site, role=role)
    query = flt.apply(select(Device).join(Site, Site.id == Device.site_id).order_by(Device.id))
    return _page(session, query, DeviceOut, limit, offset)


@router.get("/devices/{device_id}", response_model=DeviceDetail)
def get_device(device_id: SlugId, session: SessionDep, _caller: Viewer) -> DeviceDetail:
    """One device and what it depends on (parent devices and links, nearest first)."""
    device = session.get(Device, device_id)
    if device is None:
        raise HTTPException(404, f"no device {device_id!r}")
    from inventory.topology import Node

    chain = Topology.load(session).upstream(Node("device", device_id))
    return DeviceDetail(
        **DeviceOut.model_validate(device).model_dump(),
        upstream=[f"{n.kind}:{n.id}" for n in chain],
    )


@router.get("/links", response_model=Page[LinkOut])
def list_links(
    session: SessionDep,
    _caller: Viewer,
    medium: Annotated[str | None, Query(pattern="^(fibre|radio|vsat|lte)$")] = None,
    device: Annotated[str | None, text_query(64)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """Links, filtered by medium or by a device at either end."""
    query = select(Link).order_by(Link.id)
    if medium:
        query = query.where(Link.medium == medium)
    if device:
        query = query.where((Link.a_device == device) | (Link.z_device == device))
    return _page(session, query, LinkOut, limit, offset)


@router.get("/links/{link_id}", response_model=LinkOut)
def get_link(link_id: SlugId, session: SessionDep, _caller: Viewer) -> Any:
    """One link."""
    link = session.get(Link, link_id)
    if link is None:
        raise HTTPException(404, f"no link {link_id!r}")
    return link


def install(app: FastAPI) -> None:
    app.include_router(router)
