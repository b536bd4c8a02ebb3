"""The one site/device filter: which sites or devices a listing, an export, a rollout or a
report covers.

Every caller (the API's listings, the Ansible/Prometheus exports, ``kentongan inventory
list``, rollout targets, the SLA report) states its criteria as a :class:`SiteFilter` or
:class:`DeviceFilter` and applies it to its own ``select``; the meaning of "in district X",
"in village Y", "of role Z" is written here once. Tags are matched in Python
(:func:`has_tags`): they are JSON lists, and SQLite and PostgreSQL query JSON differently.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select

from inventory.choices import SiteStatus
from inventory.models import Device, Site

S = TypeVar("S", bound=Select[Any])


@dataclass(frozen=True, slots=True)
class SiteFilter:
    """Sites in a kecamatan (``district``, Kemendagri code), a desa/kelurahan
    (``village``), of some ``kinds``; ``active_only`` leaves decommissioned sites out.
    Every given criterion must hold; None means "any"."""

    district: str | None = None
    village: str | None = None
    kinds: Collection[str] | None = None
    active_only: bool = False

    def apply(self, stmt: S) -> S:
        """``stmt`` (whose FROM has :class:`Site`) narrowed to the matching sites."""
        if self.district:
            stmt = stmt.where(Site.district_code == self.district)
        if self.village:
            stmt = stmt.where(Site.village_code == self.village)
        if self.kinds is not None:
            stmt = stmt.where(Site.kind.in_([str(k) for k in self.kinds]))
        if self.active_only:
            stmt = stmt.where(Site.status != SiteStatus.DECOMMISSIONED.value)
        return stmt


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    """Devices at sites matching ``sites``, at one ``site``, of one ``role``, among
    ``devices`` (ids), optionally only ``enabled`` ones. Every given criterion must hold."""

    sites: SiteFilter = SiteFilter()
    site: str | None = None
    role: str | None = None
    devices: Collection[str] | None = None
    enabled_only: bool = False

    @classmethod
    def of(
        cls,
        *,
        district: str | None = None,
        village: str | None = None,
        site: str | None = None,
        role: str | None = None,
        devices: Iterable[str] | None = None,
        enabled_only: bool = False,
    ) -> DeviceFilter:
        """The filter from the usual keyword criteria (empty ``devices``: any device)."""
        wanted = tuple(devices) if devices else None
        return cls(SiteFilter(district=district, village=village), site=site, role=role,
                   devices=wanted, enabled_only=enabled_only)

    def apply(self, stmt: S) -> S:
        """``stmt`` (whose FROM has :class:`Device` joined to its :class:`Site`) narrowed
        to the matching devices."""
        stmt = self.sites.apply(stmt)
        if self.site:
            stmt = stmt.where(Device.site_id == self.site)
        if self.role:
            stmt = stmt.where(Device.role == str(self.role))
        if self.devices is not None:
            stmt = stmt.where(Device.id.in_(list(self.devices)))
        if self.enabled_only:
            stmt = stmt.where(Device.enabled.is_(True))
        return stmt


def has_tags(wanted: Iterable[str] | None, *tag_lists: Iterable[str] | None) -> bool:
    """Whether every ``wanted`` tag is among the union of ``tag_lists`` (none wanted: yes)."""
    want = set(wanted or ())
    if not want:
        return True
    have: set[str] = set()
    for tags in tag_lists:
        have.update(tags or ())
    return want <= have
