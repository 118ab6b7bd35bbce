"""What a write returns, and the client's counters."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from passback.oneroster.models import SisStatus


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """The SIS's answer to one PUT/DELETE.

    ``ok``: 2xx (or 404 on DELETE: already absent).  ``created``: 201.  ``rejection``: the SIS's
    status when it refused the item (a permanent 4xx other than 401/403), else None.
    ``error``: the item was not acknowledged and may be retried: its retries were exhausted
    (``exhausted``; http_status is then the last status seen, 0 for a network failure), or the answer
    was not a OneRoster acknowledgement (an HTML page, another shape: the client counts those).
    """

    sourced_id: str
    ok: bool
    http_status: int
    created: bool = False
    rejection: SisStatus | None = None
    attempts: int = 1
    error: str | None = None
    exhausted: bool = False
    request_id: str | None = None  # the SIS's request id, when it sent one (kept in the audit trail)


@dataclass
class ClientStats:
    """Live counters of one client (requests include retries and the token-refresh re-send)."""

    requests: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # by reason: "429", "503", "timeout", "dropped" ...
    throttled: int = 0  # 429 answers
    rejections: int = 0  # permanent 4xx on writes
    token_fetches: int = 0
    token_refreshes: int = 0  # refreshes forced by a 401
    bytes_sent: int = 0
    bytes_received: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": dict(self.retries),
            "throttled": self.throttled,
            "rejections": self.rejections,
            "token_fetches": self.token_fetches,
            "token_refreshes": self.token_refreshes,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
        }
