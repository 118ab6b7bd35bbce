"""Synthetic Otus worlds: the source tables of one or more districts and the matching SIS side.

``generate(preset, seed=...)`` is deterministic (a seeded numpy Generator per district; identical
arguments give identical frames and scenario) and vectorised (no per-score Python).  Shapes are in
``passback.source.presets``; the planted rule violations in ``passback.source.violations``.
``write_world`` (in ``passback.source.write``) puts a world into a source database and its SIS side
into a scenario JSON file for the simulator.

A world is a school year around ``today`` (see ``presets.Calendar``): most assessments are in the
current, open grading period; planted violations put some in closed periods, straddling two, before
the effective date, and so on.  Scores: mostly graded (fractions, some extra credit), some turned
in but not graded, some not submitted (after the due date they pass back as zero).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from passback.scenario import Scenario, SisClient
from passback.source.population import Population, build_population
from passback.source.presets import (
    EDGE_TITLE,
    POINTS,
    POINTS_WEIGHTS,
    RETIRED_TYPE,
    TIMEZONES,
    TOPICS,
    TYPE_WEIGHTS,
    Calendar,
    Preset,
    get_preset,
)
from passback.source.read import COLUMNS, STR
from passback.source.sis import build_sis_district, category_mapping, session_ids
from passback.source.violations import ASSESSMENT_KINDS, EXCLUDED_SHARE, INVALID_SHARE, kind_counts, plant_assessments

ASSESSMENT_COLUMNS = COLUMNS["assessments"]  # the read contract is the one list
SCORE_COLUMNS = COLUMNS["scores"]
TABLES = ("users", "classes", "enrollments", "assessments", "scores", "group_members")


@dataclass(frozen=True)
class DistrictSeed:
    """What the lead needs to register a generated district (the SIS side is in the scenario)."""

    district_id: str
    name: str
    timezone: str
    effective_date: dt.date
    mapping: dict[str, str]  # Otus type -> Skyward category sourcedId
    client_id: str
    client_secret: str = field(repr=False)
    closed_grading_period_ids: list[str] = field(default_factory=list)
    today: dt.date | None = None  # the day the world was generated around


@dataclass
class GeneratedWorld:
    preset: str
    seed: int
    violation_rate: float
    users: pd.DataFrame  # id, district_id, sis_id, role, given_name, family_name
    classes: pd.DataFrame  # id, district_id, sis_id, title
    enrollments: pd.DataFrame  # class_id, user_id, role
    assessments: pd.DataFrame  # ASSESSMENT_COLUMNS, read-contract dtypes
    scores: pd.DataFrame  # SCORE_COLUMNS, read-contract dtypes
    group_members: pd.DataFrame  # district_id, user_id
    scenario: Scenario
    seeds: list[DistrictSeed]
    planted: pd.DataFrame  # assessment_id, kind: the reason code each planted row should get
    counts: dict[str, int] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The six frames by short name (``users``, ..., ``group_members``), as ``read_district`` returns them."""
        return {name: getattr(self, name) for name in TABLES}

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The same frames keyed by source table name (``otus_users``, ..., ``otus_group_members``)."""
        return {f"otus_{name}": getattr(self, name) for name in TABLES}


def generate(
    preset: str,
    *,
    seed: int = 7,
    violation_rate: float | None = None,
    districts: int = 1,
    district_prefix: str | None = None,
    today: dt.date | None = None,
) -> GeneratedWorld:
    """A deterministic synthetic world; see the module docstring and ``presets.PRESETS``.

    District ids: ``district_prefix`` (default: the preset name in lowercase), then ``{prefix}-2``, ``{prefix}-3``, ...
    """
    shape = get_preset(preset)
    prefix = district_prefix or preset.lower()  # district ids are lowercase
    rate = shape.default_violation_rate if violation_rate is None else float(violation_rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"violation_rate must be between 0 and 1, not {violation_rate}")
    if districts < 1:
        raise ValueError("districts must be at least 1")
    parts = []
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(districts)):
        district_id = prefix if i == 0 else f"{prefix}-{i + 1}"
        tz = TIMEZONES[i % len(TIMEZONES)]
        day = today or dt.datetime.now(ZoneInfo(tz)).date()
        parts.append(_district(shape, np.random.default_rng(child), district_id, i, tz, day, rate))
    frames = {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in (*TABLES, "planted")}
    world = GeneratedWorld(
        preset=preset,
        seed=seed,
        violation_rate=rate,
        **frames,
        scenario=Scenario(districts=[p["sis"] for p in parts]),
        seeds=[p["seed"] for p in parts],
    )
    world.counts = {
        "districts": districts,
        **{name: len(frames[name]) for name in TABLES},
        "planted_assessments": len(frames["planted"]),
        **{k: sum(p["score_counts"][k] for p in parts) for k in parts[0]["score_counts"]},
    }
    return world


def _district(
    shape: Preset, rng: np.random.Generator, district_id: str, index: int, tz: str, today: dt.date, rate: float
) -> dict:
    cal = Calendar.around(today)
    n_per_class = (
        np.full(shape.classes, shape.assessments_per_class)
        if shape.cover_all_reasons
        else rng.integers(shape.assessments_per_class - 3, shape.assessments_per_class + 4, shape.classes)
    )
    counts = kind_counts(rng, int(n_per_class.sum()), rate, shape.cover_all_reasons)
    pop = build_population(
        rng,
        shape,
        district_id,
        rate,
        otus_only_classes=math.ceil(counts["class_not_in_sis"] / 8),
        outsiders=math.ceil(counts["assigner_not_in_group"] / 10),
    )
    a, fresh, protected = _assessments(rng, shape, pop, cal, n_per_class)
    rows = _choose_rows(rng, counts, pool=np.flatnonzero(~(fresh | protected)))
    plant_assessments(
        a,
        rows,
        rng=rng,
        cal=cal,
        otus_only_classes=pop.otus_only_classes,
        otus_only_teacher=pop.class_teacher[pop.otus_only_classes],
        admins=pop.admins,
        outsiders=pop.outsiders,
    )
    out = rows["assigner_not_in_group"]
    pop.add_co_teachers(a["class_idx"][out], a["assigner_idx"][out])
    planted = np.zeros(len(fresh), dtype=bool)
    for idx in rows.values():
        planted[idx] = True
    scores, score_counts = _scores(rng, shape, pop, cal, a, fresh, planted, rate)

    ids = np.array([f"a-{district_id}-{i:07d}" for i in range(len(fresh))], dtype=object)
    assessments = _assessment_frame(a, ids, pop, district_id, cal, rng)
    kinds = np.concatenate(
        [np.full(len(idx), k, dtype=object) for k, idx in rows.items()] or [np.array([], dtype=object)]
    )
    planted_frame = pd.DataFrame(
        {
            "assessment_id": pd.array(ids[np.concatenate(list(rows.values()))], dtype=STR),
            "district_id": pd.array(np.full(len(kinds), district_id, dtype=object), dtype=STR),
            "kind": pd.array(kinds, dtype=STR),
        }
    )
    scores_frame = _score_frame(scores, ids, pop)

    _, _, gps = session_ids(district_id, cal)
    name = (
        "Demo School District" if district_id == "demo" else f"{district_id.replace('-', ' ').title()} School District"
    )
    client = SisClient(client_id=f"otus-{district_id}-{rng.bytes(4).hex()}", client_secret=rng.bytes(24).hex())
    frames = pop.frames()
    sis = build_sis_district(
        district_id=district_id,
        name=name,
        cal=cal,
        users=frames["users"],
        classes=frames["classes"],
        enrollments=frames["enrollments"],
        class_school=pop.class_school(),
        client=client,
    )
    seed = DistrictSeed(
        district_id=district_id,
        name=name,
        timezone=tz,
        effective_date=cal.year_start,
        mapping=category_mapping(with_retired=rate > 0),
        client_id=client.client_id,
        client_secret=client.client_secret,
        closed_grading_period_ids=list(gp for gp, q in zip(gps, cal.quarters, strict=True) if q.closed),
        today=today,
    )
    return {
        **frames,
        "assessments": assessments,
        "scores": scores_frame,
        "planted": planted_frame,
        "sis": sis,
        "seed": seed,
        "score_counts": score_counts,
    }


def _choose_rows(rng: np.random.Generator, counts: dict[str, int], pool: np.ndarray) -> dict[str, np.ndarray]:
    order = rng.permutation(pool)
    total = min(sum(counts.values()), len(order))
    bounds = np.minimum(np.cumsum([0, *counts.values()]), total)
    return {k: np.sort(order[bounds[i] : bounds[i + 1]]) for i, k in enumerate(ASSESSMENT_KINDS)}


def _weekday(days: np.ndarray) -> np.ndarray:
    """Move Saturday back to Friday and Sunday on to Monday."""
    wd = (days.astype("datetime64[D]").astype("int64") - 4) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    return days + np.where(wd == 5, -1, np.where(wd == 6, 1, 0)).astype("timedelta64[D]")


def _assessments(
    rng: np.random.Generator, shape: Preset, pop: Population, cal: Calendar, n_per_class: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Clean assessments, all in the current grading period.

    Also returns ``fresh`` (just assigned: nothing to send yet) and ``protected`` (rows that show an
    edge case and must not be turned into violations)."""
    n = int(n_per_class.sum())
    class_idx = np.repeat(np.arange(shape.classes), n_per_class)
    pos = np.arange(n) - np.repeat(np.cumsum(n_per_class) - n_per_class, n_per_class)
    today = np.datetime64(cal.today, "D")
    start, end = np.datetime64(cal.cur.start, "D"), np.datetime64(cal.cur.end, "D")
    span = int((min(today + 2, end) - start).astype(int))
    assign = _weekday(start + rng.integers(0, span + 1, n).astype("timedelta64[D]"))
    lag = np.array([0, 1, 2, 3, 4, 5, 7, 7, 10, 14])[rng.integers(0, 10, n)].astype("timedelta64[D]")
    due = np.minimum(assign + lag, end)
    # The last assessment of some classes was assigned today: due next week, nothing graded yet.
    last = pos == n_per_class[class_idx] - 1
    fresh = last & ((rng.random(n) < 0.3) | ((class_idx == 0) & shape.cover_all_reasons))
    assign[fresh] = _weekday(np.full(int(fresh.sum()), today))
    due[fresh] = np.minimum(assign[fresh] + np.timedelta64(6, "D"), end)
    protected = np.zeros(n, dtype=bool)
    if shape.cover_all_reasons:  # one in progress: assigned before today, due after it
        in_progress = np.flatnonzero((class_idx == 0) & (pos == n_per_class[0] - 2))
        assign[in_progress], due[in_progress] = today - np.timedelta64(3, "D"), today + np.timedelta64(4, "D")
        protected[in_progress] = True
    types = np.array(list(TYPE_WEIGHTS), dtype=object)
    weights = np.array([0.0 if (t == RETIRED_TYPE and pop.rate > 0) else w for t, w in TYPE_WEIGHTS.items()])
    a_type = types[rng.choice(len(types), n, p=weights / weights.sum())]
    topics = np.array(TOPICS, dtype=object)[rng.integers(0, len(TOPICS), n)]
    title = topics + " " + a_type + " " + rng.integers(1, 10, n).astype(str).astype(object)
    edge = rng.random(n) < 0.003
    if shape.cover_all_reasons:
        edge[0] = True
    title[edge] = EDGE_TITLE
    protected |= edge
    co = pop.co_teacher[class_idx]
    by_co = (co >= 0) & (rng.random(n) < 0.3)
    if shape.cover_all_reasons:
        first = np.flatnonzero(co >= 0)[:1]
        by_co[first], protected[first] = True, True
    a = {
        "class_idx": class_idx,
        "assigner_idx": np.where(by_co, co, pop.class_teacher[class_idx]),
        "title": title,
        "assessment_type": a_type,
        "scoring": np.full(n, "points", dtype=object),
        "points_possible": np.array(POINTS, dtype=float)[
            rng.choice(len(POINTS), n, p=np.array(POINTS_WEIGHTS) / sum(POINTS_WEIGHTS))
        ],
        "include_in_final_grade": np.ones(n),
        "assign_date": assign,
        "due_date": due,
        "status": np.full(n, "active", dtype=object),
    }
    return a, fresh, protected


