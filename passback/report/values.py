"""The offending value of each held-back row, in words: "title length 57 of at most 49",
"points possible 10.5", "due 2026-09-01 before assign 2026-09-05", "type \"Journal\" not mapped".

Vectorised per reason over the rows that carry it; score values are built as categoricals (one
label per distinct value: a few per reason, or one per assessment), never one Python string per
score row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from passback.quality.meanings import rule_setting

Text = Callable[[pd.DataFrame], pd.Series]


def _day(series: pd.Series) -> pd.Series:
    return series.dt.strftime("%Y-%m-%d").fillna("missing").astype("str")


def _quoted(series: pd.Series) -> pd.Series:
    return ('"' + series.astype("str") + '"').fillna("missing")


def _number(series: pd.Series) -> pd.Series:
    values = series.astype("float64")
    text = values.map(lambda v: f"{v:g}", na_action="ignore").astype("str")
    return text.fillna("missing")


def _title_too_long(a: pd.DataFrame) -> pd.Series:
    limit = rule_setting("assessments", "title_too_long", "max_value")
    suffix = f" of at most {limit}" if limit is not None else ""
    return "title length " + a["title_length"].astype("str") + suffix


def _missing_dates(a: pd.DataFrame) -> pd.Series:
    assign, due = a["assign_date"].isna(), a["due_date"].isna()
    out = np.where(
        assign & due, "assign and due dates missing", np.where(assign, "assign date missing", "due date missing")
    )
    return pd.Series(out, index=a.index, dtype="str")


def _outside(a: pd.DataFrame) -> pd.Series:
    assign = a["assign_gp"].isna()
    return (
        pd.Series(
            np.where(assign, "assign date " + _day(a["assign_date"]), "due date " + _day(a["due_date"])),
            index=a.index,
            dtype="str",
        )
        + " in no grading period"
    )


ASSESSMENT_VALUES: dict[str, Text] = {
    "duplicate_row": lambda a: "assessment id " + _quoted(a["id"]) + " repeated",
    "assessment_deleted": lambda a: "status " + _quoted(a["status"]),
    "not_points_based": lambda a: "scoring " + _quoted(a["scoring"]),
    "points_not_whole": lambda a: "points possible " + _number(a["points_possible"]),
    "title_missing": lambda a: pd.Series("title blank", index=a.index, dtype="str"),
    "title_too_long": _title_too_long,
    "not_in_final_grade": lambda a: pd.Series("Include Score in Final Grade: off", index=a.index, dtype="str"),
    "class_not_in_sis": lambda a: "class " + _quoted(a["class_id"]) + " has no Skyward id",
    "assigner_not_in_sis": lambda a: "assigned by " + _quoted(a["assigned_by"]) + ", who has no Skyward id",
    "assigner_not_in_group": lambda a: "assigned by " + _quoted(a["assigned_by"]) + ", not in the passback group",
    "missing_dates": _missing_dates,
    "due_before_assign": lambda a: "due " + _day(a["due_date"]) + " before assign " + _day(a["assign_date"]),
    "before_effective_date": lambda a: (
        "assigned " + _day(a["assign_date"]) + ", effective date " + _day(a["effective_date"])
    ),
    "outside_grading_periods": _outside,
    "straddles_grading_periods": lambda a: (
        "assign in " + a["assign_gp"].astype("str") + ", due in " + a["due_gp"].astype("str")
    ),
    "grading_period_closed": lambda a: "grading period " + a["assign_gp"].astype("str").fillna("?") + " closed",
    "category_unmapped": lambda a: "type " + _quoted(a["assessment_type"]) + " not mapped",
    "category_not_in_sis": lambda a: (
        "type "
        + _quoted(a["assessment_type"])
        + " mapped to category "
        + _quoted(a["category_id"])
        + ", not active in Skyward"
    ),
    "nothing_to_send": lambda a: pd.Series("no score graded or past due yet", index=a.index, dtype="str"),
}


def assessment_values(a: pd.DataFrame, reasons: pd.Series, messages: pd.Series | np.ndarray) -> pd.Series:
    """The offending value per assessment row (NA for rows without a reason); the SIS's message
    where the SIS decided (rejected, failed, a period learned closed)."""
    out = pd.Series(pd.NA, index=a.index, dtype="str")
    codes = pd.Series(reasons, index=a.index)
    for code in codes.dropna().unique():
        mask = (codes == code).to_numpy()
        make = ASSESSMENT_VALUES.get(str(code))
        if make is not None:
            out[mask] = make(a[mask]).to_numpy()
    sis = pd.Series(pd.array(messages, dtype="str"), index=a.index)
    return out.where(sis.isna(), sis)


def score_values(s: pd.DataFrame, reasons: pd.Series, a: pd.DataFrame) -> pd.Categorical:
    """The offending value per score row as a categorical (NA for rows without a reason)."""
    codes = np.full(len(s), -1, dtype=np.int32)
    labels: list[str] = []
    reasons = pd.Series(reasons, index=s.index)

    def put(mask: np.ndarray, values: pd.Series | str) -> None:
        if not mask.any():
            return
        if isinstance(values, str):
            codes[mask] = len(labels)
            labels.append(values)
            return
        local, uniques = pd.factorize(values, use_na_sentinel=False)
        codes[mask] = local + len(labels)
        labels.extend(str(u) for u in uniques)

    firsts = a[~a["is_duplicate"]]
    first_ids = pd.Index(firsts["id"])

    def per_assessment(mask: np.ndarray, label: Callable[[np.ndarray], list[str]]) -> None:
        """One label per distinct assessment of the masked rows (never a string per score row)."""
        local, ids = pd.factorize(s["assessment_id"].array[mask], use_na_sentinel=False)  # Arrow: no object column
        parent = np.clip(first_ids.get_indexer(ids), 0, None) if len(first_ids) else np.zeros(len(ids), np.intp)
        texts = label(parent)
        uniq, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        codes[mask] = inverse[local] + len(labels)
        labels.extend(str(u) for u in uniq)

    reason_text = firsts["reason"].astype("str").to_numpy(dtype=object)
    due_text = _day(firsts["due_date"]).to_numpy(dtype=object)
    for code in reasons.dropna().unique():
        mask = (reasons == code).to_numpy()
        code = str(code)
        if code == "assessment_ineligible":
            per_assessment(mask, lambda p: [f"assessment held back: {r}" for r in reason_text[p]])
        elif code == "not_yet_due":
            per_assessment(mask, lambda p: [f"not submitted, due {d}" for d in due_text[p]])
        elif code == "not_yet_graded":
            put(mask, 'state "turned_in"')
        elif code == "score_invalid":
            sub = s[mask]
            known = sub["state"].isin(["graded", "not_submitted"]).fillna(False).to_numpy()
            text = np.where(known, "points earned " + _number(sub["points_earned"]), "state " + _quoted(sub["state"]))
            put(mask, pd.Series(text))
        else:
            put(mask, SCORE_VALUES.get(code, code))
    return (
        pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=object))
        if labels
        else pd.Categorical([None] * len(s), categories=pd.Index([], dtype=object))
    )


SCORE_VALUES: dict[str, str] = {
    "duplicate_row": "a second row for this assessment and student",
    "unknown_assessment": "assessment not in the Otus data",
    "line_item_rejected": "Skyward refused the assessment (lineItem)",
    "score_excluded": "marked Excluded",
    "student_not_in_sis": "student has no Skyward id",
    "grading_period_closed": "grading period closed in Skyward",
}
