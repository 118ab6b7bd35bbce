"""Who is in a synthetic district: users, classes (sections) and enrollments, as positional arrays.

Users are numbered: students first, then the primary teachers (in the passback group), then teachers
outside the group (co-teachers who assign some assessments), then Otus administrators (no SIS id, in
the group).  Classes: the SIS sections first, then Otus-only classes (no SIS id).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from passback.source.presets import FAMILY, GIVEN, SUBJECTS, Preset
from passback.source.violations import NO_SIS_STUDENT_SHARE

STR = pd.StringDtype("pyarrow", na_value=np.nan)
CLASSES_PER_SCHOOL = 40
ADMINS = 2


@dataclass
class Population:
    district_id: str
    rate: float
    user_ids: np.ndarray  # object
    user_sis: np.ndarray  # object, None = not in the SIS
    user_role: np.ndarray  # object: student | teacher | administrator
    given: np.ndarray
    family: np.ndarray
    teachers: np.ndarray  # user positions of the primary teachers (in the group)
    outsiders: np.ndarray  # teachers with a SIS id who are not in the group
    admins: np.ndarray  # Otus administrators: no SIS id, in the group
    students_without_sis: np.ndarray
    class_ids: np.ndarray
    class_sis: np.ndarray
    class_title: np.ndarray
    class_teacher: np.ndarray  # user position of the primary teacher
    co_teacher: np.ndarray  # user position of a co-teacher in the group, or -1
    otus_only_classes: np.ndarray
    enroll_class: list[np.ndarray] = field(default_factory=list)
    enroll_user: list[np.ndarray] = field(default_factory=list)
    enroll_role: list[np.ndarray] = field(default_factory=list)

    def enroll(self, classes: np.ndarray, users: np.ndarray, role: str) -> None:
        self.enroll_class.append(np.asarray(classes, dtype=np.int64))
        self.enroll_user.append(np.asarray(users, dtype=np.int64))
        self.enroll_role.append(np.full(len(classes), role, dtype=object))

    def add_co_teachers(self, classes: np.ndarray, users: np.ndarray) -> None:
        pairs = np.unique(np.stack([classes, users]), axis=1) if len(classes) else np.empty((2, 0), dtype=np.int64)
        self.enroll(pairs[0], pairs[1], "co_teacher")

    def _enrollments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c, u, r = (np.concatenate(x) for x in (self.enroll_class, self.enroll_user, self.enroll_role))
        order = np.lexsort((u, c))
        return c[order], u[order], r[order]

    def student_roster(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR over all classes: the students of class ``k`` are ``roster[ptr[k]:ptr[k + 1]]`` (sorted)."""
        c, u, r = self._enrollments()
        keep = r == "student"
        c, u = c[keep], u[keep]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(c, minlength=len(self.class_ids)))])
        return ptr, u

    def class_school(self) -> pd.Series:
        sis = np.flatnonzero(self.class_sis != None)  # noqa: E711 - elementwise on an object array
        schools = np.array([f"sky-{self.district_id}-sch-{k // CLASSES_PER_SCHOOL + 1:03d}" for k in sis], dtype=object)
        return pd.Series(schools, index=self.class_ids[sis])

    def frames(self) -> dict[str, pd.DataFrame]:
        d = self.district_id
        n_users, n_classes = len(self.user_ids), len(self.class_ids)
        users = pd.DataFrame(
            {
                "id": pd.array(self.user_ids, dtype=STR),
                "district_id": pd.array(np.full(n_users, d, dtype=object), dtype=STR),
                "sis_id": pd.array(self.user_sis, dtype=STR),
                "role": pd.array(self.user_role, dtype=STR),
                "given_name": pd.array(self.given, dtype=STR),
                "family_name": pd.array(self.family, dtype=STR),
            }
        )
        classes = pd.DataFrame(
            {
                "id": pd.array(self.class_ids, dtype=STR),
                "district_id": pd.array(np.full(n_classes, d, dtype=object), dtype=STR),
                "sis_id": pd.array(self.class_sis, dtype=STR),
                "title": pd.array(self.class_title, dtype=STR),
            }
        )
        c, u, r = self._enrollments()
        enrollments = pd.DataFrame(
            {
                "class_id": pd.array(self.class_ids[c], dtype=STR),
                "user_id": pd.array(self.user_ids[u], dtype=STR),
                "role": pd.array(r, dtype=STR),
            }
        )
        group = np.concatenate([self.teachers, self.admins])
        group_members = pd.DataFrame(
            {
                "district_id": pd.array(np.full(len(group), d, dtype=object), dtype=STR),
                "user_id": pd.array(self.user_ids[group], dtype=STR),
            }
        )
        return {"users": users, "classes": classes, "enrollments": enrollments, "group_members": group_members}


