"""Auto-resume inside ``kentongan serve``: when the poller sees a kiosk come back up, the
rollouts that were waiting for it continue there.

``install(app)`` adds a transition listener for the poller (``collectors.service`` hands
it to the scheduler at startup). Rollouts run on one worker thread of their own, one at a
time, so a long Ansible run never holds up the poller's listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from core.settings import Settings
from inventory.choices import DeviceStatus, SubjectKind

logger = logging.getLogger(__name__)

#: States a device can come back ``up`` from, for the purpose of resuming a rollout.
BACK_FROM = frozenset({DeviceStatus.DOWN, DeviceStatus.UNREACHABLE, DeviceStatus.UNKNOWN})


def make_listener(
    engine: Engine,
    settings: Settings,
    *,
    executor: Executor,
    resume: Callable[..., Any] | None = None,
) -> Callable[[Sequence[Any]], None]:
    """A ``listener(transitions)`` that hands every device that came back up to
    :func:`playbooks.rollout.on_device_up` on ``executor``."""
    if resume is None:
        from playbooks.rollout import on_device_up

        resume = on_device_up

    def _resume(device_id: str) -> None:
        try:
            for summary in resume(engine, device_id, settings=settings):
                logger.info(
                    "auto-resume: rollout %s on %s is %s",
                    summary.rollout_id,
                    device_id,
                    summary.status,
                )
        except Exception:
            logger.exception("auto-resume of rollouts for %s failed", device_id)

    def listener(transitions: Sequence[Any]) -> None:
        for t in transitions:
            if (t.kind == SubjectKind.DEVICE and t.to_status == DeviceStatus.UP
                    and t.from_status in BACK_FROM):
                executor.submit(_resume, t.subject)

    return listener


def install(app: Any) -> None:
    """Register the auto-resume listener and an executor that stops with the app."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout-resume")
    listener = make_listener(app.state.engine, app.state.settings, executor=executor)
    if not hasattr(app.state, "transition_listeners"):
        app.state.transition_listeners = []
    app.state.transition_listeners.append(listener)
    app.state.rollout_resume_executor = executor

    async def _shutdown(_app: Any) -> None:
        executor.shutdown(wait=False, cancel_futures=True)

    app.state.shutdown_hooks.append(_shutdown)
