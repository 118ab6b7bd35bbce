"""The Otus source contract: table and column names exactly as PRODUCT.md lists them.

Extra columns are allowed and ignored by the reader.  ``create_source_schema`` is for the
synthetic generator and tests; production reads an existing Otus database."""

from __future__ import annotations

import datetime as dt

from pydantic import NaiveDatetime
from sqlalchemy import Index
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

SOURCE_METADATA = SQLModel.metadata


class OtusUser(SQLModel, table=True):
    __tablename__ = "otus_users"
    id: str = Field(primary_key=True)
    district_id: str = Field(index=True)
    sis_id: str | None = None
    role: str
    given_name: str | None = None
    family_name: str | None = None


class OtusClass(SQLModel, table=True):
    __tablename__ = "otus_classes"
    id: str = Field(primary_key=True)
    district_id: str = Field(index=True)
    sis_id: str | None = None
    title: str | None = None


class OtusEnrollment(SQLModel, table=True):
    __tablename__ = "otus_enrollments"
    class_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)
    role: str = Field(primary_key=True)


class OtusAssessment(SQLModel, table=True):
    __tablename__ = "otus_assessments"
    id: str = Field(primary_key=True)
    district_id: str = Field(index=True)
    class_id: str
    assigned_by: str | None = None
    title: str | None = None
    assessment_type: str | None = None
    scoring: str | None = None
    points_possible: float | None = None
    include_in_final_grade: bool | None = None
    assign_date: dt.date | None = None
    due_date: dt.date | None = None
    status: str | None = None
    updated_at: NaiveDatetime | None = None


class OtusScore(SQLModel, table=True):
    """Clustered by (assessment_id, student_id) in SQLite: a district's scores are read by assessment."""

    __tablename__ = "otus_scores"
    __table_args__ = {"sqlite_with_rowid": False}
    assessment_id: str = Field(primary_key=True)
    student_id: str = Field(primary_key=True)
    points_earned: float | None = None
    state: str | None = None
    excluded: bool | None = None
    updated_at: NaiveDatetime | None = None


class OtusGroupMember(SQLModel, table=True):
    __tablename__ = "otus_group_members"
    district_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)


SOURCE_TABLES = [
    OtusUser.__table__,  # type: ignore[attr-defined]
    OtusClass.__table__,  # type: ignore[attr-defined]
    OtusEnrollment.__table__,  # type: ignore[attr-defined]
    OtusAssessment.__table__,  # type: ignore[attr-defined]
    OtusScore.__table__,  # type: ignore[attr-defined]
    OtusGroupMember.__table__,  # type: ignore[attr-defined]
]
Index("ix_otus_enrollments_user", OtusEnrollment.__table__.c.user_id)  # type: ignore[attr-defined]


def create_source_schema(engine: Engine) -> None:
    SOURCE_METADATA.create_all(engine, tables=SOURCE_TABLES)
