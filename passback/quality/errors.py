"""Errors of the quality layer.  Each says what broke, in which suite file / rule, and what to do."""

from __future__ import annotations


class QualityError(Exception):
    """Base class of every error raised by ``passback.quality``."""


class SuiteLoadError(QualityError):
    """A suite file under ``expectations/`` cannot be loaded exactly as written.

    Raised instead of letting Great Expectations silently drop an expectation it cannot build.
    """


class RuleExecutionError(QualityError):
    """An expectation raised while it ran: its rows cannot be classified, so nothing is guessed."""

    def __init__(self, message: str, *, suite: str, expectation: str, reason_code: str | None) -> None:
        super().__init__(message)
        self.suite = suite
        self.expectation = expectation
        self.reason_code = reason_code


class FrameContractError(QualityError, ValueError):
    """The frame handed to a suite lacks columns the suite references (see docs/DESIGN.md)."""
