"""The shapes of the synthetic worlds (presets) and the school calendar around a given day.

Only data and small pure helpers: ``passback.source.generate`` draws the rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from passback.domain.codes import OTUS_TYPES


@dataclass(frozen=True)
class Preset:
    """The shape of one district.  Assessment counts include the rule-violating rows."""

    name: str
    students: int
    classes: int  # SIS classes (sections); Otus-only classes come on top when violations are asked for
    teachers: int  # primary teachers, all in the passback group
    students_per_class: int
    assessments_per_class: int
    cover_all_reasons: bool = False  # at least one row for every reason the generator can produce
    default_violation_rate: float = 0.05


PRESETS: dict[str, Preset] = {
    "demo": Preset(
        "demo",
        students=60,
        classes=3,
        teachers=3,
        students_per_class=20,
        assessments_per_class=20,
        cover_all_reasons=True,
    ),
    # one class of 20: the smallest world that still spans the calendar (quick trials; the
    # reliability tests kill and rerun it many times)
    "XS": Preset("XS", students=20, classes=1, teachers=1, students_per_class=20, assessments_per_class=20),
    "S": Preset("S", students=600, classes=96, teachers=20, students_per_class=25, assessments_per_class=20),
    "M": Preset("M", students=6_000, classes=960, teachers=192, students_per_class=25, assessments_per_class=20),
    "L": Preset("L", students=60_000, classes=9_600, teachers=1_920, students_per_class=25, assessments_per_class=20),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


TIMEZONES = ("America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles")

QUARTER_DAYS = 61  # Monday of week 1 .. Friday of week 9
QUARTER_STRIDE = 63  # the next quarter starts on the Monday after


@dataclass(frozen=True)
class Quarter:
    index: int  # 0..3
    start: dt.date
    end: dt.date
    closed: bool


@dataclass(frozen=True)
class Calendar:
    """A school year of four quarters placed so that ``today`` is in week 7 of an open quarter.

    The current quarter is Q2 from August to December, Q3 from January to March and Q4 from April to
    July, so there is always at least one earlier quarter, and it is closed (it ended more than two
    weeks before ``today``).  The quarters are separated by a weekend (dates on it are outside every
    grading period).  The passback effective date is the first day of school.
    """

    today: dt.date
    quarters: tuple[Quarter, ...]
    current: int

    @classmethod
    def around(cls, today: dt.date) -> Calendar:
        current = 1 if today.month >= 8 else (2 if today.month <= 3 else 3)
        anchor = today - dt.timedelta(days=42)
        cur_start = anchor - dt.timedelta(days=anchor.weekday())  # the Monday on or before
        quarters = []
        for q in range(4):
            start = cur_start + dt.timedelta(days=(q - current) * QUARTER_STRIDE)
            end = start + dt.timedelta(days=QUARTER_DAYS - 1)
            quarters.append(Quarter(q, start, end, closed=end < today - dt.timedelta(days=14)))
        return cls(today=today, quarters=tuple(quarters), current=current)

    @property
    def year_start(self) -> dt.date:
        return self.quarters[0].start

    @property
    def year_end(self) -> dt.date:
        return self.quarters[-1].end

    @property
    def school_year(self) -> str:
        """OneRoster ``schoolYear``: the calendar year in which the school year ends."""
        return str(self.year_end.year)

    @property
    def cur(self) -> Quarter:
        return self.quarters[self.current]


# Realistic shares of the 12 Otus assessment types (sum to 1 after normalising).
TYPE_WEIGHTS: dict[str, float] = {
    "Assignment": 16,
    "Checklist": 2,
    "Homework": 20,
    "Journal": 3,
    "Lab": 5,
    "Observation": 2,
    "Paper": 4,
    "Presentation": 3,
    "Project": 6,
    "Quiz": 17,
    "Test": 10,
    "Worksheet": 12,
}
assert set(TYPE_WEIGHTS) == set(OTUS_TYPES)

POINTS = (10, 20, 25, 50, 100, 5, 15, 30, 40, 12)
POINTS_WEIGHTS = (30, 18, 12, 10, 14, 4, 4, 3, 3, 2)

# District-level active Skyward categories, as in the admin guide's example mapping table.
CATEGORY_TITLES = ("Assignment", "Classwork", "Homework", "Project", "Lab", "Observation", "Quiz", "Test")
GUIDE_MAPPING: dict[str, str] = {
    "Assignment": "Assignment",
    "Checklist": "Classwork",
    "Homework": "Homework",
    "Journal": "Project",
    "Lab": "Lab",
    "Observation": "Observation",
    "Paper": "Project",
    "Presentation": "Project",
    "Project": "Project",
    "Quiz": "Quiz",
    "Test": "Test",
    "Worksheet": "Classwork",
}
INACTIVE_CATEGORY = ("Extra Credit", "tobedeleted")
SCHOOL_CATEGORY = ("Warm-ups (school)", "active")
# With violations, this type is mapped to the inactive category (-> category_not_in_sis) and is used only
# for those rows; without violations it maps to Classwork like the guide says.
RETIRED_TYPE = "Journal"
UNMAPPED_TYPES = ("Poster", "Exit Ticket", "Bell Ringer")  # not among the 12: no mapping can exist

SUBJECTS = (
    "Algebra I",
    "Geometry",
    "Biology",
    "Chemistry",
    "English 9",
    "English 10",
    "World History",
    "US History",
    "Spanish I",
    "French I",
    "Physics",
    "Art",
    "Music",
    "Health",
    "Economics",
    "Civics",
    "Computer Science",
    "Earth Science",
    "Pre-Calculus",
    "Español II",
)
TOPICS = (
    "Fractions",
    "Linear equations",
    "Photosynthesis",
    "Cell division",
    "The Odyssey",
    "Newton's laws",
    "Révolution française",
    "Verbos irregulares",
    "Día de los Muertos",
    "Ecosystems 🌱",
    "Periodic table",
    "Supply & demand",
    "Poetry unit",
    "Map skills",
    "Color theory 🎨",
    "Python loops",
    "Volcanoes",
    "Civil rights",
    "Renaissance",
    "Probability",
    "Ratios",
    "Shakespeare",
    "数学 review",
    "Genetics",
    "Chemical bonds",
    "Plate tectonics",
    "Bill of Rights",
    "Café vocabulary",
    "Trigonometry",
    "Nutrition",
)
LONG_TITLES = (
    "Chapter 7 cumulative review — reading comprehension & vocabulary 📚",
    "Unit 4 lab report: measuring the acceleration due to gravity with pendulums",
    "Révision générale du premier trimestre : grammaire, conjugaison et vocabulaire",
    "👩‍🔬👨‍🔬 Science fair project proposal, research plan and annotated bibliography",
    "Semester exam study guide (all units) — due before the winter break 🎄🎄🎄",
)
EDGE_TITLE = "Unit review: ratios, rates & proportions 🧪🧪🧪 okay"  # 49 characters, more than 49 bytes
assert len(EDGE_TITLE) == 49 and all(len(t) >= 50 for t in LONG_TITLES)
GIVEN = (
    "Ava",
    "Liam",
    "Sofía",
    "Noah",
    "Zoë",
    "Mateo",
    "Chloé",
    "Ethan",
    "Amara",
    "Jürgen",
    "Mei",
    "Omar",
    "Priya",
    "Lucas",
    "Hana",
    "Diego",
    "Nora",
    "Kwame",
    "Ingrid",
    "Yusuf",
)
FAMILY = (
    "Smith",
    "García",
    "Nguyen",
    "Johnson",
    "Müller",
    "O'Brien",
    "Kowalski",
    "Okafor",
    "Rossi",
    "Kim",
    "Hernández",
    "Dubois",
    "Patel",
    "Andersson",
    "Brown",
    "Łukasz",
    "Tanaka",
    "Silva",
    "Cohen",
    "Ali",
)
