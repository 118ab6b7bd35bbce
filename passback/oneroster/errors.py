"""One error class per failure kind; each says what happened, to which district, and what to do.

Every error carries the district id, the HTTP status (if any), the SIS's request id (if it sent
one) and a REDACTED excerpt of the body.  No token, secret or Authorization header ever reaches
an error's text or repr: bodies are redacted before they are stored, and errors are raised
outside ``except`` blocks so no exception chain (``__cause__``/``__context__``) carries a body.

``retriable`` says whether running the same thing again later can help (the SIS was busy or
unreachable) or not (credentials, licence, configuration, a SIS that answers something else
than OneRoster): orchestration retries read it, never a list of classes (as the Singer SDK's
``RetriableAPIError``/``FatalAPIError``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from passback.redaction import printable, scrub

EXCERPT_CHARS = 300
REQUEST_ID_HEADERS = ("x-request-id", "x-correlation-id", "request-id", "x-amzn-requestid")

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)(\"?\b(?:access_token|refresh_token|id_token|client_secret|password|secret)\"?\s*[:=]\s*\"?)[^\"&,\s}]+"
    ),
)


def redact(text: str, secrets: Iterable[str] = (), limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to ``limit`` characters with tokens, secrets and credentials replaced, and
    control characters neutralised."""
    out = scrub(text, secrets)
    out = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} [REDACTED]", out)
    out = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}[REDACTED]", out)
    out = printable(out)
    return out if len(out) <= limit else out[:limit] + "…"


def request_id(headers: Mapping[str, str]) -> str | None:
    """The SIS's request/correlation id, if it sent one."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return printable(value[:100])
    return None


class OneRosterError(Exception):
    """Base of every client failure."""

    retriable = False

    def __init__(
        self,
        message: str,
        *,
        district_id: str,
        status: int | None = None,
        request_id: str | None = None,
        body_excerpt: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.district_id = district_id
        self.status = status
        self.request_id = request_id
        self.body_excerpt = body_excerpt  # already redacted

    def __str__(self) -> str:
        extra = [f"HTTP {self.status}"] if self.status is not None else []
        if self.request_id:
            extra.append(f"request id {self.request_id}")
        if self.body_excerpt:
            extra.append(f"SIS said: {self.body_excerpt}")
        return f"{self.message} ({'; '.join(extra)})" if extra else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(district_id={self.district_id!r}, status={self.status!r}, "
            f"request_id={self.request_id!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:  # picklable (Prefect may ship it between processes)
        return (_rebuild, (type(self), self.message), dict(self.__dict__))


def _rebuild(cls: type[OneRosterError], message: str) -> OneRosterError:
    err = Exception.__new__(cls)
    Exception.__init__(err, message)
    return err


class CredentialsRejected(OneRosterError):
    """401 after one token refresh, or the token endpoint refused the client id/secret."""

    @classmethod
    def for_district(cls, district_id: str, token_host: str, **kw: object) -> CredentialsRejected:
        return cls(
            f"credentials rejected by {token_host} for district {district_id} — rotate them: generate new API "
            f"credentials in Skyward (SMS) or the Partner Portal (Qmlativ) and store them with "
            f"`passback district set {district_id} --client-secret ...`",
            district_id=district_id,
            **kw,  # type: ignore[arg-type]
        )


class AccessForbidden(OneRosterError):
    """403: the district's licence or the API access record's scopes do not allow the call."""

    @classmethod
    def for_district(cls, district_id: str, what: str, **kw: object) -> AccessForbidden:
        return cls(
            f"access forbidden for district {district_id} ({what}) — check that the district has the Skyward "
            f"LMS/OneRoster API licence and that the API access record grants the needed scopes "
            f"(roster/gradebook read, gradebook.createput, gradebook.delete)",
            district_id=district_id,
            **kw,  # type: ignore[arg-type]
        )


class TransientExhausted(OneRosterError):
    """A retriable failure (429, 5xx, timeout, dropped connection) that used up the attempt budget."""

    retriable = True

    def __init__(self, message: str, *, attempts: int = 0, reason: str = "", **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.attempts = attempts
        self.reason = reason


class SisUnreachable(OneRosterError):
    """The SIS could not be reached at all (DNS, TCP, TLS) before any response was ever received."""

    retriable = True

    @classmethod
    def for_district(cls, district_id: str, host: str, reason: str, detail: str) -> SisUnreachable:
        from urllib.parse import urlsplit

        from passback.store.urls import is_loopback

        if reason in ("connect", "timeout") and is_loopback(urlsplit(f"//{host}").hostname):
            return cls(
                f"cannot reach the SIS at {host} for district {district_id} ({reason}: {detail}) — the "
                f"simulator is not running? `passback sim serve` serves the demo's world (in another terminal, "
                f"or `passback demo --serve`); otherwise check the URLs with `passback district show "
                f"{district_id}`",
                district_id=district_id,
            )
        check = {
            "dns": "the host name in the district's base/token URL (DNS does not resolve it)",
            "tls": "the SIS's TLS certificate (expired, self-signed or wrong host name) and this host's CA bundle",
            "timeout": "that the SIS is up and that this host's outbound IP is allowed through the district's firewall",
        }.get(
            reason,
            "the base/token URL, that the SIS is up, and that this host's outbound IP is allowed through "
            "the district's firewall",
        )
        return cls(
            f"cannot reach the SIS at {host} for district {district_id} ({reason}: {detail}) — check {check}",
            district_id=district_id,
        )


class PaginationError(OneRosterError):
    """A collection read that did not terminate as it should (page budget, offset ignored, foreign next link,
    more records than its X-Total-Count)."""


class RequestRejected(OneRosterError):
    """A permanent 4xx on a READ (writes return a rejected WriteOutcome instead of raising)."""

    def __init__(self, message: str, *, code_minor: str | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.code_minor = code_minor


_INSTEAD = {
    "html": "an HTML page: a login page or a proxy in front of the API",
    "not_json": "something that is not JSON: a proxy or another service at the base URL",
    "shape": "JSON that is not a OneRoster {envelope}: another service at the base URL",
    "sourced_id": "the acknowledgement of another {envelope} than the one written: a caching proxy or a SIS fault",
    "failure_status": "a failure status with a success code",
}


def instead_of_oneroster(reason: str, envelope: str = "object") -> str:
    """What a SIS answered instead of a OneRoster answer (``policy``'s foreign reason), and the likely cause."""
    return _INSTEAD.get(reason, "something else than OneRoster").format(envelope=envelope)


class UnexpectedAnswer(OneRosterError):
    """An answer that is not a OneRoster answer (an HTML page, JSON of another shape, another item's
    acknowledgement): a login page, a proxy or another service answers at the configured URL."""


class SisRedirected(OneRosterError):
    """A 3xx: the configured URL is not the API's (http→https, a moved API, a login page)."""

    @classmethod
    def for_district(
        cls, district_id: str, what: str, status: int, location_host: str, setting: str, **kw: object
    ) -> SisRedirected:
        return cls(
            f"{what} for district {district_id} was redirected (HTTP {status}) to {location_host or 'another URL'} — "
            f"the {setting} is probably wrong (an http URL moved to https, a moved API, or a login page); nothing "
            f"was recorded for it. Check it with `passback district show {district_id}` and correct it with "
            f"`passback district set {district_id} --{setting.lower().replace(' ', '-')} ...`",
            district_id=district_id,
            status=status,
            **kw,  # type: ignore[arg-type]
        )


class BoundExceeded(OneRosterError):
    """An answer or a read that outgrew a bound: the per-request deadline (a body still dripping in),
    the maximum response size, or a time budget for a group of reads."""
