"""What the rules need to know about one district at one moment (pure data, no I/O)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd

GRADING_PERIOD_COLUMNS = ["sourced_id", "title", "start_date", "end_date"]


def local_now(timezone: str, utc_now: dt.datetime | None = None) -> dt.datetime:
    """The district's wall-clock time now, as a naive datetime (DST handled by zoneinfo)."""
    now = utc_now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return now.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def grading_period_frame(rows: list[Mapping[str, object]] | pd.DataFrame) -> pd.DataFrame:
    """Normalise grading periods (sourced_id, title, start_date, end_date) to a sorted frame."""
    frame = pd.DataFrame(rows, columns=GRADING_PERIOD_COLUMNS) if not isinstance(rows, pd.DataFrame) else rows
    frame = frame[GRADING_PERIOD_COLUMNS].copy()
    for col in ("start_date", "end_date"):
        frame[col] = pd.to_datetime(frame[col], errors="coerce").astype("datetime64[ns]").dt.normalize()
    frame["sourced_id"] = frame["sourced_id"].astype(str)
    return frame.dropna(subset=["start_date", "end_date"]).sort_values("start_date").reset_index(drop=True)


@dataclass(frozen=True)
class DistrictContext:
    """The district's configuration plus what the SIS told us at the start of the run."""

    district_id: str
    timezone: str
    effective_date: dt.date
    now_local: dt.datetime  # the district's wall clock (see local_now)
    mapping: Mapping[str, str]  # Otus type -> Skyward category sourcedId
    grading_periods: pd.DataFrame  # grading_period_frame(...)
    active_categories: frozenset[str]  # active district-level category sourcedIds in the SIS
    closed_periods: frozenset[str] = frozenset()  # by configuration or learned from the SIS
    grace_hours: float = 0.0

    @property
    def today(self) -> dt.date:
        return self.now_local.date()
