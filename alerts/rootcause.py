"""Root cause over the fibre tree: pure functions of topology and states.

When several sites behind one upstream link go down together, the probable cause is that
link, not each site. For one device, the probable cause is the first thing it depends on
that is down (a link or a device), else mains power (its site's UPS on battery), else the
device itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from inventory.topology import Node, Topology


class CauseKind(StrEnum):
    """What an outage is attributed to."""

    LINK = "link"
    POWER = "power"
    DEVICE = "device"


@dataclass(frozen=True, slots=True)
class Cause:
    """A probable cause: its kind and subject (link id, site id for power, device id)."""

    kind: CauseKind
    subject: str

    @property
    def text(self) -> str:
        """``link:fo-core-glagah`` style, as stored on incidents."""
        return f"{self.kind.value}:{self.subject}"


def device_cause(
    topo: Topology,
    device_id: str,
    *,
    down_links: Collection[str] = (),
    down_devices: Collection[str] = (),
    on_battery_sites: Collection[str] = (),
) -> Cause:
    """The probable cause of one device's outage.

    The farthest-upstream down node wins (a cut near the NOC explains everything below it);
    then power at the device's site; then the device itself.
    """
    chain = topo.upstream(Node("device", device_id))
    for node in reversed(chain):
        if node.kind == "link" and node.id in down_links:
            return Cause(CauseKind.LINK, node.id)
        if node.kind == "device" and node.id in down_devices:
            return Cause(CauseKind.DEVICE, node.id)
    site = topo.device_site.get(device_id)
    if site is not None and site in on_battery_sites:
        return Cause(CauseKind.POWER, site)
    return Cause(CauseKind.DEVICE, device_id)


def common_upstream(
    topo: Topology, sites: Iterable[str], *, min_sites: int = 2
) -> dict[str, set[str]]:
    """Group down sites by the farthest-upstream link that at least ``min_sites`` of them
    share: ``{link: {site, …}}``. Sites sharing nothing with another are left out.

    Each site is assigned once, to the link nearest the NOC that still covers
    ``min_sites`` down sites, so a district-wide cut is named once, not per village.
    """
    paths = {s: list(reversed(topo.upstream_links(s))) for s in set(sites)}
    counts: Counter[str] = Counter(link for path in paths.values() for link in set(path))
    groups: dict[str, set[str]] = {}
    for site, path in paths.items():
        for link in path:
            if counts[link] >= min_sites:
                groups.setdefault(link, set()).add(site)
                break
    return groups


def area_outages(
    topo: Topology,
    down_devices: Iterable[str],
    *,
    min_sites: int = 2,
) -> dict[str, set[str]]:
    """Area outages from down devices: ``{upstream link: {sites}}`` (see
    :func:`common_upstream`)."""
    sites = {topo.device_site[d] for d in down_devices if d in topo.device_site}
    return common_upstream(topo, sites, min_sites=min_sites)


def outage_cause(
    topo: Topology,
    device_id: str,
    *,
    link_down: Mapping[str, bool],
    device_down: Mapping[str, bool],
    site_on_battery: Mapping[str, bool],
) -> Cause:
    """:func:`device_cause` over state maps (True = down / on battery) at one instant."""
    return device_cause(
        topo,
        device_id,
        down_links={k for k, v in link_down.items() if v},
        down_devices={k for k, v in device_down.items() if v and k != device_id},
        on_battery_sites={k for k, v in site_on_battery.items() if v},
    )
