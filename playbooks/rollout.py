"""Rollout orchestration: create a rollout record, run it batch by batch through
:func:`playbooks.runner.run_playbook`, stream every event into the database, halt on
failures, wait for unreachable kiosks, and resume after a crash.

Public entry points: :func:`create_rollout`, :func:`run_rollout`, :func:`resume_rollout`,
:func:`abort_rollout`, :func:`on_device_up` (the poller's auto-resume hook) and
:func:`rollout_is_stale`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from core.settings import Settings, get_settings
from core.timeutil import as_utc, format_wib, utcnow
from inventory.db import session_scope
from inventory.models import Device, Site, SshProfile
from playbooks.choices import (
    DONE_STATES,
    FAILURE_STATES,
    FINAL_STATUSES,
    SUCCESS_STATES,
    HostState,
    RolloutStatus,
    WaveMode,
)
from playbooks.errors import RolloutError, TargetError
from playbooks.models import Rollout, RolloutEvent, RolloutHost
from playbooks.release import ReleaseSpec
from playbooks.runner import EventHandler, PlaybookResult, UnsafeKeyError, run_playbook, unsafe
from playbooks.schedule import (
    BatchSize,
    HostSlot,
    ServiceWindow,
    backoff,
    failure_percent,
    over_threshold,
    plan_batches,
)
from playbooks.targets import (
    KioskTarget,
    TargetFilter,
    ansible_inventory,
    select_targets,
    target_from_rows,
)

logger = logging.getLogger(__name__)

UPDATE_PLAYBOOK = "kiosk-update.yml"
STALE_AFTER = timedelta(seconds=120)
HEARTBEAT_SECONDS = 5.0
ROLLED_BACK_MARK = "ROLLED_BACK"
QUERY_TASK = "Note the running release"
_ALLOWED_ANSIBLE_VARS = frozenset({"ansible_python_interpreter"})
_VAR_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class RolloutOptions:
    """How a rollout proceeds (stored with the rollout, so ``resume`` uses the same)."""

    canary: int = 1
    batch: str = "25%"
    max_fail: float = 10.0
    pause: float = 0.0
    waves: WaveMode = WaveMode.FLAT
    canary_village: str | None = None
    forks: int = 20
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    respect_service_hours: bool = True
    auto_resume: bool | None = None

    def as_params(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["waves"] = str(self.waves)
        data["extra_vars"] = dict(self.extra_vars)
        return data

    @classmethod
    def from_params(cls, data: Mapping[str, Any]) -> RolloutOptions:
        """Inverse of :meth:`as_params`."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "waves" in known:
            known["waves"] = WaveMode(known["waves"])
        return cls(**known)


