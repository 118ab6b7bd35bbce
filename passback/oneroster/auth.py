"""OAuth 2.0 client-credentials tokens for one district (authlib fetches, this module caches).

The token is cached until shortly before it expires (``min(30 s, 10 % of its lifetime)`` early),
refreshed at most once per 401 and single-flight: concurrent requests that see the same stale
token share one refresh.  The client secret lives in a ``SecretStr`` and is handed to authlib only
for the duration of a token request; it never reaches a log line, an exception or a repr.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

import authlib.deprecate  # noqa: E402,F401 - installs authlib's own "always" filter first, so ours below wins

with warnings.catch_warnings():  # authlib 1.9 warns that plain httpx (not httpx2) is deprecated: we pin httpx
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from passback.oneroster.errors import (
    AccessForbidden,
    CredentialsRejected,
    OneRosterError,
    SisUnreachable,
    TransientExhausted,
    redact,
    request_id,
)
from passback.oneroster.models import parse_status
from passback.oneroster.policy import RetryPolicy, classify

log = logging.getLogger("passback.oneroster")


class _TokenResponse(Exception):
    """A non-2xx token endpoint answer, raised from authlib's hook so our policy classifies it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _check_token_response(response: httpx.Response) -> httpx.Response:
    if not 200 <= response.status_code < 300:
        raise _TokenResponse(response)
    return response


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float | None  # clock time after which it is fetched again (None: until a 401)


class TokenSource:
    def __init__(self, district_id: str, token_url: str, client_id: str, client_secret: SecretStr, *,
                 scopes: list[str] | None, policy: RetryPolicy, timeout: httpx.Timeout, verify: bool = True,
                 transport: httpx.AsyncBaseTransport | None = None,
                 on_contact: Callable[[], None] | None = None) -> None:
        self.district_id = district_id
        self.token_url = token_url
        self.token_host = urlsplit(token_url).netloc or token_url
        self._secret = client_secret
        self._policy = policy
        self._lock = asyncio.Lock()
        self._token: _Token | None = None
        self._failure: OneRosterError | None = None
        self._on_contact = on_contact
        self.contacted = False
        self.fetches = 0
        self._oauth = AsyncOAuth2Client(
            client_id=client_id, client_secret=None, token_endpoint_auth_method="client_secret_basic",
            scope=" ".join(scopes) if scopes else None, timeout=timeout, verify=verify, transport=transport,
            trust_env=False,
        )
        self._oauth.register_compliance_hook("access_token_response", _check_token_response)

    def __repr__(self) -> str:
        return f"TokenSource(district_id={self.district_id!r}, token_url={self.token_url!r})"

    async def aclose(self) -> None:
        await self._oauth.aclose()

    @property
    def current(self) -> str | None:
        return self._token.value if self._token is not None else None

    async def get(self) -> str:
        """A valid access token (cached; fetched when missing or about to expire)."""
        token = self._token
        if token is not None and (token.refresh_at is None or self._policy.clock() < token.refresh_at):
            return token.value
        async with self._lock:
            token = self._token
            if token is not None and (token.refresh_at is None or self._policy.clock() < token.refresh_at):
                return token.value
            return await self._fetch()

    async def refresh(self, stale: str) -> str:
        """After a 401 with ``stale``: a new token, unless another request already refreshed it."""
        async with self._lock:
            if self._token is not None and self._token.value != stale:
                return self._token.value
            self._token = None
            return await self._fetch()

    async def _fetch(self) -> str:
        if self._failure is not None:
            raise self._failure
        policy = self._policy
        reason = ""
        for failures in range(1, policy.max_attempts + 1):
            response: httpx.Response | None = None
            try:
                self._oauth.client_secret = self._secret.get_secret_value()
                body = await self._oauth.fetch_token(self.token_url, grant_type="client_credentials")
            except _TokenResponse as exc:
                response = exc.response
                decision = classify(response)
            except httpx.TransportError as exc:
                decision = classify(exc)
                if decision.kind == "fatal":
                    raise
                if decision.reason in ("dns", "tls") and not self.contacted:
                    raise SisUnreachable.for_district(self.district_id, self.token_host, decision.reason,
                                                      type(exc).__name__) from None
            else:
                self._contacted()
                return self._store(body)
            finally:
                self._oauth.client_secret = None
            if response is not None:
                self._contacted()
                if decision.kind != "retry":
                    raise self._remember(self._refusal(response, decision.kind))
            reason = decision.reason
            log.debug("district %s: token request failed (%s), attempt %d", self.district_id, reason, failures)
            if failures < policy.max_attempts:
                await policy.sleep(policy.delay(failures, decision))
        if not self.contacted:
            raise SisUnreachable.for_district(self.district_id, self.token_host, reason, "no answer")
        raise TransientExhausted(
            f"the token endpoint {self.token_host} kept failing for district {self.district_id} ({reason}) "
            f"after {policy.max_attempts} attempts — the SIS may be down; rerun the district later",
            district_id=self.district_id, attempts=policy.max_attempts, reason=reason)

    def _contacted(self) -> None:
        self.contacted = True
        if self._on_contact is not None:
            self._on_contact()

    def _store(self, body: dict[str, object]) -> str:
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise OneRosterError(f"the token endpoint {self.token_host} answered without an access_token "
                                 f"for district {self.district_id}", district_id=self.district_id)
        lifetime = body.get("expires_in")
        refresh_at: float | None = None
        if isinstance(lifetime, int | float | str) and str(lifetime).replace(".", "", 1).isdigit():
            seconds = float(lifetime)
            refresh_at = self._policy.clock() + seconds - min(30.0, 0.1 * seconds)
        self._token = _Token(value, refresh_at)
        self.fetches += 1
        log.debug("district %s: token fetched from %s (expires in %s s)", self.district_id, self.token_host, lifetime)
        return value

    def _remember(self, error: OneRosterError) -> OneRosterError:
        self._failure = error
        return error

    def _refusal(self, response: httpx.Response, kind: str) -> OneRosterError:
        status = parse_status(response.content)
        excerpt = redact(str(status), [self._secret.get_secret_value()])
        kw = {"status": response.status_code, "body_excerpt": excerpt,
              "request_id": request_id(response.headers)}
        if kind == "forbidden" or (status.code_minor or "").lower() == "invalid_scope":
            return AccessForbidden.for_district(self.district_id, f"token endpoint {self.token_host}", **kw)
        if response.status_code in (400, 401):
            return CredentialsRejected.for_district(self.district_id, self.token_host, **kw)
        return OneRosterError(f"the token endpoint {self.token_host} refused the token request for district "
                              f"{self.district_id}", district_id=self.district_id, **kw)  # type: ignore[arg-type]
