"""The source contract: table and column names exactly as PRODUCT.md lists them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlmodel import Session

from passback.source.models import (
    OtusAssessment,
    OtusClass,
    OtusEnrollment,
    OtusGroupMember,
    OtusScore,
    OtusUser,
    create_source_schema,
)
from passback.source.read import read_district

CONTRACT = {
    "otus_users": (["id", "district_id", "sis_id", "role", "given_name", "family_name"], ["id"]),
    "otus_classes": (["id", "district_id", "sis_id", "title"], ["id"]),
    "otus_enrollments": (["class_id", "user_id", "role"], ["class_id", "user_id", "role"]),
    "otus_assessments": (
        [
            "id",
            "district_id",
            "class_id",
            "assigned_by",
            "title",
            "assessment_type",
            "scoring",
            "points_possible",
            "include_in_final_grade",
            "assign_date",
            "due_date",
            "status",
            "updated_at",
        ],
        ["id"],
    ),
    "otus_scores": (
        ["assessment_id", "student_id", "points_earned", "state", "excluded", "updated_at"],
        ["assessment_id", "student_id"],
    ),
    "otus_group_members": (["district_id", "user_id"], ["district_id", "user_id"]),
}


def test_schema_has_the_contract_tables_columns_and_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'otus.db'}")
    create_source_schema(engine)
    create_source_schema(engine)  # idempotent
    inspector = inspect(engine)
    assert set(CONTRACT) <= set(inspector.get_table_names())
    for table, (columns, pk) in CONTRACT.items():
        assert [c["name"] for c in inspector.get_columns(table)] == columns, table
        assert inspector.get_pk_constraint(table)["constrained_columns"] == pk, table
    indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes("otus_assessments")}
    assert ("district_id",) in indexed


def test_rows_written_through_the_models_read_back_typed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'otus.db'}"
    engine = create_engine(url)
    create_source_schema(engine)
    with Session(engine) as s:
        s.add_all(
            [
                OtusUser(id="u1", district_id="d1", sis_id="sky-1", role="teacher", given_name="Zoë", family_name="Ng"),
                OtusUser(id="u2", district_id="d1", sis_id=None, role="student", given_name="A", family_name="B"),
                OtusClass(id="c1", district_id="d1", sis_id="sky-c1", title="Math"),
                OtusEnrollment(class_id="c1", user_id="u1", role="teacher"),
                OtusEnrollment(class_id="c1", user_id="u2", role="student"),
                OtusAssessment(
                    id="a1",
                    district_id="d1",
                    class_id="c1",
                    assigned_by="u1",
                    title="Quiz 1",
                    assessment_type="Quiz",
                    scoring="points",
                    points_possible=10,
                    include_in_final_grade=True,
                    assign_date=dt.date(2026, 11, 2),
                    due_date=dt.date(2026, 11, 9),
                    status="active",
                    updated_at=dt.datetime(2026, 11, 10, 12, 0, 0, 123456),
                ),
                OtusScore(
                    assessment_id="a1",
                    student_id="u2",
                    points_earned=8.5,
                    state="graded",
                    excluded=False,
                    updated_at=dt.datetime(2026, 11, 10, 12, 30),
                ),
                OtusGroupMember(district_id="d1", user_id="u1"),
            ]
        )
        s.commit()
    engine.dispose()
    frames = read_district(url, "d1")
    a = frames.assessments.iloc[0]
    assert a["points_possible"] == 10.0 and bool(a["include_in_final_grade"]) is True
    assert a["assign_date"] == dt.datetime(2026, 11, 2) and a["updated_at"] == dt.datetime(
        2026, 11, 10, 12, 0, 0, 123456
    )
    sc = frames.scores.iloc[0]
    assert (sc["points_earned"], sc["state"], bool(sc["excluded"])) == (8.5, "graded", False)
    assert frames.users.set_index("id")["given_name"]["u1"] == "Zoë"
    assert sorted(frames.enrollments["role"]) == ["student", "teacher"]
    assert frames.group_members["user_id"].tolist() == ["u1"]
