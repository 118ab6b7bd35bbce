"""Reason codes, outcomes and the fixed vocabularies of the source contract.

The codes are stable identifiers: reports, the JSON summary, the GX suites' ``meta`` and the
tests use them.  The order of the tuples below is the order of PRODUCT.md: a row that breaks
several rules is tagged with the first one.
"""

from __future__ import annotations

from enum import StrEnum

OTUS_TYPES: tuple[str, ...] = (
    "Assignment",
    "Checklist",
    "Homework",
    "Journal",
    "Lab",
    "Observation",
    "Paper",
    "Presentation",
    "Project",
    "Quiz",
    "Test",
    "Worksheet",
)

# Assessment (-> lineItem) reasons, in PRODUCT.md order.
ASSESSMENT_REASONS: tuple[str, ...] = (
    "duplicate_row",  # a second source row with the same assessment id (extra, not in PRODUCT.md)
    "assessment_deleted",
    "not_points_based",
    "points_not_whole",
    "title_missing",
    "title_too_long",
    "not_in_final_grade",
    "class_not_in_sis",
    "assigner_not_in_sis",
    "assigner_not_in_group",
    "missing_dates",
    "due_before_assign",
    "before_effective_date",
    "outside_grading_periods",
    "straddles_grading_periods",
    "grading_period_closed",
    "category_unmapped",
    "category_not_in_sis",
    "nothing_to_send",
)

# Score (-> result) reasons, in PRODUCT.md order.
SCORE_REASONS: tuple[str, ...] = (
    "duplicate_row",  # a second row with the same (assessment, student) (extra)
    "unknown_assessment",  # an orphan score: its assessment is not in the source (extra)
    "assessment_ineligible",  # its assessment does not pass back (the assessment's reason says why)
    "line_item_rejected",  # the SIS rejected its lineItem in this run or before (extra)
    "score_excluded",
    "student_not_in_sis",
    "not_yet_graded",
    "not_yet_due",
    "score_invalid",
)

# Reasons that mean "pending, not an error": the row may pass back later without any fix.
PENDING_REASONS: frozenset[str] = frozenset({"nothing_to_send", "not_yet_graded", "not_yet_due"})


class Outcome(StrEnum):
    """What happened to one lineItem or result in one run (the JSON summary's keys)."""

    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    ineligible = "ineligible"
    rejected = "rejected"
    failed = "failed"


class Kind(StrEnum):
    line_item = "lineItem"
    result = "result"


class DeletionPolicy(StrEnum):
    keep = "keep"  # default: never delete in the SIS
    propagate = "propagate"  # DELETE the lineItem of an assessment deleted in Otus


SCORE_STATES: tuple[str, ...] = ("graded", "turned_in", "not_submitted")
SCORING_KINDS: tuple[str, ...] = ("points", "standards", "rubric")
ASSESSMENT_STATUSES: tuple[str, ...] = ("active", "deleted")
USER_ROLES: tuple[str, ...] = ("teacher", "administrator", "student")
ENROLLMENT_ROLES: tuple[str, ...] = ("student", "teacher", "co_teacher")