def _scores(
    rng: np.random.Generator,
    shape: Preset,
    pop: Population,
    cal: Calendar,
    a: dict[str, np.ndarray],
    fresh: np.ndarray,
    planted: np.ndarray,
    rate: float,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """One score row per (assessment, student enrolled in its class), states by the assessment's phase."""
    ptr, roster = pop.student_roster()
    cls = a["class_idx"]
    sizes = ptr[cls + 1] - ptr[cls]
    parent = np.repeat(np.arange(len(cls)), sizes)
    offset = np.arange(len(parent)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    student = roster[ptr[cls][parent] + offset]
    m = len(parent)

    today = np.datetime64(cal.today, "D")
    due = a["due_date"]
    due_eff = np.where(np.isnat(due), np.where(np.isnat(a["assign_date"]), today - 30, a["assign_date"]), due)
    phase = np.where(fresh | (a["assign_date"] >= today), 2, np.where(due_eff < today, 0, 1))[
        parent
    ]  # 0 past, 1 open, 2 new
    graded_p = np.array([0.90, 0.20, 0.0])[phase]
    turned_p = np.array([0.04, 0.30, 0.10])[phase]
    u = rng.random(m)
    state = np.where(u < graded_p, 0, np.where(u < graded_p + turned_p, 1, 2))  # graded, turned_in, not_submitted
    graded = state == 0

    pp = a["points_possible"][parent]
    pp = np.where(np.isfinite(pp) & (pp > 0), pp, 10.0)
    raw = rng.beta(5.0, 1.3, m) * pp
    points = np.where(pp <= 20, np.round(raw * 2) / 2, np.round(raw))
    extra = graded & (rng.random(m) < 0.015)
    points[extra] = pp[extra] + np.array([0.5, 1.0, 2.0, 5.0])[rng.integers(0, 4, int(extra.sum()))]
    points[~graded] = np.nan

    clean = ~planted[parent]
    excluded = clean & (rng.random(m) < rate * EXCLUDED_SHARE)
    invalid = clean & graded & ~excluded & (rng.random(m) < rate * INVALID_SHARE)
    if shape.cover_all_reasons and rate > 0:
        past_clean = np.flatnonzero(clean & (phase == 0) & graded)
        excluded[past_clean[:1]] = True
        invalid[past_clean[1:2]] = True
        late = past_clean[2:3]
        state[late], points[late] = 1, np.nan
    points[invalid] = np.where(rng.random(int(invalid.sum())) < 0.5, np.nan, -1.0)

    now = today.astype("datetime64[s]") + np.timedelta64(6, "h")
    stamp = due_eff[parent].astype("datetime64[s]") + rng.integers(3600, 72 * 3600, m).astype("timedelta64[s]")
    counts = {
        "excluded_scores": int(excluded.sum()),
        "invalid_scores": int(invalid.sum()),
        "students_without_sis_id": len(pop.students_without_sis),
    }
    return {
        "parent": parent,
        "student": student,
        "points_earned": points,
        "state": state,
        "excluded": excluded,
        "updated_at": np.minimum(stamp, now),
    }, counts


def _assessment_frame(
    a: dict[str, np.ndarray],
    ids: np.ndarray,
    pop: Population,
    district_id: str,
    cal: Calendar,
    rng: np.random.Generator,
) -> pd.DataFrame:
    n = len(ids)
    today = np.datetime64(cal.today, "D")
    base = np.where(np.isnat(a["assign_date"]), today - 7, a["assign_date"]).astype("datetime64[s]")
    updated = np.minimum(
        base + rng.integers(8 * 3600, 30 * 3600, n).astype("timedelta64[s]"),
        today.astype("datetime64[s]") + np.timedelta64(6, "h"),
    )
    include = a["include_in_final_grade"]
    return pd.DataFrame(
        {
            "id": pd.array(ids, dtype=STR),
            "district_id": pd.array(np.full(n, district_id, dtype=object), dtype=STR),
            "class_id": pd.array(pop.class_ids[a["class_idx"]], dtype=STR),
            "assigned_by": pd.array(pop.user_ids[a["assigner_idx"]], dtype=STR),
            "title": pd.array(a["title"], dtype=STR),
            "assessment_type": pd.array(a["assessment_type"], dtype=STR),
            "scoring": pd.array(a["scoring"], dtype=STR),
            "points_possible": a["points_possible"].astype("float64"),
            "include_in_final_grade": pd.arrays.BooleanArray(include == 1, np.isnan(include)),
            "assign_date": a["assign_date"].astype("datetime64[ns]"),
            "due_date": a["due_date"].astype("datetime64[ns]"),
            "status": pd.array(a["status"], dtype=STR),
            "updated_at": updated.astype("datetime64[ns]"),
        },
        columns=ASSESSMENT_COLUMNS,
    )


def _score_frame(s: dict[str, np.ndarray], ids: np.ndarray, pop: Population) -> pd.DataFrame:
    import pyarrow as pa

    def take(values: np.ndarray, idx: np.ndarray) -> pd.Series:
        arr = pa.array(values, type=pa.string()).take(pa.array(idx))
        return pd.Series(arr, dtype=STR)

    states = np.array(["graded", "turned_in", "not_submitted"], dtype=object)
    return pd.DataFrame(
        {
            "assessment_id": take(ids, s["parent"]),
            "student_id": take(pop.user_ids, s["student"]),
            "points_earned": s["points_earned"].astype("float64"),
            "state": take(states, s["state"]),
            "excluded": pd.array(s["excluded"], dtype="boolean"),
            "updated_at": s["updated_at"].astype("datetime64[ns]"),
        },
        columns=SCORE_COLUMNS,
    )
