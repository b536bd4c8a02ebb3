"""Runs the scheduler beside the API in ``kentongan serve`` (and the demo).

``api/app.py`` calls :func:`install` (listed in ``kentongan/registry.py``) with every app;
when ``settings.run_poller`` is true
the poller starts in the app's lifespan and stops with it. The running scheduler is
``app.state.poller`` (also ``app.state.scheduler``, which ``/metrics`` reads; None when not
running): ``app.state.poller.stats()`` is its health.
"""

from __future__ import annotations

import logging
from typing import Any

from collectors.scheduler import Scheduler

logger = logging.getLogger(__name__)


async def start_poller(app: Any, *, scheduler: Scheduler | None = None) -> Scheduler:
    """Start polling the inventory in the app's event loop; returns the scheduler.

    The demo may pass its own ``scheduler`` (e.g. with simulated-fleet collectors).
    """
    sched = scheduler or Scheduler.from_settings(app.state.engine, app.state.settings)
    for listener in getattr(app.state, "transition_listeners", []):
        sched.add_transition_listener(listener)
    app.state.poller = app.state.scheduler = sched
    await sched.start()
    return sched


async def stop_poller(app: Any) -> None:
    """Stop the app's poller, if one runs (pending observations are written first)."""
    sched: Scheduler | None = getattr(app.state, "poller", None)
    if sched is None:
        return
    try:
        await sched.stop()
    finally:
        app.state.poller = app.state.scheduler = None


def install(app: Any) -> None:
    """Register the poller's lifespan hooks when ``app.state.settings.run_poller``.

    Other packages may append ``listener(transitions)`` callables to
    ``app.state.transition_listeners`` (before startup) to hear every state change, e.g.
    a kiosk coming back ``up``; they run in a worker thread.
    """
    app.state.poller = app.state.scheduler = None
    if not hasattr(app.state, "transition_listeners"):
        app.state.transition_listeners = []
    if not app.state.settings.run_poller:
        return
    app.state.startup_hooks.append(start_poller)
    app.state.shutdown_hooks.append(stop_poller)
