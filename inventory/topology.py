"""The fibre tree: who depends on whom, from the regency NOC down to each kiosk.

Rules, in order, for what a device depends on:

1. its explicit ``parent_device_id``;
2. the Z end of a site's uplink (the site's *gateway*) depends on that uplink link, and a
   link depends on its A-end device;
3. any other device depends on its site's gateway.

A site's upstream path is its uplink, then the uplink of the A-end device's site, and so on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import Device, Link, Site

NodeKind = Literal["device", "link"]


@dataclass(frozen=True, slots=True)
class Node:
    """A device or a link in the dependency tree."""

    kind: NodeKind
    id: str


@dataclass(slots=True)
class Topology:
    """An in-memory snapshot of the dependency tree (load with :meth:`load`)."""

    device_site: dict[str, str] = field(default_factory=dict)
    device_role: dict[str, str] = field(default_factory=dict)
    device_parent: dict[str, str | None] = field(default_factory=dict)
    link_ends: dict[str, tuple[str, str]] = field(default_factory=dict)
    link_medium: dict[str, str] = field(default_factory=dict)
    site_uplink: dict[str, str] = field(default_factory=dict)
    site_village: dict[str, str] = field(default_factory=dict)
    site_district: dict[str, str] = field(default_factory=dict)
    site_kind: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Topology:
        """Read the tree from the inventory in three queries."""
        topo = cls()
        for sid, village, district, kind in session.execute(
            select(Site.id, Site.village_code, Site.district_code, Site.kind)
        ):
            topo.site_village[sid] = village
            topo.site_district[sid] = district
            topo.site_kind[sid] = kind
        for did, site, role, parent in session.execute(
            select(Device.id, Device.site_id, Device.role, Device.parent_device_id)
        ):
            topo.device_site[did] = site
            topo.device_role[did] = role
            topo.device_parent[did] = parent
        for lid, a, z, medium, uplink_of in session.execute(
            select(Link.id, Link.a_device, Link.z_device, Link.medium, Link.uplink_of)
        ):
            topo.link_ends[lid] = (a, z)
            topo.link_medium[lid] = medium
            if uplink_of:
                topo.site_uplink[uplink_of] = lid
        return topo

    def gateway(self, site_id: str) -> str | None:
        """The device where the site's uplink lands (its Z end), if the site has one."""
        link = self.site_uplink.get(site_id)
        if link is None:
            return None
        z = self.link_ends[link][1]
        return z if self.device_site.get(z) == site_id else None

    def parent(self, node: Node) -> Node | None:
        """The node ``node`` directly depends on (None at the root)."""
        if node.kind == "link":
            a = self.link_ends.get(node.id, (None, None))[0]
            return Node("device", a) if a else None
        explicit = self.device_parent.get(node.id)
        if explicit:
            return Node("device", explicit)
        site = self.device_site.get(node.id)
        if site is None:
            return None
        gateway = self.gateway(site)
        if gateway == node.id:
            return Node("link", self.site_uplink[site])
        if gateway is not None:
            return Node("device", gateway)
        return None

    def upstream(self, node: Node) -> list[Node]:
        """Every node ``node`` depends on, nearest first (cycles are cut)."""
        chain: list[Node] = []
        seen = {node}
        current = self.parent(node)
        while current is not None and current not in seen:
            chain.append(current)
            seen.add(current)
            current = self.parent(current)
        return chain

    def upstream_links(self, site_id: str) -> list[str]:
        """The links from ``site_id`` towards the NOC, its own uplink first."""
        gateway = self.gateway(site_id)
        if gateway is None:
            link = self.site_uplink.get(site_id)
            if link is None:
                return []
            return [link] + [n.id for n in self.upstream(Node("link", link)) if n.kind == "link"]
        return [n.id for n in self.upstream(Node("device", gateway)) if n.kind == "link"]

    def device_upstream_links(self, device_id: str) -> list[str]:
        """The links a device depends on, nearest first."""
        return [n.id for n in self.upstream(Node("device", device_id)) if n.kind == "link"]

    def children(self) -> dict[Node, list[Node]]:
        """The reverse of :meth:`parent` for every node."""
        result: dict[Node, list[Node]] = defaultdict(list)
        for did in self.device_site:
            node = Node("device", did)
            parent = self.parent(node)
            if parent is not None:
                result[parent].append(node)
        for lid in self.link_ends:
            node = Node("link", lid)
            parent = self.parent(node)
            if parent is not None:
                result[parent].append(node)
        return result

    def behind(self, node: Node) -> set[Node]:
        """Every node that depends on ``node``, directly or not."""
        children = self.children()
        found: set[Node] = set()
        stack = list(children.get(node, []))
        while stack:
            current = stack.pop()
            if current in found:
                continue
            found.add(current)
            stack.extend(children.get(current, []))
        return found

    def sites_behind(self, link_id: str) -> set[str]:
        """Sites whose devices all or partly sit behind ``link_id``."""
        return {
            self.device_site[n.id]
            for n in self.behind(Node("link", link_id))
            if n.kind == "device" and n.id in self.device_site
        }
