"""Edge-value strategies for the schemathesis fuzz tests: huge integers in paths and
queries, extreme dates and times (years 1 and 9999, ±14:00 offsets)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import schemathesis
from hypothesis import strategies as st

BIG_INTS = (2**31, 2**63, 2**64 + 1, 10**30, -1, -(2**63) - 1, -(10**30))
EXTREME_DATETIMES = (
    "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00",
    "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59",
    "1969-12-31T23:59:59Z", "9998-12-31T23:59:59+14:00",
)
EXTREME_DATES = ("0001-01-01", "9999-12-31", "1969-12-31", "9998-12-31", "1970-01-01")

_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
DATETIMES = st.one_of(
    st.sampled_from(EXTREME_DATETIMES),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59),
                 timezones=st.one_of(st.none(), _offsets)).map(datetime.isoformat),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                 timezones=st.just(UTC)).map(datetime.isoformat),
)
DATES = st.one_of(st.sampled_from(EXTREME_DATES), st.dates().map(lambda d: d.isoformat()))


def register_extreme_formats() -> None:
    """Make every ``date-time`` and ``date`` string the fuzzer writes an edge case often."""
    schemathesis.openapi.format("date-time", DATETIMES)
    schemathesis.openapi.format("date", DATES)


def with_big_ints(values: dict[str, Any] | None) -> st.SearchStrategy[dict[str, Any] | None]:
    """``values`` with every integer replaced by a huge one, or as generated (the huge
    branch comes first: hypothesis tries it in the first examples)."""
    if not values or not any(isinstance(v, int) and not isinstance(v, bool)
                             for v in values.values()):
        return st.just(values)
    big = st.fixed_dictionaries({
        k: st.sampled_from(BIG_INTS) if isinstance(v, int) and not isinstance(v, bool)
        else st.just(v) for k, v in values.items()
    })
    return st.one_of(big, st.just(values))


def add_big_int_hooks(schema: Any) -> Any:
    """Let ``schema``'s generated path parameters and queries carry huge integers."""

    @schema.hook  # type: ignore[untyped-decorator]
    def flatmap_path_parameters(context: object, path_parameters: dict[str, Any]) -> Any:
        return with_big_ints(path_parameters)

    @schema.hook  # type: ignore[untyped-decorator]
    def flatmap_query(context: object, query: dict[str, Any]) -> Any:
        return with_big_ints(query)

    return schema
