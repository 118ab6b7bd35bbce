"""The SIS side (a :class:`passback.scenario.SisDistrict`) of a synthetic Otus district.

Built from the same frames the Otus side is written from, so both agree by construction: every
Otus class with a ``sis_id`` is a SIS class, every user with a ``sis_id`` a SIS user, and every
Otus enrollment whose class and user are in the SIS a SIS enrollment.
"""

from __future__ import annotations

import re

import pandas as pd

from passback.scenario import (
    SisAcademicSession,
    SisCategory,
    SisClass,
    SisClient,
    SisDistrict,
    SisEnrollment,
    SisOrg,
    SisSettings,
    SisUser,
)
from passback.source.presets import (
    CATEGORY_TITLES,
    GUIDE_MAPPING,
    INACTIVE_CATEGORY,
    RETIRED_TYPE,
    SCHOOL_CATEGORY,
    Calendar,
)


def category_id(title: str) -> str:
    return "sky-cat-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def categories() -> list[SisCategory]:
    """The district's gradebook categories: the guide's eight, one inactive and one school-level."""
    cats = [SisCategory(sourcedId=category_id(t), title=t) for t in CATEGORY_TITLES]
    cats.append(
        SisCategory(
            sourcedId=category_id(INACTIVE_CATEGORY[0]), title=INACTIVE_CATEGORY[0], status=INACTIVE_CATEGORY[1]
        )
    )
    cats.append(
        SisCategory(
            sourcedId=category_id(SCHOOL_CATEGORY[0]),
            title=SCHOOL_CATEGORY[0],
            status=SCHOOL_CATEGORY[1],
            districtLevel=False,
        )
    )
    return cats


def category_mapping(*, with_retired: bool) -> dict[str, str]:
    """The guide's example mapping; with violations, one type points at the inactive category."""
    mapping = {t: category_id(c) for t, c in GUIDE_MAPPING.items()}
    if with_retired:
        mapping[RETIRED_TYPE] = category_id(INACTIVE_CATEGORY[0])
    return mapping


def session_ids(district_id: str, cal: Calendar) -> tuple[str, str, list[str]]:
    year = cal.school_year
    return (
        f"sky-{district_id}-sy-{year}",
        f"sky-{district_id}-term-{year}",
        [f"sky-{district_id}-gp-{year}-q{q.index + 1}" for q in cal.quarters],
    )


def academic_sessions(district_id: str, cal: Calendar) -> list[SisAcademicSession]:
    sy, term, gps = session_ids(district_id, cal)
    year, title = cal.school_year, f"{cal.year_start.year}-{cal.year_end.year}"
    sessions = [
        SisAcademicSession(
            sourcedId=sy,
            title=title,
            type="schoolYear",
            startDate=cal.year_start,
            endDate=cal.year_end,
            schoolYear=year,
        ),
        SisAcademicSession(
            sourcedId=term,
            title=f"{title} Year",
            type="term",
            startDate=cal.year_start,
            endDate=cal.year_end,
            parent=sy,
            schoolYear=year,
        ),
    ]
    sessions += [
        SisAcademicSession(
            sourcedId=gp,
            title=f"Q{q.index + 1}",
            type="gradingPeriod",
            startDate=q.start,
            endDate=q.end,
            parent=term,
            schoolYear=year,
            closed=q.closed,
        )
        for gp, q in zip(gps, cal.quarters, strict=True)
    ]
    return sessions


def build_sis_district(
    *,
    district_id: str,
    name: str,
    cal: Calendar,
    users: pd.DataFrame,
    classes: pd.DataFrame,
    enrollments: pd.DataFrame,
    class_school: pd.Series,
    client: SisClient,
) -> SisDistrict:
    """``class_school``: Otus class id -> school sourcedId (for the SIS classes)."""
    org = SisOrg(sourcedId=f"sky-{district_id}-org", name=name)
    school_ids = sorted(set(class_school.dropna()))
    schools = [
        SisOrg(sourcedId=s, name=f"{name} — school {i + 1:02d}", type="school", parent=org.sourcedId)
        for i, s in enumerate(school_ids)
    ]
    _, term, _ = session_ids(district_id, cal)

    sis_classes = classes[classes["sis_id"].notna()]
    school = class_school.reindex(sis_classes["id"]).to_numpy()
    out_classes = [
        SisClass.model_construct(sourcedId=sid, title=title, school=sch, terms=[term], classCode=sid)
        for sid, title, sch in zip(sis_classes["sis_id"], sis_classes["title"], school, strict=True)
    ]

    sis_users = users[users["sis_id"].notna()]
    user_sis = pd.Series(sis_users["sis_id"].to_numpy(), index=sis_users["id"].to_numpy())
    class_sis = pd.Series(sis_classes["sis_id"].to_numpy(), index=sis_classes["id"].to_numpy())
    e = enrollments[enrollments["class_id"].isin(class_sis.index) & enrollments["user_id"].isin(user_sis.index)]
    e = e.drop_duplicates(["class_id", "user_id"])  # a teacher and co-teacher row of one user -> one SIS enrollment
    first_school = (
        pd.Series(class_school.reindex(e["class_id"]).to_numpy(), index=e["user_id"].to_numpy())
        .groupby(level=0)
        .first()
    )
    orgs = first_school.reindex(sis_users["id"]).to_numpy()
    out_users = [
        SisUser.model_construct(
            sourcedId=sid,
            givenName=g,
            familyName=f,
            role="student" if r == "student" else "teacher",
            orgs=[o] if isinstance(o, str) else [org.sourcedId],
        )
        for sid, g, f, r, o in zip(
            sis_users["sis_id"], sis_users["given_name"], sis_users["family_name"], sis_users["role"], orgs, strict=True
        )
    ]
    e_class = class_sis.reindex(e["class_id"]).to_numpy()
    e_user = user_sis.reindex(e["user_id"]).to_numpy()
    out_enrollments = [
        SisEnrollment.model_construct(
            sourcedId=f"sky-{district_id}-enr-{i:07d}",
            classSourcedId=c,
            userSourcedId=u,
            role="student" if r == "student" else "teacher",
            primary=r == "teacher",
        )
        for i, (c, u, r) in enumerate(zip(e_class, e_user, e["role"], strict=True))
    ]
    return SisDistrict(
        tenant=district_id,
        org=org,
        schools=schools,
        academicSessions=academic_sessions(district_id, cal),
        classes=out_classes,
        users=out_users,
        enrollments=out_enrollments,
        categories=categories(),
        clients=[client],
        settings=SisSettings(licensed=True),
    )
