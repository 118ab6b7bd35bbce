"""A run's report as data: per reason (rule order) its meaning, counts and the held-back
assessments (capped per reason; the export is complete), and what changed since the previous run.

Aggregations are pandas group-bys over the row outcomes; only the listed rows (a few hundred per
reason at most) become Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from passback.domain.columns import is_in
from passback.quality.meanings import ALL_REASONS, Meaning, meaning_of
from passback.report.outcomes import RowOutcomes

MAX_ASSESSMENTS = 100  # listed per reason on the page (the export has every row)
MAX_STUDENTS = 25  # listed per assessment under a score reason
MAX_CHANGES = 200
LISTED_COLUMNS = ["id", "title", "class_id", "class_sis_id", "assigned_by", "assign_date", "due_date"]


@dataclass
class Student:
    student_id: str
    sis_id: str
    name: str
    value: str


@dataclass
class Listed:
    """One held-back assessment under one reason."""

    assessment_id: str
    title: str
    class_id: str
    class_sis_id: str
    class_title: str
    assigned_by: str
    assigner_name: str
    assign_date: str
    due_date: str
    value: str
    scores: int  # scores it holds back (assessment reason) / scores with this reason
    students: list[Student] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """For Prefect artifacts: no student names, no student ids."""
        return {k: v for k, v in self.__dict__.items() if k != "students"}


@dataclass
class Section:
    code: str
    kind: str  # "assessment" | "score"
    meaning: Meaning
    rows: int
    assessments: int  # distinct assessments concerned
    listed: list[Listed]
    by_parent: dict[str, int] = field(default_factory=dict)  # assessment_ineligible: scores per assessment reason

    @property
    def unlisted(self) -> int:
        return max(self.assessments - len(self.listed), 0)


@dataclass
class Changes:
    previous_run: str | None
    newly_held: list[dict[str, str]]  # assessment_id, title, reason, was
    newly_passing: list[dict[str, str]]  # assessment_id, title, was
    newly_held_total: int = 0
    newly_passing_total: int = 0


@dataclass
class RunReport:
    district: str
    run_id: str
    kind: str
    detail: str
    started_at: str
    status: str
    summary: dict[str, Any]
    sections: list[Section]
    changes: Changes | None


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _names(users: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """user id -> "Given Family", user id -> SIS id."""
    if users is None or users.empty:
        return pd.Series(dtype="str"), pd.Series(dtype="str")
    u = users.drop_duplicates("id").set_index("id")
    name = (u["given_name"].astype("str").fillna("") + " " + u["family_name"].astype("str").fillna("")).str.strip()
    return name, u["sis_id"].astype("str")


def _lookup(table: pd.Series, keys: pd.Series) -> list[str]:
    return [_text(v) for v in table.reindex(keys.astype("str")).to_numpy()] if len(table) else [""] * len(keys)


def sections(evaluation: Any, outcomes: RowOutcomes) -> list[Section]:
    a, s = evaluation.assessments, evaluation.scores
    ao, so = outcomes.assessments, outcomes.scores
    names, _ = _names(evaluation.users)
    classes = evaluation.classes.drop_duplicates("id").set_index("id") if evaluation.classes is not None else None
    # the held-back score rows, taken once: each reason's rows are then found among those, not
    # among every score (a quiet night of L: ~300,000 of 4.8M rows, a dozen reasons)
    held = so.loc[so["reason"].notna().to_numpy(), ["assessment_id", "student_id", "value", "reason"]]
    held_scores = held["assessment_id"].value_counts()

    def listed(rows: pd.DataFrame, values: pd.Series, counts: pd.Series) -> list[Listed]:
        """Column-wise lookups, then one zip over at most MAX_ASSESSMENTS rows."""
        ids = rows["id"].astype("str")
        cls = rows["class_id"].astype("str")
        assigner = rows["assigned_by"].astype("str")
        columns = (
            _texts(ids),
            _texts(rows["title"]),
            _texts(cls),
            _texts(rows["class_sis_id"]) if "class_sis_id" in rows else [""] * len(rows),
            _lookup(classes["title"], cls) if classes is not None else [""] * len(rows),
            _texts(assigner),
            _lookup(names, assigner),
            _days(rows["assign_date"]),
            _days(rows["due_date"]),
            _texts(values.reindex(rows.index)),
            [int(n) for n in counts.reindex(ids).fillna(0).to_numpy()],
        )
        return [Listed(*fields) for fields in zip(*columns, strict=True)]

    out: list[Section] = []
    a_reason = ao["reason"]
    shown = [c for c in LISTED_COLUMNS if c in a]  # the columns a listed assessment shows, not all of them
    for code in ALL_REASONS:
        mask = (a_reason == code).to_numpy()
        if mask.any():
            rows = a.loc[mask, shown]
            order = held_scores.reindex(rows["id"].astype("str")).fillna(0).to_numpy()
            top = rows.iloc[(-order).argsort(kind="stable")[:MAX_ASSESSMENTS]]
            out.append(
                Section(
                    code,
                    "assessment",
                    meaning_of(code),
                    int(mask.sum()),
                    int(mask.sum()),
                    listed(top, ao["value"], held_scores),
                )
            )
    firsts = a[~a["is_duplicate"]].set_index(a.loc[~a["is_duplicate"], "id"].astype("str"))
    s_reason = held["reason"]
    for code in ALL_REASONS:
        mask = (s_reason == code).to_numpy()
        if not mask.any():
            continue
        sub = held.loc[mask, ["assessment_id", "student_id", "value"]]  # the rows of this reason only
        per = sub["assessment_id"].value_counts()
        section = Section(code, "score", meaning_of(code), int(mask.sum()), len(per), [])
        if code == "assessment_ineligible":
            parent = firsts["reason"].astype("str").reindex(per.index)
            section.by_parent = {
                str(k): int(v) for k, v in per.groupby(parent.to_numpy()).sum().sort_values(ascending=False).items()
            }
        else:
            top_ids = per.index[:MAX_ASSESSMENTS]
            known = [i for i in top_ids if i in firsts.index]
            rows = firsts.loc[known].reset_index(drop=True)
            first_value = sub.drop_duplicates("assessment_id").set_index("assessment_id")["value"]
            items = listed(rows, pd.Series(_lookup(first_value, rows["id"]), index=rows.index), per)
            items += [_orphan(i, int(per[i]), _text(first_value.get(i))) for i in top_ids if i not in firsts.index]
            _add_students(items, s, sub, names)
            section.listed = items
        out.append(section)
    return out


def _orphan(assessment_id: str, n: int, value: str) -> Listed:
    return Listed(assessment_id, "(not in the Otus data)", "", "", "", "", "", "", "", value, n)


def _add_students(items: list[Listed], s: pd.DataFrame, sub: pd.DataFrame, names: pd.Series) -> None:
    """The first students of each listed assessment (``sub``: the score rows of one reason)."""
    ids = pd.Index([i.assessment_id for i in items])
    rows = sub[sub["assessment_id"].isin(ids).to_numpy()]
    rows = rows.groupby("assessment_id", sort=False, observed=True).head(MAX_STUDENTS)
    sis = s.loc[rows.index, "student_sis_id"] if "student_sis_id" in s else pd.Series("", index=rows.index)
    student = rows["student_id"].astype("str")
    by_assessment: dict[str, list[Student]] = {}
    for aid, sid, sis_id, name, value in zip(
        _texts(rows["assessment_id"]),
        _texts(student),
        _texts(sis),
        _lookup(names, student),
        _texts(rows["value"]),
        strict=True,
    ):
        by_assessment.setdefault(aid, []).append(Student(sid, sis_id, name, value))
    for item in items:
        item.students = by_assessment.get(item.assessment_id, [])


def _days(series: pd.Series) -> list[str]:
    return [_text(v) for v in pd.to_datetime(series).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)]


def _texts(series: pd.Series) -> list[str]:
    return [_text(v) for v in series.to_numpy(dtype=object)]


def changes(
    outcomes: RowOutcomes, titles: pd.Series, previous: pd.DataFrame | None, previous_run: str | None
) -> Changes:
    """Held-back assessments (any reason) now vs the previous run's (``assessment_id``, ``reason``)."""
    if previous is None:
        return Changes(None, [], [])
    now = outcomes.assessments.drop_duplicates("assessment_id").set_index("assessment_id")["reason"].astype(object)
    was = previous.drop_duplicates("assessment_id").set_index("assessment_id")["reason"].astype(object)
    both = now.index.union(was.index)
    now_r, was_r = now.reindex(both), was.reindex(both)
    held_now, held_was = now_r.notna(), was_r.notna()
    new_held = both[(held_now & (~held_was | (now_r != was_r))).to_numpy()]
    new_pass = both[(~held_now & held_was).to_numpy() & is_in(both, now.index)]
    shown = new_held[:MAX_CHANGES].append(new_pass[:MAX_CHANGES])  # the titles of the listed ones only
    title = dict(zip(shown, titles.reindex(shown).astype(object), strict=True)) if len(titles) else {}
    return Changes(
        previous_run,
        [
            {
                "assessment_id": i,
                "title": _text(title.get(i)),
                "reason": str(now_r[i]),
                "was": _text(was_r[i]) or "passing",
            }
            for i in new_held[:MAX_CHANGES]
        ],
        [{"assessment_id": i, "title": _text(title.get(i)), "was": str(was_r[i])} for i in new_pass[:MAX_CHANGES]],
        len(new_held),
        len(new_pass),
    )
