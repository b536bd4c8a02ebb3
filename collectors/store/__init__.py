"""The observation store: current state, state transitions, availability and flaps.

Writers (the scheduler, ``kentongan poll``) call :func:`record_observations` once per poll
cycle with every observation of that cycle: one batch, one commit by the caller.

Readers (API, readiness, ``/metrics``) call the query functions:

* :func:`device_states` — current state of devices (staleness applied: old data reads
  ``unknown``, never ``up``);
* :func:`link_states` — current state of links;
* :func:`interface_states` — interfaces of one or more devices (monotonic counters);
* :func:`transitions` — persisted state changes;
* :func:`availability` — availability % of a device, link, site, village or district
  over any window, maintenance excluded, ``unreachable`` not counted as downtime.

Rules:

* A device is ``down`` only after ``down_after_failures`` consecutive failed polls; until
  then it keeps its previous state (one lost UDP reply never pages anyone).
* A device whose parent device, or whose site's uplink (its A-end device, or its A-end
  interface), is down is ``unreachable``: a state of its own, not its own downtime. While
  the device in front of a failing device is itself failing (but not yet down), the failing
  device keeps its previous state: devices behind a cut reach N failures at different
  moments, and the one behind must not be called ``down`` first. Failures seen while
  ``unreachable`` do not count: once the fault in front is repaired, a device needs
  ``down_after_failures`` failed polls of its own before it is ``down``.
* A link is ``down`` when its A or Z interface reports oper down, or its far end (Z) is
  down; ``unreachable`` when its A end is down or unreachable; ``up`` when an end
  interface reports up or the far end answers; otherwise ``unknown``.

Modules: :mod:`~collectors.store.writes` (writes), :mod:`~collectors.store.derive`
(derived states), :mod:`~collectors.store.views` (read views),
:mod:`~collectors.store.availability` (availability, flaps), :mod:`~collectors.store.policy`
(statuses, policy and the freshness rule), :mod:`~collectors.store.counters`.
"""

from __future__ import annotations

from collectors.store.availability import (
    GROUP_KINDS,
    VILLAGE_SITE_KINDS,
    AvailabilityManyFn,
    AvailabilityResult,
    Interval,
    availability,
    availability_many,
    flap_counts,
    village_uplink_availability,
    village_uplinks,
)
from collectors.store.counters import TIMETICKS_MODULUS, counter_delta, uptime_went_back
from collectors.store.derive import recompute_states
from collectors.store.policy import (
    DOWN,
    UNKNOWN,
    UNREACHABLE,
    UP,
    StorePolicy,
    Transition,
    fresh_until,
    is_fresh,
    stale_after_seconds,
)
from collectors.store.views import (
    DeviceStateView,
    InterfaceStateView,
    LinkStateView,
    device_states,
    interface_states,
    link_states,
    transitions,
)
from collectors.store.writes import record_observations

__all__ = [
    "DOWN",
    "GROUP_KINDS",
    "TIMETICKS_MODULUS",
    "UNKNOWN",
    "UNREACHABLE",
    "UP",
    "VILLAGE_SITE_KINDS",
    "AvailabilityManyFn",
    "AvailabilityResult",
    "DeviceStateView",
    "InterfaceStateView",
    "Interval",
    "LinkStateView",
    "StorePolicy",
    "Transition",
    "availability",
    "availability_many",
    "counter_delta",
    "device_states",
    "flap_counts",
    "fresh_until",
    "interface_states",
    "is_fresh",
    "link_states",
    "recompute_states",
    "record_observations",
    "stale_after_seconds",
    "transitions",
    "uptime_went_back",
    "village_uplink_availability",
    "village_uplinks",
]
