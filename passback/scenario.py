"""The SIS side of a test or demo world: what a district's Skyward holds before passback writes.

The synthetic generator (``passback.source.generate``) writes a :class:`Scenario` next to the
Otus source data it generates from the same seed; the simulator (``passback.simulator``) is
seeded from it.  It is plain data (JSON on disk), so neither side imports the other.

One scenario may hold several districts ("tenants").  The simulator serves tenant ``T`` at
``/{T}/ims/oneroster/v1p1`` with its token URL at ``/{T}/oauth/token``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pydantic import BaseModel, Field

ALL_SCOPES: tuple[str, ...] = (
    "https://purl.imsglobal.org/spec/or/v1p1/scope/roster-core.readonly",
    "https://purl.imsglobal.org/spec/or/v1p1/scope/roster.readonly",
    "https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.readonly",
    "https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.createput",
    "https://purl.imsglobal.org/spec/or/v1p1/scope/gradebook.delete",
)


class SisOrg(BaseModel):
    sourcedId: str
    name: str
    type: str = "district"  # district | school
    parent: str | None = None  # a school's district sourcedId


class SisAcademicSession(BaseModel):
    sourcedId: str
    title: str
    type: str  # schoolYear | term | gradingPeriod
    startDate: dt.date
    endDate: dt.date
    parent: str | None = None  # grading period -> term, term -> school year
    schoolYear: str  # e.g. "2026"
    closed: bool = False  # Skyward-side: no gradebook writes into a closed grading period


class SisClass(BaseModel):
    sourcedId: str
    title: str
    school: str
    terms: list[str] = Field(default_factory=list)
    classCode: str | None = None


class SisUser(BaseModel):
    sourcedId: str
    givenName: str
    familyName: str
    role: str  # student | teacher | administrator
    orgs: list[str] = Field(default_factory=list)


class SisEnrollment(BaseModel):
    sourcedId: str
    classSourcedId: str
    userSourcedId: str
    role: str  # student | teacher
    primary: bool = False


class SisCategory(BaseModel):
    sourcedId: str
    title: str
    status: str = "active"  # active | tobedeleted (inactive)
    districtLevel: bool = True  # False: a school-level category (Skyward refuses it through the API)


class SisClient(BaseModel):
    """An API access record (OAuth 2 client credentials) the district created for Otus."""

    client_id: str
    client_secret: str
    scopes: list[str] = Field(default_factory=lambda: list(ALL_SCOPES))


class SisSettings(BaseModel):
    licensed: bool = True  # the Skyward LMS/OneRoster API licence; without it the API is read-only
    use_grade_when_posting: bool = False  # "Use Grade When Posting Secondary Gradebook Assignment Scores"


class SisDistrict(BaseModel):
    tenant: str  # path prefix in the simulator; by convention the passback district id
    org: SisOrg
    schools: list[SisOrg] = Field(default_factory=list)
    academicSessions: list[SisAcademicSession] = Field(default_factory=list)
    classes: list[SisClass] = Field(default_factory=list)
    users: list[SisUser] = Field(default_factory=list)
    enrollments: list[SisEnrollment] = Field(default_factory=list)
    categories: list[SisCategory] = Field(default_factory=list)
    clients: list[SisClient] = Field(default_factory=list)
    settings: SisSettings = Field(default_factory=SisSettings)


class Scenario(BaseModel):
    districts: list[SisDistrict] = Field(default_factory=list)

    def district(self, tenant: str) -> SisDistrict:
        for d in self.districts:
            if d.tenant == tenant:
                return d
        raise KeyError(f"no district {tenant!r} in the scenario")

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Scenario:
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
