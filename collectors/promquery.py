"""Availability read from Prometheus's query API (``KENTONGAN_PROMETHEUS_URL``) instead of
the embedded observation store, with the store's result shape.

Past one machine, Prometheus holds the history (``/probe`` replicas or federated shards);
readiness and the SLA report then call :func:`availability_source` and get a callable with
the signature of :func:`collectors.store.availability`.

Per subject, over ``[start, end)`` at a resolution ``step``: ``kentongan_device_up`` samples
are counted as up or down, leaving out samples while the device is in maintenance
(``kentongan_maintenance == 1``) or unreachable behind a fault
(``kentongan_device_unreachable == 1``); flaps are ``resets()`` of the 0/1 series (up→down).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import Any, Protocol

import httpx

from collectors.store import (
    AvailabilityManyFn,
    AvailabilityResult,
    StorePolicy,
    availability,
    availability_many,
)
from core.errors import KentonganError
from core.timeutil import as_utc, utcnow

logger = logging.getLogger(__name__)

SELECTOR_LABEL = {
    "device": "device",
    "site": "site",
    "village": "village_code",
    "district": "district_code",
    "link": "link",
}
#: At most this many points per series in a window's subquery: 30 days at 60 s (43,200),
#: so a transition lands within a minute (0.0023 % of a 30-day window).
MAX_POINTS = 50_000
#: Time excluded from a link's availability: its site in maintenance. Shared with the
#: recording rule ``kentongan:uplink_up:observed`` (alerts/rules/kentongan.yml; a test
#: checks they agree). Unreachable links have no ``kentongan_link_up`` sample at all.
LINK_EXCLUDED = "(max by (site) (kentongan_maintenance) == 1)"


def link_observed(selector: str) -> str:
    """``kentongan_link_up`` samples that count towards availability (1 up, 0 down)."""
    return f"(kentongan_link_up{{{selector}}} unless on(site) {LINK_EXCLUDED})"


class PrometheusQueryError(KentonganError):
    """Prometheus could not answer a query (unreachable, bad query, error status)."""

    def __init__(self, message: str, *, url: str, query: str | None = None) -> None:
        super().__init__(f"{url}: {message}" + (f" (query: {query})" if query else ""))
        self.url = url
        self.query = query


class AvailabilityFn(Protocol):
    """The signature shared by the store's and Prometheus's availability."""

    def __call__(
        self, session: Any, *, kind: str, subject: str, start: datetime, end: datetime
    ) -> AvailabilityResult:
        """Availability of one subject over ``[start, end)``."""
        ...


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _scalar(client: httpx.Client, url: str, query: str, at: datetime) -> float:
    try:
        response = client.get(
            f"{url.rstrip('/')}/api/v1/query",
            params={"query": query, "time": f"{at.timestamp():.3f}"},
        )
    except httpx.HTTPError as exc:
        raise PrometheusQueryError(f"unreachable: {exc}", url=url, query=query) from exc
    if response.status_code != 200:
        raise PrometheusQueryError(
            f"HTTP {response.status_code}: {response.text[:200]}", url=url, query=query
        )
    body = response.json()
    if body.get("status") != "success":
        raise PrometheusQueryError(str(body.get("error")), url=url, query=query)
    result = body["data"]["result"]
    if body["data"]["resultType"] == "scalar":
        return float(result[1])
    return sum(float(r["value"][1]) for r in result)


def availability_from_prometheus(
    url: str,
    *,
    kind: str,
    subject: str,
    start: datetime,
    end: datetime,
    step_seconds: float | None = None,
    now: datetime | None = None,
    timeout: float = 30.0,
) -> AvailabilityResult:
    """Availability of a device, link, site, village or district from Prometheus.

    Raises:
        ValueError: for an unknown ``kind``.
        PrometheusQueryError: when Prometheus cannot answer.
    """
    if kind not in SELECTOR_LABEL:
        raise ValueError(f"unknown kind {kind!r}: use {', '.join(SELECTOR_LABEL)}")
    now = as_utc(now or utcnow())
    start, end = as_utc(start), min(as_utc(end), now)
    if end <= start:
        return AvailabilityResult(percent=None)
    span = (end - start).total_seconds()
    step = step_seconds or max(60.0, math.ceil(span / MAX_POINTS))
    rng = f"{int(span)}s"
    res = f"{int(step)}s"
    sel = f'{SELECTOR_LABEL[kind]}="{_label_value(subject)}"'
    if kind == "link":
        series = f"kentongan_link_up{{{sel}}}"
        counted = link_observed(sel)
        key = "link"
    else:
        series = f"kentongan_device_up{{{sel}}}"
        excluded = "(kentongan_maintenance == 1 or kentongan_device_unreachable == 1)"
        counted = f"({series} unless on(device) {excluded})"
        key = "device"
    queries = {
        "up": f"sum(count_over_time(({counted} == 1)[{rng}:{res}]))",
        "down": f"sum(count_over_time(({counted} == 0)[{rng}:{res}]))",
        "all": f"sum(count_over_time(({series})[{rng}:{res}]))",
        "flaps": f"sum(resets(({counted})[{rng}:{res}]))",
        "subjects": f"count(count by ({key}) (count_over_time({series}[{rng}])))",
    }
    if kind != "link":
        queries["maintenance"] = (
            f"sum(count_over_time(({series} and on(device) kentongan_maintenance == 1)"
            f"[{rng}:{res}]))"
        )
        queries["unreachable"] = (
            f"sum(count_over_time(({series} and on(device) "
            f"(kentongan_device_unreachable == 1 unless on(device) kentongan_maintenance == 1))"
            f"[{rng}:{res}]))"
        )
    values: dict[str, float] = {}
    with httpx.Client(timeout=timeout) as client:
        for name, query in queries.items():
            values[name] = _scalar(client, url, query, end)
    subjects = int(values["subjects"])
    up_s, down_s = values["up"] * step, values["down"] * step
    maintenance_s = values.get("maintenance", 0.0) * step
    unreachable_s = values.get("unreachable", 0.0) * step
    expected = subjects * span
    unknown_s = max(0.0, expected - up_s - down_s - maintenance_s - unreachable_s)
    total = up_s + down_s
    return AvailabilityResult(
        percent=None if total == 0 else 100.0 * up_s / total,
        up_s=up_s,
        down_s=down_s,
        unreachable_s=unreachable_s,
        unknown_s=unknown_s,
        maintenance_s=maintenance_s,
        flaps=int(values["flaps"]),
        subjects=subjects,
    )


def _vector(client: httpx.Client, url: str, query: str, at: datetime, key: str) -> dict[str, float]:
    try:
        response = client.get(
            f"{url.rstrip('/')}/api/v1/query",
            params={"query": query, "time": f"{at.timestamp():.3f}"},
        )
    except httpx.HTTPError as exc:
        raise PrometheusQueryError(f"unreachable: {exc}", url=url, query=query) from exc
    body = response.json() if response.status_code in (200, 400, 422) else {}
    if response.status_code != 200 or body.get("status") != "success":
        raise PrometheusQueryError(
            str(body.get("error") or f"HTTP {response.status_code}"), url=url, query=query
        )
    return {r["metric"].get(key, ""): float(r["value"][1]) for r in body["data"]["result"]}


def availability_by(
    url: str,
    *,
    kind: str,
    start: datetime,
    end: datetime,
    subjects: Iterable[str] | None = None,
    now: datetime | None = None,
    timeout: float = 60.0,
) -> dict[str, AvailabilityResult]:
    """Availability of many subjects of one kind in a few queries (``sum by`` the subject's
    label): ``{subject: AvailabilityResult}``. For readiness over every village's uplink
    (``kind="link"``) or every device. ``subjects`` limits the answer (default: all seen).

    Raises:
        ValueError: for an unknown ``kind``.
        PrometheusQueryError: when Prometheus cannot answer.
    """
    if kind not in SELECTOR_LABEL:
        raise ValueError(f"unknown kind {kind!r}: use {', '.join(SELECTOR_LABEL)}")
    now = as_utc(now or utcnow())
    start, end = as_utc(start), min(as_utc(end), now)
    wanted = set(subjects) if subjects is not None else None
    if end <= start:
        return {s: AvailabilityResult(percent=None) for s in wanted or ()}
    span = (end - start).total_seconds()
    step = max(60.0, math.ceil(span / MAX_POINTS))
    rng, res = f"{int(span)}s", f"{int(step)}s"
    key = SELECTOR_LABEL[kind]
    metric = "kentongan_link_up" if kind == "link" else "kentongan_device_up"
    series = f'{metric}{{{key}!=""}}'
    if kind == "link":
        counted = link_observed(f'{key}!=""')
        unit = "link"
    else:
        counted = (f"({series} unless on(device) "
                   "(kentongan_maintenance == 1 or kentongan_device_unreachable == 1))")
        unit = "device"
    queries = {
        "up": f"sum by ({key}) (count_over_time(({counted} == 1)[{rng}:{res}]))",
        "down": f"sum by ({key}) (count_over_time(({counted} == 0)[{rng}:{res}]))",
        "flaps": f"sum by ({key}) (resets(({counted})[{rng}:{res}]))",
        "subjects": (
            f"count by ({key}) (count by ({key}, {unit}) (count_over_time({series}[{rng}])))"
        ),
    }
    with httpx.Client(timeout=timeout) as client:
        values = {name: _vector(client, url, q, end, key) for name, q in queries.items()}
    found = set(values["subjects"]) if wanted is None else wanted
    out: dict[str, AvailabilityResult] = {}
    for subject in found:
        up_s = values["up"].get(subject, 0.0) * step
        down_s = values["down"].get(subject, 0.0) * step
        total = up_s + down_s
        out[subject] = AvailabilityResult(
            percent=None if total == 0 else 100.0 * up_s / total,
            up_s=up_s,
            down_s=down_s,
            flaps=int(values["flaps"].get(subject, 0.0)),
            subjects=int(values["subjects"].get(subject, 0.0)),
        )
    return out


def availability_many_source(
    prometheus_url: str | None, *, policy: StorePolicy | None = None
) -> AvailabilityManyFn:
    """THE place that picks where availability comes from, for readiness, the SLA report
    and the API: Prometheus's query API when ``prometheus_url`` is set
    (``KENTONGAN_PROMETHEUS_URL``), else the embedded store. The result is
    ``fn(session, *, kind, subjects, start, end, now=None) -> {subject: result}``; the
    Prometheus one raises :class:`PrometheusQueryError` when it cannot answer."""
    if prometheus_url:
        url = prometheus_url

        def from_prometheus(
            session: Any, *, kind: str, subjects: Iterable[str] | None, start: datetime,
            end: datetime, now: datetime | None = None, **_: Any,
        ) -> dict[str, AvailabilityResult]:
            return availability_by(url, kind=kind, subjects=subjects, start=start, end=end,
                                   now=now)

        return from_prometheus
    return partial(availability_many, policy=policy or StorePolicy())


def availability_source(settings: Any) -> Callable[..., AvailabilityResult]:
    """The availability function readiness and reports should call:
    ``fn(session, *, kind, subject, start, end) -> AvailabilityResult``.

    With ``settings.prometheus_url`` set, Prometheus's query API (the session is unused);
    otherwise the embedded store (:func:`collectors.store.availability`).
    """
    url = getattr(settings, "prometheus_url", None)
    if url:  # the same choice as availability_many_source

        def from_prometheus(
            session: Any, *, kind: str, subject: str, start: datetime, end: datetime,
            **_: Any,
        ) -> AvailabilityResult:
            return availability_from_prometheus(
                url, kind=kind, subject=subject, start=start, end=end
            )

        return from_prometheus
    return partial(availability, policy=StorePolicy.from_settings(settings))