@dataclass(frozen=True, slots=True)
class HostProgress:
    """One kiosk reached a state (for progress bars)."""

    rollout_id: int
    device_id: str
    state: str
    message: str | None
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class RolloutSummary:
    """Where a rollout stands after a run: status, message and host counts by state."""

    rollout_id: int
    status: str
    message: str | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Number of hosts in the rollout."""
        return sum(self.counts.values())


ProgressCallback = Callable[[HostProgress], None]


def parse_percent(text: str | float | int) -> float:
    """``"10%"``, ``"10"`` or ``10`` → 10.0; raises on anything outside 0…100."""
    raw = str(text).strip().rstrip("%").strip()
    try:
        value = float(raw)
    except ValueError as exc:
        raise RolloutError(f"{text!r} is not a percentage (for example 10%)") from exc
    if not 0 <= value <= 100:
        raise RolloutError(f"{text!r} must be between 0% and 100%")
    return value


def _check_extra_vars(extra: Mapping[str, Any]) -> None:
    try:
        unsafe(dict(extra), where="extra variables")
    except UnsafeKeyError as exc:
        raise RolloutError(str(exc)) from None
    for key in extra:
        if not key or not set(key) <= _VAR_NAME_CHARS or key[0].isdigit():
            raise RolloutError(f"extra variable name {key!r} is not a valid Ansible name")
        if key.startswith("ansible_") and key not in _ALLOWED_ANSIBLE_VARS:
            raise RolloutError(
                f"extra variable {key!r} would change how Ansible connects; connection "
                "settings come from the inventory (SSH profile), not from --var"
            )


# --------------------------------------------------------------------------- creation


def create_rollout(
    engine: Engine,
    release: ReleaseSpec,
    *,
    target: TargetFilter,
    options: RolloutOptions | None = None,
    created_by: str = "cli",
    playbook: str = UPDATE_PLAYBOOK,
    session: Session | None = None,
) -> int:
    """Check everything, then write the rollout and its hosts in one transaction.

    Raises :class:`RolloutError` (nothing written) when the target set is empty, a
    host's inventory data is unsafe, or an option is invalid. Returns the rollout id.
    With ``session``, the rows are written (flushed) in the caller's transaction, which
    the caller commits (with its audit entry).
    """
    opts = options or RolloutOptions()
    if opts.canary < 0:
        raise RolloutError("--canary must be 0 or more")
    if opts.forks < 1:
        raise RolloutError("--forks must be at least 1")
    if opts.pause < 0:
        raise RolloutError("--pause must be 0 or more seconds")
    batch = BatchSize.parse(opts.batch)
    parse_percent(opts.max_fail)
    _check_extra_vars(opts.extra_vars)
    scope = contextlib.nullcontext(session) if session is not None else session_scope(engine)
    with scope as session:
        targets = select_targets(session, target)
        slots = [HostSlot(t.device_id, t.village_code, t.district_code) for t in targets]
        batches = plan_batches(
            slots,
            canary=opts.canary,
            batch=batch,
            waves=opts.waves,
            canary_village=opts.canary_village,
        )
        by_id = {t.device_id: t for t in targets}
        now = utcnow()
        rollout = Rollout(
            version=release.version,
            playbook=playbook,
            params={
                "release": release.as_params(),
                "target": target.as_params(),
                "options": opts.as_params(),
            },
            status=RolloutStatus.PENDING,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        session.add(rollout)
        session.flush()
        for number, ids in enumerate(batches):
            for device_id in ids:
                t = by_id[device_id]
                session.add(
                    RolloutHost(
                        rollout_id=rollout.id,
                        device_id=device_id,
                        village_code=t.village_code,
                        district_code=t.district_code,
                        batch=number,
                        state=HostState.PENDING,
                        attempts=0,
                        updated_at=now,
                    )
                )
        session.add(
            RolloutEvent(
                rollout_id=rollout.id,
                kind="created",
                at=now,
                message=(
                    f"release {release.version} to {len(targets)} kiosk(s) in "
                    f"{len(batches)} batch(es) by {created_by}"
                    + (f" from {release.url}" if release.url else "")
                ),
            )
        )
        session.flush()
        rollout_id = rollout.id
    logger.info(
        "rollout %s created: release %s, %d kiosk(s), %d batch(es)",
        rollout_id,
        release.version,
        len(targets),
        len(batches),
    )
    return rollout_id


# --------------------------------------------------------------------------- liveness


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state not in ("Z", "X")


def rollout_is_stale(rollout: Rollout, *, now: datetime | None = None) -> bool:
    """True when ``rollout`` says ``running`` but no live process runs it: its pid is
    gone (same machine) or its heartbeat is older than two minutes."""
    if rollout.status != RolloutStatus.RUNNING:
        return False
    current = as_utc(now or utcnow())
    if rollout.heartbeat_at is None or current - as_utc(rollout.heartbeat_at) > STALE_AFTER:
        return True
    return rollout.runner_host == socket.gethostname() and not _pid_alive(rollout.pid)


# --------------------------------------------------------------------------- events


def _event_message(res: Mapping[str, Any]) -> str:
    msg = res.get("msg")
    if not msg and isinstance(res.get("results"), list):
        for item in res["results"]:
            if isinstance(item, Mapping) and item.get("failed"):
                msg = item.get("msg") or item.get("stderr")
                break
    if not msg:
        msg = res.get("stderr") or res.get("module_stderr") or ""
    return str(msg).strip()[:2000]


class _Recorder:
    """The event handler of one batch: writes per-host progress as Ansible reports it."""

    def __init__(self, engine: Engine, rollout_id: int, hosts: Iterable[str]) -> None:
        self.engine = engine
        self.rollout_id = rollout_id
        self.hosts = set(hosts)
        self.failure: dict[str, tuple[str, str]] = {}
        self.unreachable: dict[str, str] = {}
        self.previous: dict[str, str] = {}
        self.stats: dict[str, dict[str, int]] | None = None
        self._last_write: dict[str, float] = {}

    def _write(self, device_id: str, values: dict[str, Any], event: RolloutEvent | None) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                update(RolloutHost)
                .where(
                    RolloutHost.rollout_id == self.rollout_id,
                    RolloutHost.device_id == device_id,
                )
                .values(updated_at=now, **values)
            )
            if event is not None:
                conn.execute(
                    insert(RolloutEvent).values(
                        rollout_id=self.rollout_id,
                        device_id=device_id,
                        at=now,
                        kind=event.kind,
                        task=event.task,
                        message=event.message,
                    )
                )
        self._last_write[device_id] = time.monotonic()

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        data: Mapping[str, Any] = event.get("event_data") or {}
        if kind == "playbook_on_stats":
            self.stats = {
                key: dict(value)
                for key, value in data.items()
                if isinstance(value, Mapping)
                and key in ("ok", "changed", "dark", "failures", "rescued", "skipped", "processed")
            }
            return
        host = data.get("host")
        if host not in self.hosts:
            return
        task = str(data.get("task") or "")[:255]
        res: Mapping[str, Any] = data.get("res") or {}
        if kind == "runner_on_ok":
            if task == QUERY_TASK and "previous_version" in res:
                self.previous[host] = str(res.get("previous_version") or "")
                self._write(host, {"last_task": task, "previous_version": self.previous[host]
                                   or None}, None)
            elif res.get("changed"):
                self._write(
                    host,
                    {"last_task": task},
                    RolloutEvent(kind="changed", task=task, message=None),
                )
            elif time.monotonic() - self._last_write.get(host, 0.0) > 1.0:
                self._write(host, {"last_task": task}, None)
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            message = _event_message(res)
            self.failure[host] = (task, message)
            self._write(
                host,
                {"last_task": task, "message": message},
                RolloutEvent(kind="failed", task=task, message=message),
            )
        elif kind == "runner_on_unreachable":
            message = _event_message(res)
            self.unreachable[host] = message
            self._write(
                host,
                {"last_task": task, "message": message},
                RolloutEvent(kind="unreachable", task=task, message=message),
            )

    def outcome(self, host: str, result: PlaybookResult) -> tuple[HostState | None, str | None]:
        """The state ``host`` ended the batch in (None: it did not run to the end)."""
        stats = self.stats if self.stats is not None else result.stats
        if not stats:
            return None, None

        def count(key: str) -> int:
            return int(stats.get(key, {}).get(host, 0) or 0)

        if count("dark") or host in self.unreachable:
            return HostState.UNREACHABLE, self.unreachable.get(host, "unreachable")
        if count("failures"):
            task, message = self.failure.get(host, ("", "failed"))
            if message.startswith(ROLLED_BACK_MARK):
                return HostState.ROLLED_BACK, message
            return HostState.FAILED, f"{task}: {message}" if task else message
        if count("changed"):
            return HostState.CHANGED, None
        if count("ok") or count("processed"):
            return HostState.OK, None
        return None, None


# --------------------------------------------------------------------------- running


def _add_event(
    session: Session,
    rollout_id: int,
    kind: str,
    message: str | None,
    *,
    device_id: str | None = None,
    now: datetime | None = None,
) -> None:
    session.add(
        RolloutEvent(
            rollout_id=rollout_id,
            device_id=device_id,
            kind=kind,
            message=message,
            at=now or utcnow(),
        )
    )


def _set_status(
    engine: Engine,
    rollout_id: int,
    status: RolloutStatus,
    message: str | None,
    *,
    now: datetime,
) -> None:
    with session_scope(engine) as session:
        rollout = session.get(Rollout, rollout_id)
        if rollout is None:
            return
        if rollout.status == RolloutStatus.ABORTED and status != RolloutStatus.ABORTED:
            return
        rollout.status = status
        rollout.message = message
        rollout.updated_at = now
        if status in FINAL_STATUSES or status == RolloutStatus.PAUSED:
            rollout.pid = None
            rollout.heartbeat_at = None
        if status in FINAL_STATUSES:
            rollout.finished_at = now
        _add_event(session, rollout_id, str(status), message, now=now)


def _claim(engine: Engine, rollout_id: int, *, now: datetime) -> Rollout:
    """Mark the rollout as run by this process; refuse if another live process runs it."""
    with session_scope(engine) as session:
        rollout = session.get(Rollout, rollout_id, with_for_update=True)
        if rollout is None:
            raise RolloutError("no such rollout; list them with `kentongan rollout list`",
                               rollout_id=rollout_id)
        if rollout.status in FINAL_STATUSES:
            raise RolloutError(
                f"is {rollout.status} ({rollout.message or 'no message'}); nothing to resume — "
                "start a new rollout instead",
                rollout_id=rollout_id,
            )
        if (
            rollout.status == RolloutStatus.RUNNING
            and not rollout_is_stale(rollout, now=now)
            and rollout.pid != os.getpid()
        ):
            raise RolloutError(
                f"is being run by pid {rollout.pid} on {rollout.runner_host} (heartbeat "
                f"{format_wib(rollout.heartbeat_at, seconds=True)}); wait for it, or abort it",
                rollout_id=rollout_id,
            )
        if rollout.status == RolloutStatus.RUNNING:
            _add_event(session, rollout_id, "recovered",
                       f"taken over from dead pid {rollout.pid} on {rollout.runner_host}",
                       now=now)
        interrupted = session.scalars(
            select(RolloutHost).where(
                RolloutHost.rollout_id == rollout_id, RolloutHost.state == HostState.RUNNING
            )
        ).all()
        for host in interrupted:
            host.state = HostState.PENDING
            host.message = "interrupted; will run again"
            host.updated_at = now
        rollout.status = RolloutStatus.RUNNING
        rollout.pid = os.getpid()
        rollout.runner_host = socket.gethostname()
        rollout.heartbeat_at = now
        rollout.started_at = rollout.started_at or now
        rollout.updated_at = now
        rollout.message = None
        session.flush()
        session.expunge(rollout)
        return rollout


class _Heartbeat(threading.Thread):
    """Refreshes the rollout's heartbeat and notices an abort from elsewhere."""

    def __init__(self, engine: Engine, rollout_id: int, clock: Clock) -> None:
        super().__init__(name=f"rollout-{rollout_id}-heartbeat", daemon=True)
        self.engine = engine
        self.rollout_id = rollout_id
        self.clock = clock
        self.aborted = threading.Event()
        self._stop_event = threading.Event()

    def beat(self) -> None:
        with self.engine.begin() as conn:
            status = conn.execute(
                select(Rollout.status).where(Rollout.id == self.rollout_id)
            ).scalar_one_or_none()
            if status == RolloutStatus.ABORTED:
                self.aborted.set()
                return
            conn.execute(
                update(Rollout)
                .where(Rollout.id == self.rollout_id, Rollout.status == RolloutStatus.RUNNING)
                .values(heartbeat_at=self.clock(), pid=os.getpid())
            )

    def run(self) -> None:
        while not self._stop_event.wait(HEARTBEAT_SECONDS):
            try:
                self.beat()
            except Exception:  # a busy database must not kill the rollout
                logger.warning("rollout %s: heartbeat failed", self.rollout_id, exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()


def _load_targets(session: Session, device_ids: Iterable[str]) -> dict[str, KioskTarget | str]:
    """Fresh connection data for the hosts; a string is the reason a host cannot run."""
    ids = list(device_ids)
    rows = session.execute(
        select(Device, Site, SshProfile)
        .join(Site, Device.site_id == Site.id)
        .outerjoin(SshProfile, Device.ssh_profile == SshProfile.name)
        .where(Device.id.in_(ids))
    ).all()
    found: dict[str, KioskTarget | str] = {}
    for device, site, profile in rows:
        if not device.enabled:
            found[device.id] = "device disabled in the inventory"
            continue
        try:
            found[device.id] = target_from_rows(device, site, profile)
        except TargetError as exc:
            found[device.id] = exc.message
    for device_id in ids:
        found.setdefault(device_id, "device no longer in the inventory")
    return found


def _counts(session: Session, rollout_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in session.scalars(
        select(RolloutHost.state).where(RolloutHost.rollout_id == rollout_id)
    ):
        counts[state] = counts.get(state, 0) + 1
    return counts


def _window_for(
    opts: RolloutOptions, settings: Settings, window: ServiceWindow | None
) -> ServiceWindow | None:
    if not opts.respect_service_hours:
        return None
    return window or ServiceWindow.parse(settings.service_hours, settings.service_days)


def run_rollout(
    engine: Engine,
    rollout_id: int,
    *,
    clock: Clock = utcnow,
    sleep: Sleep = time.sleep,
    window: ServiceWindow | None = None,
    wait_for_window: bool = False,
    retry_now: bool = False,
    only_hosts: Iterable[str] | None = None,
    progress: ProgressCallback | None = None,
    envvars: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    event_hook: EventHandler | None = None,
) -> RolloutSummary:
    """Run (or continue) rollout ``rollout_id`` until it completes, halts, pauses or is
    aborted. Finished hosts are never run again.

    Args:
        clock: the time source (tests pass a fixed clock).
        sleep: how to wait (pauses between batches, service hours).
        window: service hours (default from settings); restarts never happen inside it.
        wait_for_window: wait for service hours to end instead of pausing the rollout.
        retry_now: retry unreachable kiosks now instead of after their backoff.
        only_hosts: limit this run to these device ids (auto-resume).
        progress: called whenever a kiosk reaches a state.
        envvars: extra environment for Ansible.
        settings: settings (default: :func:`get_settings`).
        event_hook: also called with every raw Ansible event.
    """
    cfg = settings or get_settings()
    rollout = _claim(engine, rollout_id, now=clock())
    release = ReleaseSpec.from_params(rollout.params["release"])
    opts = RolloutOptions.from_params(rollout.params.get("options", {}))
    service = _window_for(opts, cfg, window)
    limit_to = set(only_hosts) if only_hosts is not None else None
    unreachable_after = timedelta(days=cfg.rollout_unreachable_after_days)
    extravars = dict(opts.extra_vars) | release.extravars()

    heartbeat = _Heartbeat(engine, rollout_id, clock)
    heartbeat.start()
    try:
        return _run_batches(
            engine,
            rollout,
            extravars=extravars,
            opts=opts,
            service=service,
            clock=clock,
            sleep=sleep,
            wait_for_window=wait_for_window,
            retry_now=retry_now,
            limit_to=limit_to,
            unreachable_after=unreachable_after,
            heartbeat=heartbeat,
            progress=progress,
            envvars=envvars,
            event_hook=event_hook,
            site_vars_file=cfg.playbook_vars_file,
        )
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            _release_hosts(engine, rollout_id, clock())
            _set_status(engine, rollout_id, RolloutStatus.PAUSED,
                        "interrupted by the operator; `kentongan rollout resume` continues",
                        now=clock())
        elif not isinstance(exc, RolloutError):
            _release_hosts(engine, rollout_id, clock())
            _set_status(engine, rollout_id, RolloutStatus.FAILED,
                        f"internal error: {type(exc).__name__}: {exc}", now=clock())
        raise
    finally:
        heartbeat.stop()


def _release_hosts(engine: Engine, rollout_id: int, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(RolloutHost)
            .where(RolloutHost.rollout_id == rollout_id, RolloutHost.state == HostState.RUNNING)
            .values(state=HostState.PENDING, updated_at=now)
        )


def _summary(engine: Engine, rollout_id: int) -> RolloutSummary:
    with session_scope(engine) as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None
        return RolloutSummary(
            rollout_id=rollout_id,
            status=rollout.status,
            message=rollout.message,
            counts=_counts(session, rollout_id),
        )


def _run_batches(
    engine: Engine,
    rollout: Rollout,
    *,
    extravars: dict[str, Any],
    opts: RolloutOptions,
    service: ServiceWindow | None,
    clock: Clock,
    sleep: Sleep,
    wait_for_window: bool,
    retry_now: bool,
    limit_to: set[str] | None,
    unreachable_after: timedelta,
    heartbeat: _Heartbeat,
    progress: ProgressCallback | None,
    envvars: Mapping[str, str] | None,
    event_hook: EventHandler | None,
    site_vars_file: Path | None = None,
) -> RolloutSummary:
    rid = rollout.id
    with session_scope(engine) as session:
        hosts = session.scalars(
            select(RolloutHost).where(RolloutHost.rollout_id == rid).order_by(
                RolloutHost.batch, RolloutHost.id
            )
        ).all()
        total = len(hosts)
        done = sum(1 for h in hosts if h.state in DONE_STATES)
        batches = sorted({h.batch for h in hosts})
        targets = _load_targets(session, [h.device_id for h in hosts])
    ran_batches = 0
    for number in batches:
        now = clock()
        with session_scope(engine) as session:
            candidates = session.scalars(
                select(RolloutHost).where(
                    RolloutHost.rollout_id == rid,
                    RolloutHost.batch == number,
                    RolloutHost.state == HostState.PENDING,
                )
            ).all()
            due: list[str] = []
            for host in candidates:
                if limit_to is not None and host.device_id not in limit_to:
                    continue
                if (
                    not retry_now
                    and host.next_try_at is not None
                    and as_utc(host.next_try_at) > as_utc(now)
                ):
                    continue
                target = targets.get(host.device_id)
                if not isinstance(target, KioskTarget):
                    host.state = HostState.SKIPPED
                    host.message = str(target)
                    host.updated_at = now
                    _add_event(session, rid, "skipped", host.message,
                               device_id=host.device_id, now=now)
                    done += 1
                    continue
                due.append(host.device_id)
        if not due:
            continue
        if heartbeat.aborted.is_set() or _status(engine, rid) == RolloutStatus.ABORTED:
            break
        if ran_batches and opts.pause > 0:
            logger.info("rollout %s: pausing %.0f s before batch %d", rid, opts.pause, number)
            sleep(opts.pause)
            now = clock()
        if service is not None and service.is_serving(now):
            closes = service.closes_at(now)
            message = (
                f"service hours ({service.describe()}): no kiosk restarts until "
                f"{format_wib(closes)}"
            )
            if not wait_for_window:
                _set_status(engine, rid, RolloutStatus.PAUSED, message + "; resume after",
                            now=now)
                return _summary(engine, rid)
            logger.info("rollout %s: %s", rid, message)
            while service.is_serving(clock()):
                if heartbeat.aborted.is_set():
                    break
                sleep(min(60.0, max(1.0, (closes - as_utc(clock())).total_seconds())))
            if heartbeat.aborted.is_set():
                break
            now = clock()
        done, halted = _run_one_batch(
            engine,
            rid,
            number,
            due,
            targets={d: t for d, t in targets.items() if isinstance(t, KioskTarget)},
            extravars=extravars,
            opts=opts,
            clock=clock,
            unreachable_after=unreachable_after,
            heartbeat=heartbeat,
            progress=progress,
            envvars=envvars,
            event_hook=event_hook,
            done=done,
            total=total,
            playbook=rollout.playbook,
            site_vars_file=site_vars_file,
        )
        ran_batches += 1
        if halted:
            return _summary(engine, rid)
    return _finish(engine, rid, clock(), aborted=heartbeat.aborted.is_set())


def _status(engine: Engine, rollout_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(Rollout.status).where(Rollout.id == rollout_id)
        ).scalar_one_or_none()


def _run_one_batch(
    engine: Engine,
    rid: int,
    number: int,
    due: list[str],
    *,
    targets: Mapping[str, KioskTarget],
    extravars: dict[str, Any],
    opts: RolloutOptions,
    clock: Clock,
    unreachable_after: timedelta,
    heartbeat: _Heartbeat,
    progress: ProgressCallback | None,
    envvars: Mapping[str, str] | None,
    event_hook: EventHandler | None,
    done: int,
    total: int,
    playbook: str,
    site_vars_file: Path | None = None,
) -> tuple[int, bool]:
    now = clock()
    with session_scope(engine) as session:
        for host in session.scalars(
            select(RolloutHost).where(
                RolloutHost.rollout_id == rid, RolloutHost.device_id.in_(due)
            )
        ):
            host.state = HostState.RUNNING
            host.attempts += 1
            host.message = None
            host.updated_at = now
        rollout = session.get(Rollout, rid)
        assert rollout is not None
        rollout.current_batch = number
        rollout.updated_at = now
        _add_event(session, rid, "batch", f"batch {number}: {', '.join(due)}", now=now)
    logger.info("rollout %s: batch %d on %d kiosk(s)", rid, number, len(due))
    recorder = _Recorder(engine, rid, due)

    def handler(event: Mapping[str, Any]) -> None:
        recorder(event)
        if event_hook is not None:
            event_hook(event)

    inventory = ansible_inventory(targets[d] for d in due)
    result = run_playbook(
        playbook,
        inventory,
        extravars=extravars,
        limit=due,
        forks=opts.forks,
        event_handler=handler,
        cancel=heartbeat.aborted.is_set,
        envvars=envvars,
        site_vars_file=site_vars_file,
    )
    now = clock()
    with session_scope(engine) as session:
        hosts = session.scalars(
            select(RolloutHost).where(
                RolloutHost.rollout_id == rid, RolloutHost.device_id.in_(due)
            )
        ).all()
        for host in hosts:
            state, message = recorder.outcome(host.device_id, result)
            if state is None:
                host.state = HostState.SKIPPED if heartbeat.aborted.is_set() else HostState.PENDING
                host.message = "run stopped before this kiosk finished"
            elif state == HostState.UNREACHABLE:
                host.first_unreachable_at = host.first_unreachable_at or now
                if now - as_utc(host.first_unreachable_at) >= unreachable_after:
                    host.state = HostState.UNREACHABLE
                    host.message = f"unreachable since {format_wib(host.first_unreachable_at)}: "\
                        f"{message}"
                else:
                    host.state = HostState.PENDING
                    host.next_try_at = now + backoff(host.attempts)
                    host.message = f"unreachable ({message}); next try after "\
                        f"{format_wib(host.next_try_at)}"
            else:
                host.state = state
                host.message = message
                host.next_try_at = None
                host.first_unreachable_at = None
            host.updated_at = now
            _add_event(session, rid, f"host_{host.state}", host.message,
                       device_id=host.device_id, now=now)
            if host.state in DONE_STATES:
                done += 1
            if progress is not None:
                progress(HostProgress(rid, host.device_id, host.state, host.message, done, total))
        counts = _counts(session, rid)
    failures = sum(counts.get(s, 0) for s in FAILURE_STATES)
    attempted = failures + sum(counts.get(s, 0) for s in SUCCESS_STATES)
    batch_failed = any(recorder.outcome(d, result)[0] in FAILURE_STATES for d in due)
    max_fail = parse_percent(opts.max_fail)
    is_canary = number == 0 and (opts.canary > 0 or opts.waves == WaveMode.TREE)
    untried = [d for d in due if recorder.outcome(d, result)[0] in (HostState.UNREACHABLE, None)]
    if is_canary and untried and not batch_failed and not heartbeat.aborted.is_set():
        # A canary that could not be tried proved nothing: never count it as a success.
        reasons = "; ".join(
            f"{d}: {recorder.unreachable.get(d) or 'the run stopped before it finished'}"
            for d in untried
        )
        _set_status(
            engine, rid, RolloutStatus.HALTED,
            f"canary kiosk(s) could not be tried (unreachable: {reasons}): the release is "
            "not rolled out further; start a new rollout once the canary is reachable",
            now=now,
        )
        return done, True
    if is_canary and batch_failed:
        _set_status(
            engine, rid, RolloutStatus.HALTED,
            "canary batch failed: the release is not rolled out further", now=now,
        )
        return done, True
    if over_threshold(failures, attempted, max_fail):
        _set_status(
            engine, rid, RolloutStatus.HALTED,
            f"{failures} of {attempted} kiosk(s) failed "
            f"({failure_percent(failures, attempted):.0f}% > max {max_fail:g}%)",
            now=now,
        )
        return done, True
    return done, False


def _finish(engine: Engine, rid: int, now: datetime, *, aborted: bool) -> RolloutSummary:
    message: str | None
    with session_scope(engine) as session:
        counts = _counts(session, rid)
        rollout = session.get(Rollout, rid)
        assert rollout is not None
        if aborted or rollout.status == RolloutStatus.ABORTED:
            status, message = RolloutStatus.ABORTED, rollout.message or "aborted"
        elif counts.get(HostState.PENDING, 0):
            status = RolloutStatus.PAUSED
            message = (
                f"{counts[HostState.PENDING]} kiosk(s) pending (unreachable or not yet due); "
                "`kentongan rollout resume` or auto-resume finishes them"
            )
        else:
            status = RolloutStatus.COMPLETED
            bad = sum(counts.get(s, 0) for s in FAILURE_STATES)
            message = f"{bad} kiosk(s) failed or rolled back" if bad else None
    _set_status(engine, rid, status, message, now=now)
    return _summary(engine, rid)


# --------------------------------------------------------------------------- controls


def resume_rollout(engine: Engine, rollout_id: int, **kwargs: Any) -> RolloutSummary:
    """Continue a paused, pending or crashed rollout now (unreachable kiosks are retried
    at once). Same keyword arguments as :func:`run_rollout`."""
    kwargs.setdefault("retry_now", True)
    return run_rollout(engine, rollout_id, **kwargs)


def abort_rollout(engine: Engine, rollout_id: int, *, by: str = "cli") -> RolloutSummary:
    """Stop a rollout: pending kiosks are skipped; a running batch is cancelled by its
    process at the next heartbeat (kiosks mid-update finish their rollback logic)."""
    now = utcnow()
    with session_scope(engine) as session:
        rollout = session.get(Rollout, rollout_id)
        if rollout is None:
            raise RolloutError("no such rollout", rollout_id=rollout_id)
        if rollout.status in FINAL_STATUSES:
            raise RolloutError(f"is already {rollout.status}", rollout_id=rollout_id)
        rollout.status = RolloutStatus.ABORTED
        rollout.message = f"aborted by {by}"
        rollout.updated_at = now
        rollout.finished_at = now
        for host in session.scalars(
            select(RolloutHost).where(
                RolloutHost.rollout_id == rollout_id, RolloutHost.state == HostState.PENDING
            )
        ):
            host.state = HostState.SKIPPED
            host.message = f"rollout aborted by {by}"
            host.updated_at = now
        _add_event(session, rollout_id, "aborted", f"aborted by {by}", now=now)
    return _summary(engine, rollout_id)


def on_device_up(
    engine: Engine,
    device_id: str,
    *,
    clock: Clock = utcnow,
    settings: Settings | None = None,
    window: ServiceWindow | None = None,
    envvars: Mapping[str, str] | None = None,
) -> list[RolloutSummary]:
    """The poller saw ``device_id`` come back up: finish the rollouts waiting for it.

    Only rollouts with auto-resume on (their ``auto_resume`` option, else the setting
    ``rollout_auto_resume``), paused (or left running by a dead process), whose host is
    pending and past its backoff. Runs synchronously: call it from a worker thread.
    Returns the summaries of the rollouts it ran.
    """
    cfg = settings or get_settings()
    now = clock()
    with session_scope(engine) as session:
        rows = session.execute(
            select(Rollout, RolloutHost)
            .join(RolloutHost, RolloutHost.rollout_id == Rollout.id)
            .where(
                RolloutHost.device_id == device_id,
                RolloutHost.state == HostState.PENDING,
                Rollout.status.in_([RolloutStatus.PAUSED, RolloutStatus.RUNNING]),
            )
            .order_by(Rollout.id)
        ).all()
        due: list[int] = []
        for rollout, host in rows:
            opts = RolloutOptions.from_params(rollout.params.get("options", {}))
            enabled = opts.auto_resume if opts.auto_resume is not None else cfg.rollout_auto_resume
            if not enabled:
                continue
            if rollout.status == RolloutStatus.RUNNING and not rollout_is_stale(rollout, now=now):
                continue
            if host.next_try_at is not None and as_utc(host.next_try_at) > as_utc(now):
                continue
            due.append(rollout.id)
    results = []
    for rid in due:
        logger.info("rollout %s: %s is back up, resuming it there", rid, device_id)
        with contextlib.suppress(RolloutError):
            results.append(
                run_rollout(
                    engine,
                    rid,
                    clock=clock,
                    settings=cfg,
                    window=window,
                    only_hosts=[device_id],
                    envvars=envvars,
                )
            )
    return results
