"""The poll scheduler: every device at its own interval, with jitter, bounded concurrency,
timeouts, back-off for down devices, batched store writes and its own health.

* Each device has its own due time; first polls are spread over one interval (jitter).
* A device is never polled twice at once: it is not due again while a poll is in flight.
* Polls run concurrently (at most ``concurrency``), each under an outer deadline, so a
  slow or dead device only ever costs its own slot.
* After a missed poll that is not yet a verdict (fewer than ``down_after_failures``
  misses) the device is polled again soon: ``retry_fractions[k-1]`` of its interval after
  the k-th miss (60 s: 10 s, then 20 s), so a dead device is ``down`` about half a minute
  after its first miss instead of two intervals later. The A-end device of its uplink (or
  its parent) is polled at once too: its port state tells a cut fibre from a dead device.
* After ``down_after_failures`` consecutive failures a device is polled at
  ``interval × 2^k`` (capped at ``max_backoff_seconds``) but still polled; the store is told
  the longer interval so staleness follows it.
* Observations are written in batches (one transaction per flush) from a worker thread.
* The target list is re-read from the inventory every ``reload_seconds``.

Programmatic use (the demo, ``kentongan serve``)::

    scheduler = Scheduler.from_settings(engine, settings)
    await scheduler.start()
    ...
    scheduler.stats()        # SchedulerStats for /metrics
    await scheduler.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from collectors.base import Collector, Observation
from collectors.store import (
    StorePolicy,
    Transition,
    recompute_states,
    record_observations,
)
from collectors.targets import CredentialError, TargetEntry, load_entries
from core.timeutil import utcnow
from inventory.choices import DeviceStatus, SubjectKind
from inventory.db import session_scope
from inventory.topology import Node, Topology

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Observation], None]
#: Called (in a worker thread) with the state changes of each write; e.g. the rollout
#: package's auto-resume when a pending kiosk comes back ``up``.
TransitionListener = Callable[[Sequence[Transition]], object]


@dataclass
class SchedulerStats:
    """The scheduler's own health (exported on ``/metrics`` by the alerts package).

    ``cycle_duration_seconds`` is how long the last full pass over every target took
    (about one interval when the poller keeps up); ``last_cycle_timestamp_seconds`` is the
    Unix time observations were last written; ``lag_seconds`` how late the most recent poll
    started against its schedule.
    """

    targets: int = 0
    in_flight: int = 0
    polls_total: int = 0
    errors_total: int = 0
    timeouts_total: int = 0
    backed_off: int = 0
    lag_seconds: float = 0.0  # how late the most recently started poll was
    max_lag_seconds: float = 0.0  # worst lag since the last flush
    last_flush_seconds: float = 0.0  # time to write the last batch
    last_flush_observations: int = 0
    flushes_total: int = 0
    flush_errors_total: int = 0
    cycle_duration_seconds: float | None = None
    last_cycle_timestamp_seconds: float | None = None
    last_reload_at: datetime | None = None
    running: bool = False

    def as_dict(self) -> dict[str, float]:
        """The numeric fields (for a metrics exporter)."""
        return {
            k: float(v)
            for k, v in dataclasses.asdict(self).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }


@dataclass(slots=True)
class _Slot:
    entry: TargetEntry
    due: float
    failures: int = 0
    in_flight: bool = False
    effective_interval: float = 0.0
    polls: int = 0


@dataclass(slots=True)
class _Pending:
    observations: list[Observation] = field(default_factory=list)
    intervals: dict[str, float] = field(default_factory=dict)


def _failure(entry: TargetEntry, reason: str, *, started: datetime, duration: float,
             configuration: bool = False, protocol: str | None = None) -> Observation:
    obs = Observation(
        device_id=entry.device_id,
        protocol=protocol or entry.protocol or "none",
        ok=False,
        started_at=started,
        duration_seconds=duration,
        reason=reason,
    )
    if configuration:
        obs.extra["configuration_error"] = True
    return obs


class Scheduler:
    """Polls the inventory's devices forever (``start``/``stop``) or once (``run_once``).

    Args:
        engine: the database engine (inventory in, observations out).
        collectors: one collector per protocol name (``{"snmp": ..., "ssh": ...}``).
        policy: the store's rules (failures before down, staleness).
        concurrency: polls in flight at most.
        deadline_seconds: outer limit of one poll, whatever the collector does.
        max_backoff_seconds: the longest interval a down device is backed off to.
        reload_seconds: how often the inventory is re-read.
        flush_seconds: how often collected observations are written.
        default_interval: interval when neither device nor role sets one.
        role_intervals: interval per role.
        timeout, retries: per-request values handed to collectors in each ``Target``.
        known_hosts: default SSH known_hosts file for profiles without one.
        retry_fractions: after the k-th consecutive miss (k < ``down_after_failures``),
            poll again after ``retry_fractions[k-1]`` of the interval (the last value
            repeats; at least ``timeout``, at most the interval); empty: no early re-poll.
        jitter: spread first polls over one interval.
        clock: monotonic clock (tests inject one); ``now``: wall clock for the store.
        rng: the jitter's random source.
    """

    def __init__(
        self,
        engine: Engine,
        collectors: Mapping[str, Collector],
        *,
        policy: StorePolicy | None = None,
        concurrency: int = 200,
        deadline_seconds: float | None = None,
        max_backoff_seconds: float = 120.0,
        reload_seconds: float = 300.0,
        flush_seconds: float = 1.0,
        default_interval: float = 60.0,
        role_intervals: Mapping[str, float] | None = None,
        timeout: float = 2.0,
        retries: int = 1,
        known_hosts: str | None = None,
        jitter: bool = True,
        retry_fractions: Sequence[float] = (1 / 6, 1 / 3),
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.collectors = dict(collectors)
        self.policy = policy or StorePolicy(default_interval_seconds=default_interval)
        self.concurrency = max(1, concurrency)
        self.deadline_seconds = deadline_seconds or max(10.0, timeout * (retries + 1) * 4)
        self.max_backoff_seconds = max_backoff_seconds
        self.reload_seconds = reload_seconds
        self.flush_seconds = flush_seconds
        self.default_interval = default_interval
        self.role_intervals = dict(role_intervals or {})
        self.timeout = timeout
        self.retries = retries
        self.known_hosts = known_hosts
        self.jitter = jitter
        bad = [f for f in retry_fractions if not 0 < f <= 1]
        if bad:
            raise ValueError(
                f"poll retry fractions must be in (0, 1] of the interval, got {bad}: "
                "e.g. KENTONGAN_POLL_RETRY_FRACTIONS='[0.1667, 0.3333]'"
            )
        self.retry_fractions = tuple(float(f) for f in retry_fractions)
        self._clock = clock
        self._now = now
        self._rng = rng or random.Random()
        self._slots: dict[str, _Slot] = {}
        self._pending = _Pending()
        self._sem: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[int] | None = None
        self._stop = asyncio.Event()
        self._stats = SchedulerStats()
        self._listeners: list[TransitionListener] = []
        self._topology: Topology | None = None
        self._cycle_seen: set[str] = set()
        self._cycle_start: float | None = None
        self._wake: asyncio.Event | None = None

    @classmethod
    def from_settings(
        cls,
        engine: Engine,
        settings: Any,
        *,
        collectors: Mapping[str, Collector] | None = None,
        **overrides: Any,
    ) -> Scheduler:
        """A scheduler configured from :class:`core.settings.Settings`, with the
        default collectors (SNMP and SSH) unless ``collectors`` is given."""
        kwargs: dict[str, Any] = {
            "policy": StorePolicy.from_settings(settings),
            "concurrency": settings.poll_concurrency,
            "default_interval": settings.poll_interval_seconds,
            "role_intervals": settings.poll_role_intervals,
            "timeout": settings.poll_timeout_seconds,
            "retries": settings.poll_retries,
            "reload_seconds": settings.poll_reload_seconds,
            "retry_fractions": tuple(settings.poll_retry_fractions),
            "known_hosts": str(settings.ssh_known_hosts) if settings.ssh_known_hosts else None,
        }
        kwargs.update(overrides)
        return cls(engine, collectors or default_collectors(settings), **kwargs)

    # ------------------------------------------------------------------ targets
    def load_targets(self, device_ids: Sequence[str] | None = None) -> list[TargetEntry]:
        """(Re)read the inventory; new devices get a jittered first poll."""
        with session_scope(self.engine) as session:
            self._topology = Topology.load(session)
            entries = load_entries(
                session,
                default_interval=self.default_interval,
                role_intervals=self.role_intervals,
                timeout=self.timeout,
                retries=self.retries,
                device_ids=list(device_ids) if device_ids is not None else None,
            )
        now = self._clock()
        fresh: dict[str, _Slot] = {}
        for entry in entries:
            slot = self._slots.get(entry.device_id)
            if slot is None:
                offset = self._rng.uniform(0, entry.interval_seconds) if self.jitter else 0.0
                slot = _Slot(entry=entry, due=now + offset,
                             effective_interval=entry.interval_seconds)
            else:
                if entry.interval_seconds != slot.entry.interval_seconds:
                    slot.due = min(slot.due, now + entry.interval_seconds)
                slot.entry = entry
                slot.effective_interval = self._interval_for(slot)
            fresh[entry.device_id] = slot
        self._slots = fresh
        self._stats.targets = len(fresh)
        self._stats.last_reload_at = self._now()
        logger.debug("poller: %d targets loaded", len(fresh))
        return entries

    def _retry_after(self, slot: _Slot) -> float | None:
        """Seconds to the early re-poll after a miss that is not yet a verdict, else None."""
        k = slot.failures
        if k <= 0 or k >= self.policy.down_after_failures or not self.retry_fractions:
            return None
        fraction = self.retry_fractions[min(k, len(self.retry_fractions)) - 1]
        interval = slot.entry.interval_seconds
        # never sooner than one request timeout after the miss (a burst of loss must not
        # make three misses in a row), never later than the interval
        return min(interval, max(fraction * interval, self.timeout))

    def _poll_upstream_soon(self, device_id: str) -> None:
        """A device missed a poll: poll the device in front of it now (the A end of its
        uplink, or its parent), so a cut shows on that port before the verdict behind it."""
        if self._topology is None:
            return
        parent = self._topology.parent(Node("device", device_id))
        if parent is None:
            return
        upstream = parent.id
        if parent.kind == "link":
            a_end = self._topology.link_ends.get(parent.id, (None, None))[0]
            if a_end is None or a_end == device_id:
                return
            upstream = a_end
        slot = self._slots.get(upstream)
        if slot is None or slot.in_flight or slot.failures:
            return
        now = self._clock()
        if slot.due > now + 1.0:
            slot.due = now
            if self._wake is not None:
                self._wake.set()

    def _interval_for(self, slot: _Slot) -> float:
        base = slot.entry.interval_seconds
        k = slot.failures - self.policy.down_after_failures + 1
        if k <= 0:
            return base
        return float(min(base * (2.0**k), max(base, self.max_backoff_seconds)))

    # ------------------------------------------------------------------ polling
    async def poll_entry(self, entry: TargetEntry) -> Observation:
        """Poll one device now: resolve its secrets, call its collector under the deadline.

        Never raises for device-side failures or configuration errors: both come back as
        ``ok=False`` observations (configuration errors marked in ``extra``).
        """
        started = self._now()
        t0 = time.perf_counter()
        try:
            target = entry.resolve(default_known_hosts=self.known_hosts)
        except CredentialError as exc:
            logger.error("poll %s: configuration error: %s", entry.device_id, exc)
            return _failure(entry, f"configuration error: {exc}", started=started,
                            duration=time.perf_counter() - t0, configuration=True)
        collector = self.collectors.get(entry.protocol)
        if collector is None:
            logger.error("poll %s: no collector for protocol %r", entry.device_id,
                         entry.protocol)
            return _failure(entry, f"configuration error: no {entry.protocol} collector",
                            started=started, duration=0.0, configuration=True)
        try:
            obs = await asyncio.wait_for(collector.collect(target), self.deadline_seconds)
        except TimeoutError:
            logger.warning("poll %s: no result within %.1f s (deadline)", entry.device_id,
                           self.deadline_seconds)
            return _failure(entry, f"timeout: no result within {self.deadline_seconds:g} s",
                            started=started, duration=time.perf_counter() - t0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a collector bug must not stop the other devices
            logger.exception("poll %s: collector crashed", entry.device_id)
            return _failure(entry, f"collector error: {type(exc).__name__}: {exc}",
                            started=started, duration=time.perf_counter() - t0)
        return obs

    async def _run_slot(self, slot: _Slot, scheduled: float) -> None:
        assert self._sem is not None
        try:
            async with self._sem:
                lag = max(0.0, self._clock() - scheduled)
                self._stats.lag_seconds = lag
                self._stats.max_lag_seconds = max(self._stats.max_lag_seconds, lag)
                self._stats.in_flight += 1
                try:
                    obs = await self.poll_entry(slot.entry)
                finally:
                    self._stats.in_flight -= 1
            self._account(slot, obs)
            slot.effective_interval = self._interval_for(slot)
            self._pending.observations.append(obs)
            self._pending.intervals[obs.device_id] = slot.effective_interval
            retry = self._retry_after(slot)
            if retry is not None:
                slot.due = self._clock() + retry
                if slot.failures == 1:
                    self._poll_upstream_soon(slot.entry.device_id)
            else:
                slot.due = max(scheduled + slot.effective_interval, self._clock())
        finally:
            slot.in_flight = False
            if self._wake is not None:
                self._wake.set()

    def _account(self, slot: _Slot, obs: Observation) -> None:
        slot.polls += 1
        self._stats.polls_total += 1
        now = self._clock()
        if self._cycle_start is None:
            self._cycle_start = now
        self._cycle_seen.add(obs.device_id)
        if len(self._cycle_seen) >= len(self._slots) and self._cycle_seen.issuperset(
            self._slots
        ):
            self._stats.cycle_duration_seconds = now - self._cycle_start
            self._cycle_seen = set()
            self._cycle_start = now
        if obs.ok:
            slot.failures = 0
            return
        self._stats.errors_total += 1
        if obs.reason and "timeout" in obs.reason.lower():
            self._stats.timeouts_total += 1
        if not obs.extra.get("configuration_error"):
            slot.failures += 1

    def _launch_due(self) -> float:
        """Start every due device; return seconds until the next one is due."""
        now = self._clock()
        next_due = now + 1.0
        for slot in self._slots.values():
            if slot.in_flight:
                continue
            if slot.due <= now:
                slot.in_flight = True
                task = asyncio.create_task(self._run_slot(slot, slot.due),
                                           name=f"poll-{slot.entry.device_id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                next_due = min(next_due, slot.due)
        self._stats.backed_off = sum(
            1 for s in self._slots.values() if s.effective_interval > s.entry.interval_seconds
        )
        return max(0.005, next_due - now)

    # ------------------------------------------------------------------ writing
    def add_transition_listener(self, listener: TransitionListener) -> None:
        """Call ``listener(transitions)`` after every write that changed a state.

        Listeners run in a worker thread, one call at a time per write, and never delay
        polling; an exception is logged and otherwise ignored.
        """
        self._listeners.append(listener)

    def lag_seconds(self) -> float:
        """How far behind schedule polling is: the age of the most overdue poll not yet
        started (0 when every due device is being polled)."""
        now = self._clock()
        overdue = [now - slot.due for slot in list(self._slots.values()) if not slot.in_flight]
        return max(0.0, max(overdue, default=0.0))

    def _write(self, pending: _Pending, at: datetime) -> list[Transition]:
        # Staleness in the poller's own judgement excuses its lag: a device it was late to
        # poll (an overloaded host) has not gone quiet.
        policy = dataclasses.replace(self.policy, lag_grace_seconds=self.lag_seconds())
        with session_scope(self.engine) as session:
            if pending.observations:
                return record_observations(session, pending.observations, policy=policy,
                                           intervals=pending.intervals, now=at)
            return recompute_states(session, policy=policy, now=at)

    def _recheck_behind(self, changes: Sequence[Transition]) -> None:
        """A device or link came back up: poll what sits behind it now, without back-off
        (a repaired fibre must not leave a village ``unreachable`` for a back-off period)."""
        repaired = [Node(t.kind, t.subject) for t in changes  # type: ignore[arg-type]
                    if t.to_status == DeviceStatus.UP and t.kind in tuple(SubjectKind)]
        if not repaired or self._topology is None:
            return
        children = self._topology.children()
        behind: set[str] = set()
        stack = [child for node in repaired for child in children.get(node, [])]
        seen: set[Node] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node.kind == "device":
                behind.add(node.id)
            stack.extend(children.get(node, []))
        now = self._clock()
        woken = 0
        for device_id in behind:
            slot = self._slots.get(device_id)
            if slot is None or slot.failures == 0:
                continue
            slot.failures = 0
            slot.effective_interval = slot.entry.interval_seconds
            if not slot.in_flight:
                slot.due = min(slot.due, now + self._rng.uniform(0, 1.0) if self.jitter else now)
            woken += 1
        if woken:
            logger.info("poller: %d devices behind a repaired fault are polled again now", woken)
            if self._wake is not None:
                self._wake.set()

    def _notify(self, changes: Sequence[Transition]) -> None:
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:
                logger.exception("poller: transition listener %r failed", listener)

    def _dispatch(self, changes: Sequence[Transition]) -> None:
        if not changes or not self._listeners:
            return
        task = asyncio.create_task(asyncio.to_thread(self._notify, list(changes)),
                                   name="poller-transition-listeners")
        self._listener_tasks.add(task)
        task.add_done_callback(self._listener_tasks.discard)

    async def flush(self) -> int:
        """Write what was collected since the last flush (one transaction, in a thread)."""
        pending, self._pending = self._pending, _Pending()
        t0 = time.perf_counter()
        try:
            changes = await asyncio.to_thread(self._write, pending, self._now())
        except Exception:
            self._stats.flush_errors_total += 1
            logger.exception("poller: writing %d observations failed; keeping them for the "
                             "next flush", len(pending.observations))
            pending.observations.extend(self._pending.observations)
            pending.intervals.update(self._pending.intervals)
            self._pending = pending
            return 0
        self._dispatch(changes)
        self._recheck_behind(changes)
        self._stats.last_flush_seconds = time.perf_counter() - t0
        self._stats.last_flush_observations = len(pending.observations)
        self._stats.flushes_total += 1
        if pending.observations:
            self._stats.last_cycle_timestamp_seconds = self._now().timestamp()
        self._stats.max_lag_seconds = 0.0
        return len(pending.observations)

    # ------------------------------------------------------------------ lifecycle
    async def run_once(
        self,
        device_ids: Sequence[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
        write: bool = True,
    ) -> list[Observation]:
        """Poll every (or the given) device once, now, and write the results."""
        entries = await asyncio.to_thread(self.load_targets, device_ids)
        sem = asyncio.Semaphore(self.concurrency)

        async def one(entry: TargetEntry) -> Observation:
            async with sem:
                obs = await self.poll_entry(entry)
            if progress is not None:
                progress(obs)
            return obs

        results = list(await asyncio.gather(*(one(e) for e in entries)))
        if write and results:
            pending = _Pending(
                observations=results,
                intervals={e.device_id: e.interval_seconds for e in entries},
            )
            self._dispatch(await asyncio.to_thread(self._write, pending, self._now()))
        if self._listener_tasks:
            await asyncio.gather(*self._listener_tasks, return_exceptions=True)
        return results

    async def _loop(self) -> None:
        self._sem = asyncio.Semaphore(self.concurrency)
        self._wake = asyncio.Event()
        last_reload = last_flush = self._clock()
        while not self._stop.is_set():
            now = self._clock()
            if now - last_reload >= self.reload_seconds:
                try:
                    await asyncio.to_thread(self.load_targets)
                except Exception:
                    logger.exception("poller: reloading the inventory failed; keeping the "
                                     "previous target list")
                last_reload = now
            if now - last_flush >= self.flush_seconds and (
                self._flush_task is None or self._flush_task.done()
            ):
                # written from a worker thread while polling goes on
                self._flush_task = asyncio.create_task(self.flush(), name="poller-flush")
                last_flush = now
            wait = self._launch_due()
            wait = min(wait, max(0.005, self.flush_seconds - (self._clock() - last_flush)))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def start(self) -> None:
        """Load the targets and start polling in the background."""
        if self._main is not None:
            return
        self._stop.clear()
        # A restart is the poller's downtime, not the devices': what the store holds stays
        # fresh for one staleness bound from now, while every device gets polled again.
        self.policy = dataclasses.replace(self.policy, watching_since=utcnow())
        await asyncio.to_thread(self.load_targets)
        self._stats.running = True
        self._main = asyncio.create_task(self._loop(), name="kentongan-poller")
        logger.info("poller started: %d targets, concurrency %d", len(self._slots),
                    self.concurrency)

    async def stop(self, *, close_collectors: bool = True) -> None:
        """Stop polling, cancel polls in flight, write what was collected, close collectors."""
        self._stop.set()
        if self._wake is not None:
            self._wake.set()
        if self._main is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
            self._main = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
            self._flush_task = None
        if self._pending.observations:
            await self.flush()
        if self._listener_tasks:
            # listeners run in threads: give them a moment, never hang the shutdown
            await asyncio.wait(list(self._listener_tasks), timeout=5.0)
        self._stats.running = False
        if close_collectors:
            for collector in self.collectors.values():
                with contextlib.suppress(Exception):
                    await collector.aclose()
        logger.info("poller stopped")

    def stats(self) -> SchedulerStats:
        """A copy of the scheduler's health counters."""
        return dataclasses.replace(self._stats)

    def due_in(self) -> dict[str, float]:
        """Seconds until each device's next poll (diagnostics, tests)."""
        now = self._clock()
        return {d: s.due - now for d, s in self._slots.items()}

    def intervals(self) -> dict[str, float]:
        """Each device's current effective interval (with back-off)."""
        return {d: s.effective_interval for d, s in self._slots.items()}


def default_collectors(settings: Any) -> dict[str, Collector]:
    """The SNMP and SSH collectors configured from settings (:mod:`collectors.factory`)."""
    from collectors.factory import default_collectors as build

    return build(settings)
