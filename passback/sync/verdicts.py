"""The SIS's verdicts on a district's writes, as the load reads them: a closed grading period, and
a systemic rejection (the first writes of a kind all refused the same way: a district-wide cause,
held on probation until it is clear they are not)."""

from __future__ import annotations

from typing import Any

USE_GRADE_SETTING = "Use Grade When Posting Secondary Gradebook Assignment Scores"


class SystemicRejection(RuntimeError):
    """The first writes of a district are all rejected the same way: a district-wide cause."""


def rejection_text(outcome: Any) -> str:
    """The SIS's words for a refused write (its description, else its code, else the HTTP status)."""
    rejection = getattr(outcome, "rejection", None)
    if outcome.ok or rejection is None:
        return ""
    description = getattr(rejection, "description", None) or ""
    code = getattr(rejection, "code_minor", None) or ""
    return description or code or f"HTTP {outcome.http_status}"


def is_closed_period_rejection(message: str) -> bool:
    text = message.lower()
    return "grading_period_closed" in text or ("closed" in text and "grading period" in text)


def systemic_cause(message: str) -> str:
    if "use grade when posting" in message.lower() or "use_grade_when_posting" in message.lower():
        return (
            f'the Skyward API setting "{USE_GRADE_SETTING}" is checked: uncheck it under Skyward '
            "Contact Access > District Setup > Configuration > API Configuration, then rerun"
        )
    return "a district-wide setting or configuration in the SIS; fix it, then rerun"


class Probation:
    """Holds back the first rejections of a kind until it is clear they are not systemic."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.open = True
        self.pending: list[dict[str, Any]] = []
        self.code: str | None = None

    def observe(self, ok: bool, message: str) -> bool:
        """Returns True when the rejections so far are systemic (stop the district)."""
        if not self.open:
            return False
        if ok or is_closed_period_rejection(message) or (self.code is not None and message != self.code):
            self.open = False
            return False
        self.code = message
        return len(self.pending) >= self.threshold
