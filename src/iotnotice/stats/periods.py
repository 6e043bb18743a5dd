"""Calendar periods (UTC) used by the statistics: year, month or day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from iotnotice.errors import IotnoticeError

__all__ = ["PERIODS", "Period", "period_bounds", "period_format"]

Period = Literal["year", "month", "day"]
PERIODS: tuple[str, ...] = ("year", "month", "day")

_FORMATS = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}


def period_format(by: str) -> str:
    """The strftime pattern naming a period ('2018', '2018-03', '2018-03-07')."""
    try:
        return _FORMATS[by]
    except KeyError:
        raise IotnoticeError(f"unknown period {by!r}; use one of {', '.join(PERIODS)}") from None


def period_bounds(by: str, label: str) -> tuple[datetime, datetime]:
    """[start, end) of the period named ``label``, in UTC."""
    start = datetime.strptime(label, period_format(by)).replace(tzinfo=UTC)
    if by == "year":
        return start, start.replace(year=start.year + 1)
    if by == "month":
        nxt = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        return start, nxt
    return start, start + timedelta(days=1)
