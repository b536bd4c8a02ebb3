"""Availability from Prometheus's query API, against a real Prometheus whose TSDB is
backfilled (promtool tsdb create-blocks-from openmetrics) with a known history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collectors.promquery import (
    PrometheusQueryError,
    availability_from_prometheus,
    availability_source,
)
from collectors.store import AvailabilityResult
from core.settings import Settings
from tests.alerts.peers import backfilled_prometheus

pytestmark = pytest.mark.integration
SITE = 'site="kantor-desa-kemiren",village_code="35.10.15.2004",district_code="35.10.15"'


def _history(start: datetime) -> str:
    """4 hours at 60 s: rtr and kiosk and ups up 3h then down 1h; the kiosk is in
    maintenance and the ups unreachable during that last hour."""
    t0 = int(start.timestamp())
    points = range(0, 4 * 3600, 60)
    lines = ["# TYPE kentongan_device_up gauge"]
    for dev in ("rtr-kemiren", "kiosk-kemiren-1", "ups-kemiren"):
        lines += [f'kentongan_device_up{{device="{dev}",{SITE}}} {int(p < 3 * 3600)} {t0 + p}'
                  for p in points]
    lines.append("# TYPE kentongan_maintenance gauge")
    for dev in ("rtr-kemiren", "kiosk-kemiren-1", "ups-kemiren"):
        lines += [f'kentongan_maintenance{{device="{dev}",{SITE}}} '
                  f'{int(dev.startswith("kiosk") and p >= 3 * 3600)} {t0 + p}' for p in points]
    lines.append("# TYPE kentongan_device_unreachable gauge")
    for dev in ("rtr-kemiren", "kiosk-kemiren-1", "ups-kemiren"):
        lines += [f'kentongan_device_unreachable{{device="{dev}",{SITE}}} '
                  f'{int(dev.startswith("ups") and p >= 3 * 3600)} {t0 + p}' for p in points]
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, datetime]]:
    work = tmp_path_factory.mktemp("promquery")
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    start = end - timedelta(hours=4)
    with backfilled_prometheus(work, _history(start)) as url:
        yield url, start


def test_device_availability(backfilled: tuple[str, datetime]) -> None:
    url, start = backfilled
    end = start + timedelta(hours=4)
    result = availability_from_prometheus(url, kind="device", subject="rtr-kemiren",
                                          start=start, end=end)
    assert isinstance(result, AvailabilityResult)
    assert result.percent == pytest.approx(75.0, abs=1.0)
    assert result.down_s == pytest.approx(3600, abs=120)
    assert result.flaps == 1 and result.subjects == 1
    assert result.maintenance_s == 0 and result.unreachable_s == 0


def test_maintenance_and_unreachable_are_left_out(backfilled: tuple[str, datetime]) -> None:
    url, start = backfilled
    end = start + timedelta(hours=4)
    kiosk = availability_from_prometheus(url, kind="device", subject="kiosk-kemiren-1",
                                         start=start, end=end)
    assert kiosk.percent == 100.0 and kiosk.maintenance_s == pytest.approx(3600, abs=120)
    site = availability_from_prometheus(url, kind="site", subject="kantor-desa-kemiren",
                                        start=start, end=end)
    assert site.subjects == 3
    assert site.unreachable_s == pytest.approx(3600, abs=120)
    assert site.percent == pytest.approx(100 * 3 * 3 / (3 * 3 + 1), abs=1.0)
    village = availability_from_prometheus(url, kind="village", subject="35.10.15.2004",
                                           start=start, end=end)
    assert village.percent == pytest.approx(site.percent)


def test_source_selector(backfilled: tuple[str, datetime]) -> None:
    url, start = backfilled
    fn = availability_source(Settings(prometheus_url=url))
    result = fn(None, kind="device", subject="rtr-kemiren", start=start,
                end=start + timedelta(hours=4))
    assert result.percent == pytest.approx(75.0, abs=1.0)
    from collectors import store

    local = availability_source(Settings())
    assert getattr(local, "func", None) is store.availability


def test_unreachable_prometheus_is_an_error() -> None:
    from tests.alerts.support import free_port

    with pytest.raises(PrometheusQueryError, match="unreachable"):
        availability_from_prometheus(f"http://127.0.0.1:{free_port()}", kind="device",
                                     subject="x", start=datetime(2026, 1, 1, tzinfo=UTC),
                                     end=datetime(2026, 1, 2, tzinfo=UTC))


def test_availability_of_many_subjects_at_once(backfilled: tuple[str, datetime]) -> None:
    from collectors.promquery import availability_by

    url, start = backfilled
    end = start + timedelta(hours=4)
    devices = availability_by(url, kind="device", start=start, end=end)
    assert set(devices) == {"rtr-kemiren", "kiosk-kemiren-1", "ups-kemiren"}
    single = availability_from_prometheus(url, kind="device", subject="rtr-kemiren",
                                          start=start, end=end)
    assert devices["rtr-kemiren"].percent == pytest.approx(single.percent)
    assert devices["rtr-kemiren"].flaps == 1
    assert devices["kiosk-kemiren-1"].percent == 100.0
    sites = availability_by(url, kind="site", start=start, end=end,
                            subjects=["kantor-desa-kemiren", "kantor-desa-nowhere"])
    assert sites["kantor-desa-kemiren"].subjects == 3
    assert sites["kantor-desa-nowhere"].percent is None
