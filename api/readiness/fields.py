"""Field types shared by the api package's response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

from core.timeutil import as_utc


def _utc(value: datetime) -> datetime:
    return as_utc(value)


#: A datetime always given out as aware UTC (SQLite hands back naive values).
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
