"""The async OneRoster 1.1 client (httpx): auth, the one retry/error classification point, pagination."""

from passback.oneroster.client import OneRosterClient
from passback.oneroster.errors import (
    AccessForbidden,
    BoundExceeded,
    CredentialsRejected,
    OneRosterError,
    PaginationError,
    RequestRejected,
    SisRedirected,
    SisUnreachable,
    TransientExhausted,
    UnexpectedAnswer,
)
from passback.oneroster.models import SisStatus, parse_status
from passback.oneroster.outcomes import ClientStats, WriteOutcome
from passback.oneroster.policy import Decision, Expect, RetryPolicy, classify, parse_retry_after
from passback.oneroster.rate import AdaptiveRate

__all__ = [
    "AccessForbidden",
    "AdaptiveRate",
    "BoundExceeded",
    "ClientStats",
    "CredentialsRejected",
    "Decision",
    "Expect",
    "OneRosterClient",
    "OneRosterError",
    "PaginationError",
    "RequestRejected",
    "RetryPolicy",
    "SisRedirected",
    "SisStatus",
    "SisUnreachable",
    "TransientExhausted",
    "UnexpectedAnswer",
    "WriteOutcome",
    "classify",
    "parse_retry_after",
    "parse_status",
]