def _names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array(GIVEN, dtype=object)[rng.integers(0, len(GIVEN), n)],
        np.array(FAMILY, dtype=object)[rng.integers(0, len(FAMILY), n)],
    )


def build_population(
    rng: np.random.Generator, shape: Preset, district_id: str, rate: float, *, otus_only_classes: int, outsiders: int
) -> Population:
    d, n_s, n_t, n_c = district_id, shape.students, shape.teachers, shape.classes
    n_o, n_a, n_k = outsiders, ADMINS, otus_only_classes
    students = np.arange(n_s)
    teachers = n_s + np.arange(n_t)
    outsider_pos = n_s + n_t + np.arange(n_o)
    admins = n_s + n_t + n_o + np.arange(n_a)
    user_ids = np.array(
        [f"u-{d}-s{i:06d}" for i in range(n_s)]
        + [f"u-{d}-t{i:05d}" for i in range(n_t + n_o)]
        + [f"u-{d}-adm{i:02d}" for i in range(n_a)],
        dtype=object,
    )
    user_sis = np.array(
        [f"sky-{d}-stu-{i:06d}" for i in range(n_s)]
        + [f"sky-{d}-tch-{i:05d}" for i in range(n_t + n_o)]
        + [None] * n_a,
        dtype=object,
    )
    no_sis = (
        np.sort(rng.choice(n_s, min(n_s, max(1, round(n_s * rate * NO_SIS_STUDENT_SHARE))), replace=False))
        if rate > 0
        else np.array([], dtype=np.int64)
    )
    user_sis[no_sis] = None
    role = np.array(["student"] * n_s + ["teacher"] * (n_t + n_o) + ["administrator"] * n_a, dtype=object)
    given, family = _names(rng, len(user_ids))

    # Sections: contiguous blocks per teacher; ~15 % have a co-teacher from the group.
    class_teacher = teachers[(np.arange(n_c) * n_t) // n_c]
    co = np.full(n_c + n_k, -1, dtype=np.int64)
    if n_t > 1:
        has_co = rng.random(n_c) < 0.15
        if shape.cover_all_reasons:
            has_co[0] = True
        other = (class_teacher - n_s + rng.integers(1, n_t, n_c)) % n_t + n_s
        co[:n_c] = np.where(has_co, other, -1)
    k_teacher = teachers[rng.integers(0, n_t, n_k)] if n_k else np.array([], dtype=np.int64)
    subjects = np.array(SUBJECTS, dtype=object)[rng.integers(0, len(SUBJECTS), n_c)]
    titles = np.array(
        [f"{s} - P{k % 7 + 1}" for k, s in enumerate(subjects)] + [f"Advisory {k + 1} (Otus only)" for k in range(n_k)],
        dtype=object,
    )
    pop = Population(
        district_id=d,
        rate=rate,
        user_ids=user_ids,
        user_sis=user_sis,
        user_role=role,
        given=given,
        family=family,
        teachers=teachers,
        outsiders=outsider_pos,
        admins=admins,
        students_without_sis=no_sis,
        class_ids=np.array([f"c-{d}-{k:05d}" for k in range(n_c + n_k)], dtype=object),
        class_sis=np.array([f"sky-{d}-cls-{k:05d}" for k in range(n_c)] + [None] * n_k, dtype=object),
        class_title=titles,
        class_teacher=np.concatenate([class_teacher, k_teacher]).astype(np.int64),
        co_teacher=co,
        otus_only_classes=n_c + np.arange(n_k),
    )
    # Students: the sections are dealt into blocks; in each block every student sits in one section.
    blocks = max(1, round(n_c * shape.students_per_class / n_s))
    for b in range(blocks):
        sections = np.arange(b, n_c, blocks)
        perm = rng.permutation(students)
        pop.enroll(sections[(np.arange(n_s) * len(sections)) // n_s], perm, "student")
    for k in range(n_k):  # Otus-only classes: a club of 15-25 students
        size = min(int(rng.integers(15, 26)), n_s)
        pop.enroll(np.full(size, n_c + k), rng.choice(students, size, replace=False), "student")
    pop.enroll(np.arange(n_c + n_k), pop.class_teacher, "teacher")
    with_co = np.flatnonzero(co >= 0)
    pop.enroll(with_co, co[with_co], "co_teacher")
    return pop
