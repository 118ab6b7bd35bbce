"""OAuth 2.0 client credentials for each tenant, and the bearer check of every API call.

Tokens are random, kept in memory with their tenant, client and granted scopes (scope names such
as ``gradebook.createput``), and expire ``lifetime_s()`` seconds after issue — the lifetime is read
at check time, so shortening it at run time expires older tokens too.  Revoking a client drops its
tokens and refuses its token requests.  Secrets are compared by SHA-256; neither secrets nor
token values are ever logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote_plus

from passback.scenario import ALL_SCOPES
from passback.simulator.errors import ApiError
from passback.simulator.seed import secret_hash
from passback.simulator.store import Store

SCOPE_PREFIX = "https://purl.imsglobal.org/spec/or/v1p1/scope/"
ROSTER_READ = ("roster-core.readonly", "roster.readonly")
GRADEBOOK_READ = ("gradebook.readonly",)
GRADEBOOK_PUT = ("gradebook.createput",)
GRADEBOOK_DELETE = ("gradebook.delete",)


def scope_name(scope: str) -> str:
    return scope.rsplit("/", 1)[-1]


def scope_url(name: str) -> str:
    known = {scope_name(s): s for s in ALL_SCOPES}
    return known.get(name, SCOPE_PREFIX + name)


@dataclass(frozen=True, slots=True)
class Token:
    tenant: str
    client_id: str
    scopes: frozenset[str]
    issued: float


class OAuthError(Exception):
    """A token endpoint refusal: RFC 6749 ``{"error": ...}`` body."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        headers: dict[str, str] | None = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status, self.error, self.description, self.headers = status, error, description, headers or {}
        self.client_id = client_id  # the client id presented, if any (not a secret; for the request log)


def _invalid_token(description: str) -> ApiError:
    return ApiError(
        401,
        "unauthorisedrequest",
        f"oauth.invalid_token: {description}",
        {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
    )


class Auth:
    def __init__(
        self, store: Store, lifetime_s: Callable[[], float], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.lifetime_s = lifetime_s
        self.clock = clock
        self.tokens: dict[str, Token] = {}
        self._issued = 0

    # -- token endpoint ---------------------------------------------------------------------------
    def credentials(self, authorization: str | None, form: dict[str, str]) -> tuple[str, str, bool]:
        """(client_id, client_secret, used_basic) from HTTP Basic or the form fields."""
        if authorization and authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError(
                    401, "invalid_client", "malformed Basic credentials", {"WWW-Authenticate": 'Basic realm="oauth"'}
                ) from None
            client_id, sep, secret = decoded.partition(":")
            if not sep:
                raise OAuthError(
                    401, "invalid_client", "malformed Basic credentials", {"WWW-Authenticate": 'Basic realm="oauth"'}
                )
            return unquote_plus(client_id), unquote_plus(secret), True
        if form.get("client_id") and "client_secret" in form:
            return form["client_id"], form["client_secret"], False
        raise OAuthError(
            401, "invalid_client", "no client credentials (HTTP Basic or client_id/client_secret form fields)"
        )

    def issue(self, tenant: str, authorization: str | None, body: bytes) -> tuple[str, dict[str, object]]:
        """(client_id, token response) for a token request; OAuthError when refused."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        client_id, secret, basic = self.credentials(authorization, form)
        record = self.store.client(tenant, client_id)
        if record is None or record.revoked or not hmac.compare_digest(record.secret_sha256, secret_hash(secret)):
            headers = {"WWW-Authenticate": 'Basic realm="oauth"'} if basic else {}
            raise OAuthError(401, "invalid_client", "client authentication failed", headers, client_id)
        allowed = {scope_name(s) for s in record.scopes}
        requested = {scope_name(s) for s in form.get("scope", "").split()}
        granted = allowed & requested if requested else allowed
        if not granted:
            raise OAuthError(
                400, "invalid_scope", "none of the requested scopes is granted to this client", client_id=client_id
            )
        self._purge()
        value = secrets.token_urlsafe(32)
        self.tokens[value] = Token(tenant, client_id, frozenset(granted), self.clock())
        lifetime = self.lifetime_s()
        return client_id, {
            "access_token": value,
            "token_type": "bearer",
            "expires_in": math.ceil(lifetime),
            "scope": " ".join(scope_url(s) for s in sorted(granted)),
        }

    def _purge(self) -> None:
        self._issued += 1
        if self._issued % 1000 == 0:
            cutoff = self.clock() - self.lifetime_s()
            self.tokens = {k: t for k, t in self.tokens.items() if t.issued >= cutoff}

    # -- admin -----------------------------------------------------------------------------------
    def revoke(self, tenant: str, client_id: str) -> bool:
        found = self.store.revoke_client(tenant, client_id)
        self.tokens = {k: t for k, t in self.tokens.items() if not (t.tenant == tenant and t.client_id == client_id)}
        return found

    def put_client(self, tenant: str, client_id: str, secret: str, scopes: Iterable[str] | None) -> None:
        self.store.put_client(tenant, client_id, secret_hash(secret), list(scopes) if scopes else list(ALL_SCOPES))

    # -- bearer check ------------------------------------------------------------------------------
    @staticmethod
    def bearer(authorization: str | None) -> str | None:
        if authorization and authorization[:7].lower() == "bearer ":
            return authorization[7:].strip() or None
        return None

    def peek(self, authorization: str | None) -> Token | None:
        """The token record behind an Authorization header (for the request log), unchecked."""
        value = self.bearer(authorization)
        return self.tokens.get(value) if value else None

    def authorize(self, tenant: str, authorization: str | None, needed: tuple[str, ...]) -> Token:
        """The valid token for this tenant holding one of ``needed``; ApiError 401/403 otherwise."""
        value = self.bearer(authorization)
        if value is None:
            raise _invalid_token("missing bearer token")
        token = self.tokens.get(value)
        if token is None or token.tenant != tenant:
            raise _invalid_token("unknown token")
        if self.clock() - token.issued >= self.lifetime_s():  # kept until purged: requests still in
            raise _invalid_token("token expired")  # flight with it are logged as its client's, expired too
        if not token.scopes.intersection(needed):
            raise ApiError(
                403,
                "forbidden",
                f"oauth.insufficient_scope: this operation needs the scope {' or '.join(scope_url(n) for n in needed)}",
            )
        return token
