"""OAuth 2.0 client-credentials tokens for one district: built here, sent through the client's one
request loop (``loop.RequestLoop``: the same bounds, retries and classification as every request),
cached here.

The token is cached until shortly before it expires (``min(30 s, 10 % of its lifetime)`` early);
a lifetime under ``MIN_LIFETIME_S`` (``expires_in: 0``, a negative or absurdly small number) is not
believed: such a token is kept until a 401 says otherwise (else every write would fetch a token).
It is refreshed at most once per 401 and single-flight: concurrent requests that see the same
stale token share one refresh.  A refusal (401/400 ``invalid_client``, an OAuth ``{"error": ...}``
body even with a 200) is remembered: no second token request in the run.

The client secret lives in a ``SecretStr``; the HTTP Basic header is built for each attempt and
dropped with it.  Every error excerpt is redacted of the secret in all its forms (plain,
URL-encoded, Basic) and of the tokens, so an endpoint that echoes the credentials cannot put
them into an error, a log line, the state DB or Prefect's DB.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode, urlsplit

from pydantic import SecretStr

from passback.oneroster.errors import (
    AccessForbidden,
    CredentialsRejected,
    OneRosterError,
    UnexpectedAnswer,
)
from passback.oneroster.loop import Reply, RequestLoop
from passback.oneroster.models import parse_status
from passback.oneroster.policy import TOKEN
from passback.redaction import secret_forms

log = logging.getLogger("passback.oneroster")

MIN_LIFETIME_S = 1.0
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: float | None  # clock time after which it is fetched again (None: until a 401)


class _Basic:
    """HTTP Basic client authentication (RFC 6749 2.3.1: form-encoded, then base64), per attempt."""

    refreshable = False

    def __init__(self, client_id: str, secret: SecretStr) -> None:
        self._client_id = client_id
        self._secret = secret

    async def headers(self) -> tuple[object, dict[str, str]]:
        pair = f"{quote_plus(self._client_id)}:{quote_plus(self._secret.get_secret_value())}"
        return None, {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    async def refresh(self, used: object) -> None:  # pragma: no cover - never called: not refreshable
        raise AssertionError("client credentials are not refreshed")


class Bearer:
    """The API requests' authorisation: the district's current token; a 401 refreshes it once."""

    refreshable = True

    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens

    async def headers(self) -> tuple[object, dict[str, str]]:
        token = await self._tokens.get()
        return token, {"Authorization": f"Bearer {token}"}

    async def refresh(self, used: object) -> None:
        await self._tokens.refresh(str(used))


class TokenSource:
    def __init__(
        self,
        district_id: str,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        *,
        scopes: list[str] | None,
        clock: Callable[[], float],
    ) -> None:
        self.district_id = district_id
        self.token_url = token_url
        self.token_host = urlsplit(token_url).netloc or token_url
        self._client_id = client_id
        self._secret = client_secret
        self._scopes = scopes
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: _Token | None = None
        self._failure: OneRosterError | None = None
        self._loop: RequestLoop | None = None
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenSource(district_id={self.district_id!r}, token_url={self.token_url!r})"

    def attach(self, loop: RequestLoop) -> None:
        """Send the token requests through the client's loop."""
        self._loop = loop
        loop.token_host = self.token_host

    def secrets(self) -> list[str]:
        """Every form of the secret and the current token: what no excerpt may show."""
        forms = secret_forms(self._secret.get_secret_value(), self._client_id)
        return forms + [self._token.value] if self._token is not None else forms  # noqa: RUF005

    @property
    def current(self) -> str | None:
        return self._token.value if self._token is not None else None

    def _valid(self) -> str | None:
        token = self._token
        if token is not None and (token.refresh_at is None or self._clock() < token.refresh_at):
            return token.value
        return None

    async def get(self) -> str:
        """A valid access token (cached; fetched when missing or about to expire)."""
        value = self._valid()
        if value is not None:
            return value
        async with self._lock:
            return self._valid() or await self._fetch()

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
        assert self._loop is not None, "TokenSource.attach(loop) first"
        form = {"grant_type": "client_credentials"} | ({"scope": " ".join(self._scopes)} if self._scopes else {})
        reply = await self._loop.send(
            "POST",
            self.token_url,
            expect=TOKEN,
            auth=_Basic(self._client_id, self._secret),
            content=urlencode(form).encode(),
            headers=FORM,
            api=False,
        )
        if reply.decision.kind == "foreign":
            raise self._remember(self._unexpected(reply))
        if reply.decision.kind != "ok":
            raise self._remember(self._refusal(reply))
        return self._store(json.loads(reply.response.content))

    def _store(self, body: dict[str, object]) -> str:
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise OneRosterError(
                f"the token endpoint {self.token_host} answered without an access_token "
                f"for district {self.district_id}",
                district_id=self.district_id,
            )
        lifetime = body.get("expires_in")
        refresh_at: float | None = None
        try:
            seconds = float(lifetime) if isinstance(lifetime, int | float | str) else 0.0
        except ValueError:
            seconds = 0.0
        if MIN_LIFETIME_S <= seconds < float("inf"):  # else (0, negative, NaN, absurdly small): until a 401
            refresh_at = self._clock() + seconds - min(30.0, 0.1 * seconds)
        self._token = _Token(value, refresh_at)
        self.fetches += 1
        log.debug(
            "district %s: token fetched from %s (expires in %s s%s)",
            self.district_id,
            self.token_host,
            lifetime,
            "" if refresh_at is not None else "; kept until a 401",
        )
        return value

    def _remember(self, error: OneRosterError) -> OneRosterError:
        self._failure = error
        return error

    def _unexpected(self, reply: Reply) -> OneRosterError:
        d, host = self.district_id, self.token_host
        shown = {"html": "an HTML page", "not_json": "something that is not JSON"}.get(
            reply.decision.reason, "JSON without an access_token"
        )
        assert self._loop is not None
        return UnexpectedAnswer(
            f"the token endpoint {host} for district {d} answers {shown} (HTTP {reply.response.status_code}): "
            f"a login page or a proxy in front of it, or the wrong URL? check the token URL with "
            f"`passback district show {d}` and correct it with `passback district set {d} --token-url ...`",
            district_id=d,
            **self._loop.context(reply.response),
        )

    def _refusal(self, reply: Reply) -> OneRosterError:
        assert self._loop is not None
        response = reply.response
        kw = self._loop.context(response)
        minor = (parse_status(response.content).code_minor or "").lower()
        if reply.decision.kind == "forbidden" or minor == "invalid_scope":
            return AccessForbidden.for_district(self.district_id, f"token endpoint {self.token_host}", **kw)
        if response.status_code in (400, 401) or minor in ("invalid_client", "unauthorized_client"):
            return CredentialsRejected.for_district(self.district_id, self.token_host, **kw)
        return OneRosterError(
            f"the token endpoint {self.token_host} refused the token request for district {self.district_id}",
            district_id=self.district_id,
            **kw,
        )
