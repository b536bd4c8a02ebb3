"""Unit tests of the scheduling rules: batches and waves, service hours, thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from playbooks.choices import WaveMode
from playbooks.errors import RolloutError
from playbooks.rollout import parse_percent
from playbooks.schedule import (
    BatchSize,
    HostSlot,
    ServiceWindow,
    backoff,
    over_threshold,
    plan_batches,
)

HOSTS = [
    HostSlot("k-a1", "35.10.15.2004", "35.10.15"),
    HostSlot("k-a2", "35.10.15.2004", "35.10.15"),
    HostSlot("k-b1", "35.10.15.2005", "35.10.15"),
    HostSlot("k-c1", "35.10.16.2001", "35.10.16"),
    HostSlot("k-c2", "35.10.16.2001", "35.10.16"),
    HostSlot("k-d1", "35.10.17.2001", "35.10.17"),
]


def test_batch_sizes_parse_counts_and_percentages() -> None:
    assert BatchSize.parse("5").size(100) == 5
    assert BatchSize.parse("25%").size(10) == 3
    assert BatchSize.parse("1%").size(3) == 1
    for bad in ("0", "-1", "abc", "120%", "5 hosts"):
        with pytest.raises(RolloutError):
            BatchSize.parse(bad)


def test_flat_plan_is_canary_then_batches() -> None:
    plan = plan_batches(HOSTS, canary=1, batch=BatchSize.parse("2"))
    assert plan == [["k-a1"], ["k-a2", "k-b1"], ["k-c1", "k-c2"], ["k-d1"]]
    assert plan_batches(HOSTS, canary=0, batch=BatchSize.parse("100%")) == [
        [h.device_id for h in HOSTS]
    ]


def test_tree_waves_canary_village_then_kecamatan_by_kecamatan() -> None:
    plan = plan_batches(
        HOSTS, canary=0, batch=BatchSize.parse("100%"), waves=WaveMode.TREE,
        canary_village="35.10.16.2001",
    )
    assert plan == [["k-c1", "k-c2"], ["k-a1", "k-a2", "k-b1"], ["k-d1"]]
    plan = plan_batches(HOSTS, canary=1, batch=BatchSize.parse("2"), waves=WaveMode.TREE)
    assert plan == [["k-a1"], ["k-a2", "k-b1"], ["k-c1", "k-c2"], ["k-d1"]]
    with pytest.raises(RolloutError, match="canary village"):
        plan_batches(HOSTS, canary=1, batch=BatchSize.parse("2"), waves=WaveMode.TREE,
                     canary_village="35.10.99.9999")


def test_service_window_in_wib_on_working_days() -> None:
    window = ServiceWindow.parse("08:00-15:00", "mon,tue,wed,thu,fri")
    monday_9_wib = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 WIB
    assert window.is_serving(monday_9_wib)
    assert window.closes_at(monday_9_wib) == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert not window.is_serving(monday_9_wib + timedelta(hours=7))  # 16:00 WIB
    assert not window.is_serving(monday_9_wib - timedelta(days=1))  # Sunday
    assert not window.is_serving(datetime(2026, 11, 23, 0, 59, tzinfo=UTC))  # 07:59 WIB
    with pytest.raises(RolloutError):
        ServiceWindow.parse("8-15", "mon")
    with pytest.raises(RolloutError):
        ServiceWindow.parse("08:00-15:00", "mon,funday")


def test_failure_threshold_and_backoff() -> None:
    assert not over_threshold(0, 10, 0)
    assert over_threshold(1, 10, 0)
    assert not over_threshold(1, 10, 10)
    assert over_threshold(2, 10, 10)
    assert backoff(1) == timedelta(minutes=5)
    assert backoff(3) == timedelta(minutes=20)
    assert backoff(30) == timedelta(hours=6)
    assert parse_percent("10%") == 10.0
    with pytest.raises(RolloutError):
        parse_percent("150%")
