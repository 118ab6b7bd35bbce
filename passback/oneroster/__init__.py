"""The async OneRoster 1.1 client (httpx): auth, the one retry/error classification point, pagination."""

from passback.oneroster.client import OneRosterClient
from passback.oneroster.errors import (
    AccessForbidden,
    CredentialsRejected,
    OneRosterError,
    PaginationError,
    RequestRejected,
    SisUnreachable,
    TransientExhausted,
)
from passback.oneroster.models import SisStatus, parse_status
from passback.oneroster.outcomes import ClientStats, WriteOutcome
from passback.oneroster.policy import Decision, RetryPolicy, classify, parse_retry_after
from passback.oneroster.rate import AdaptiveRate

__all__ = [
    "AccessForbidden", "AdaptiveRate", "ClientStats", "CredentialsRejected", "Decision", "OneRosterClient",
    "OneRosterError", "PaginationError", "RequestRejected", "RetryPolicy", "SisStatus", "SisUnreachable",
    "TransientExhausted", "WriteOutcome", "classify", "parse_retry_after", "parse_status",
]
