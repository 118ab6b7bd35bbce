"""Secrets out of text, and text made safe for a terminal — wherever text from a SIS, a token
endpoint or an error is shown or stored (the client's errors, the run history).

    scrub(text, secret_forms(secret, client_id))   # every way the secret can travel, replaced
    printable(text)                                # ANSI escapes, BEL ... shown as \\x1b, \\x07
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (ANSI escapes, BEL, ...) shown as ``\\xNN``: safe for a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def secret_forms(secret: str, client_id: str | None = None) -> list[str]:
    """The ways a client secret can travel (and be echoed back): plain, URL-encoded, JSON-escaped,
    and inside an HTTP Basic header with its client id."""
    forms = [secret, quote_plus(secret), quote(secret, safe=""), json.dumps(secret)[1:-1]]
    if client_id is not None:
        for pair in (f"{quote_plus(client_id)}:{quote_plus(secret)}", f"{client_id}:{secret}"):
            forms.append(base64.b64encode(pair.encode()).decode())
    return list(dict.fromkeys(f for f in forms if f))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (of 4 characters or more; longest first) replaced by [REDACTED]."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
