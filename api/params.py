"""Bounds on what a request may carry, shared by the routes: no edge value reaches a query.

* integer ids in paths fit the database's integer (``1 … 2**31-1``);
* free-text query parameters are bounded and printable (a NUL reaches PostgreSQL as an
  error otherwise);
* dates and times lie in 1970-01-01 … 9998-12-31 UTC, so that offsets and day arithmetic
  never overflow ``datetime``;
* a refused request answers 422 naming the field even when what it sent cannot be written
  back as JSON (``1e999`` is parsed as infinity).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator

from inventory.schemas import REGION_CODE, SLUG, control_character

#: The largest id a path may carry (PostgreSQL ``integer``).
MAX_ID = 2**31 - 1
#: Printable text: no C0 control character, no DEL.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, 23, 59, 59, tzinfo=UTC)

IntId = Annotated[int, Path(ge=1, le=MAX_ID, description="A numeric id")]
SlugId = Annotated[str, Path(max_length=64, pattern=SLUG, description="An inventory id")]
RegionCodePath = Annotated[
    str, Path(max_length=16, pattern=REGION_CODE, description="Kemendagri region code")
]


def text_query(max_length: int, description: str | None = None) -> Any:
    """A ``Query`` for free text: at most ``max_length`` printable characters."""
    return Query(max_length=max_length, pattern=PRINTABLE, description=description)


def _in_range(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range: give a time between 1970 and 9998") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError("out of range: give a time between 1970 and 9998")
    return utc


def _day_in_range(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError("out of range: give a day between 1970-01-01 and 9998-12-31")
    return value


#: A date-time from a caller, as aware UTC, refused outside 1970 … 9998 (offsets included).
InputDateTime = Annotated[datetime, AfterValidator(_in_range)]
#: A day from a caller, refused outside 1970-01-01 … 9998-12-31.
InputDate = Annotated[date, AfterValidator(_day_in_range)]


def printable(value: str | None, field: str, *, multiline: bool = False) -> str | None:
    """``value`` unchanged, or ValueError when it holds NUL or another control character."""
    if value is not None:
        why = control_character(value, multiline=multiline)
        if why:
            raise ValueError(f"{field}: {why}")
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 (``detail`` lists each field and why), written as valid JSON even when
    the input echoed back holds infinities or bytes."""
    assert isinstance(exc, RequestValidationError)
    try:
        return await request_validation_exception_handler(request, exc)
    except ValueError:
        return JSONResponse(status_code=422, content={"detail": _json_safe(exc.errors())})


def install(app: FastAPI) -> None:
    """Register the validation error handler."""
    app.add_exception_handler(RequestValidationError, _validation_error)
