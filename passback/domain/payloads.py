"""OneRoster 1.1 lineItem and result payloads from eligible rows, ids and canonical hashes.

Everything here is vectorised over frames.  A payload dict is only materialised for a row that
is about to be written (``line_item_payload`` / ``result_payload``), so a run that changes little
builds little.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd

from passback.domain.columns import categorical_labels, categorical_take, categorical_text, positions

# Fixed namespace: changing it would change every sourcedId ever sent (never do that).
NAMESPACE = uuid.UUID("5f1f3c8e-8a7e-4b7e-9d43-4e2f0a5b7c11")

LINE_ITEM_HASHED = [
    "title",
    "assign_date",
    "due_date",
    "class_sis_id",
    "category_id",
    "grading_period_id",
    "result_value_max",
]
RESULT_HASHED = ["assessment_id", "student_sis_id", "score", "score_status", "comment"]
MISSING_COMMENT = "Missing: not submitted by the due date (0 sent by Otus grade passback)"


def line_item_id(district_id: str, assessment_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{district_id}:lineItem:{assessment_id}"))


def result_id(district_id: str, assessment_id: str, student_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{district_id}:result:{assessment_id}:{student_id}"))


def row_key(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A stable int64 key of the natural-key columns (same values -> same key, in every process)."""
    return _hash_columns(frame, columns, numbers=False)


def canonical_hash(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """int64 hash of the canonical payload columns (dtype-normalised so it is stable across runs).

    Values are those of pandas' ``hash_pandas_object`` over the text of each column (NA as "") and
    numbers rounded to 6 places: the ledger holds these hashes, they must never change.  Text is
    hashed as a Categorical of its distinct values, which pandas hashes value by value exactly like
    the text itself (tests/domain/test_plan.py checks it) without a Python string per row."""
    return _hash_columns(frame, columns, numbers=True)


def _hash_columns(frame: pd.DataFrame, columns: list[str], *, numbers: bool) -> np.ndarray:
    parts = {}
    for col in columns:
        series = frame[col]
        if numbers and (pd.api.types.is_float_dtype(series) or pd.api.types.is_integer_dtype(series)):
            parts[col] = series.astype("float64").round(6).to_numpy()
        else:
            parts[col] = categorical_text(series, na="")
    table = pd.DataFrame(parts, index=pd.RangeIndex(len(frame)), copy=False)
    return pd.util.hash_pandas_object(table, index=False).to_numpy().view("int64")


def _iso_day(series: pd.Series) -> pd.Series:
    return series.dt.strftime("%Y-%m-%d").astype("str")


def _day_text(series: pd.Series) -> pd.Series:
    """YYYY-MM-DD of each timestamp ("" for NaT), formatting each distinct day once (millions of rows, few days)."""
    day_codes, days = pd.factorize(series.dt.normalize())
    names = [*pd.DatetimeIndex(days).strftime("%Y-%m-%d"), ""]
    return categorical_labels(np.where(day_codes < 0, len(names) - 1, day_codes), names, series.index)  # NaT: ""


def line_items(eligible: pd.DataFrame) -> pd.DataFrame:
    """Desired lineItems: one row per eligible assessment (the derived assessment frame's rows)."""
    out = pd.DataFrame(
        {
            "assessment_id": eligible["id"].astype("str"),
            "title": eligible["title"].str.strip(),
            "assign_date": _iso_day(eligible["assign_date"]),
            "due_date": _iso_day(eligible["due_date"]),
            "class_sis_id": eligible["class_sis_id"].astype("str"),
            "category_id": eligible["category_id"].astype("str"),
            "grading_period_id": eligible["assign_gp"].astype("str"),
            "result_value_max": eligible["points_possible"].astype("float64"),
        },
        index=eligible.index,
    )
    out["student_id"] = ""
    out["payload_hash"] = canonical_hash(out, LINE_ITEM_HASHED)
    return out


def results(sendable: pd.DataFrame, line_item_frame: pd.DataFrame) -> pd.DataFrame:
    """Desired results: one row per passing score (the derived score frame's rows).

    A graded score sends its points (fractions and extra credit unchanged); a score not
    submitted after the due date sends 0 with a comment saying it was missing.
    """
    graded = (sendable["state"] == "graded").fillna(False).to_numpy(dtype=bool)
    parent = positions(sendable["assessment_id"], line_item_frame["assessment_id"])
    index = sendable.index
    out = pd.DataFrame(
        {
            "assessment_id": sendable["assessment_id"].astype("str"),
            "student_id": sendable["student_id"].astype("str"),
            "student_sis_id": sendable["student_sis_id"],  # categorical (derive_scores)
            "score": np.where(graded, sendable["points_earned"].to_numpy(dtype="float64"), 0.0),
            "score_status": categorical_labels(np.zeros(len(index), dtype=np.int8), ["fully graded"], index),
            "comment": categorical_labels(np.where(graded, 0, 1), ["", MISSING_COMMENT], index),
            "score_date": _day_text(sendable["updated_at"]),
            "grading_period_id": categorical_take(line_item_frame["grading_period_id"], parent, index),
        },
        index=index,
        copy=False,  # the columns are new already (a dict of Series is copied by default)
    )
    out["payload_hash"] = canonical_hash(out, RESULT_HASHED)
    return out


def _ref(sourced_id: str, kind: str, href: str) -> dict[str, str]:
    return {"href": f"/{href}/{sourced_id}", "sourcedId": sourced_id, "type": kind}


def line_item_payload(district_id: str, row: Any) -> tuple[str, dict[str, Any]]:
    """(sourcedId, {"lineItem": ...}) for one desired lineItem row (a namedtuple or mapping)."""
    sid = line_item_id(district_id, row.assessment_id)
    body = {
        "sourcedId": sid,
        "status": "active",
        "title": row.title,
        "description": "",
        "assignDate": f"{row.assign_date}T00:00:00Z",
        "dueDate": f"{row.due_date}T00:00:00Z",
        "class": _ref(row.class_sis_id, "class", "classes"),
        "category": _ref(row.category_id, "category", "categories"),
        "gradingPeriod": _ref(row.grading_period_id, "academicSession", "academicSessions"),
        "resultValueMin": 0.0,
        "resultValueMax": float(row.result_value_max),
    }
    return sid, {"lineItem": body}


def result_payload(district_id: str, row: Any) -> tuple[str, dict[str, Any]]:
    """(sourcedId, {"result": ...}) for one desired result row."""
    sid = result_id(district_id, row.assessment_id, row.student_id)
    li = line_item_id(district_id, row.assessment_id)
    body: dict[str, Any] = {
        "sourcedId": sid,
        "status": "active",
        "lineItem": _ref(li, "lineItem", "lineItems"),
        "student": _ref(row.student_sis_id, "user", "users"),
        "scoreStatus": row.score_status,
        "score": float(row.score),
        "scoreDate": row.score_date or None,
        "comment": row.comment,
    }
    if body["scoreDate"] is None:
        del body["scoreDate"]
    return sid, {"result": body}
