"""Values as the lake's readers show them: times in UTC, finite numbers, JSON-ready forms.

Delta timestamps read by delta-rs are naive UTC, Spark's progress times end in 'Z', the Delta
log counts epoch milliseconds; all are normalised to timezone-aware UTC here, once.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 text in UTC (naive datetimes are taken as UTC), or None."""
    return None if moment is None else as_utc(moment).isoformat()


def parse_time(value: Any) -> datetime | None:
    """A UTC datetime from an ISO string (Spark's 'Z' suffix included), datetime or epoch ms."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def utc_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every datetime column tz-aware UTC (naive columns are taken as UTC)."""
    import pandas as pd

    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            series = frame[name]
            frame[name] = (
                series.dt.tz_convert("UTC")
                if series.dt.tz is not None
                else series.dt.tz_localize("UTC")
            )
    return frame


def number(value: Any) -> float | None:
    """A finite float, or None (NaN and infinities are not valid JSON)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def integer(value: Any) -> int | None:
    """An int from a number or numeric text, or None."""
    result = number(value)
    return None if result is None else int(result)


def json_ready(value: Any) -> Any:
    """JSON-safe form of a value: dataclasses as dicts of their fields, enums as their values,
    datetimes as ISO text in UTC, NaN and infinities as None, anything unknown as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_ready(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return json_ready(value.value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float):
        return number(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return str(value)
