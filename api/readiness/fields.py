"""Field types shared by the api package's response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

from core.timeutil import as_utc


def _utc(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except OverflowError:  # year 1 at +14:00, year 9999 at -14:00
        raise ValueError("out of range: the time cannot be given in UTC") from None


#: A datetime always given out as aware UTC (SQLite hands back naive values).
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
