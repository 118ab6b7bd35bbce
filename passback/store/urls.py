"""The rule for a district's SIS URLs, checked at ``district add/set`` and again before each run.

* no user name or password in the URL (credentials go in --client-id/--client-secret);
* ``https``, except to a loopback host (127.0.0.0/8, ::1, localhost) or when the district opts in
  with ``--allow-http`` (then every run warns, as with TLS verification off);
* a host, a port in 1..65535 when one is given, IPv6 literals in brackets and well-formed.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def mask_userinfo(text: str) -> str:
    """``https://user:pw@host/x`` -> ``https://***@host/x`` anywhere in ``text`` (for display only)."""
    return _USERINFO.sub(r"\1***@", text)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(value: str, *, allow_http: bool = False) -> str | None:
    """None when ``value`` may be a district's base or token URL, else one sentence saying what to fix."""
    shown = mask_userinfo(value or "")
    if not value or any(ch.isspace() for ch in value):
        return (
            f"{shown!r} is not a URL: write it whole, without spaces (e.g. https://sis.example.org/ims/oneroster/v1p1)"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        reason = str(exc)
        if "IPv6" in reason or "IPv4" in reason:
            return f"{shown!r}: the host is not a valid IP address literal (IPv6 goes in brackets, e.g. https://[2001:db8::1]/...)"
        return f"{shown!r}: the port must be a number from 1 to 65535"
    if parts.scheme not in ("http", "https"):
        return f"{shown!r} is not an http(s) URL (e.g. https://sis.example.org/ims/oneroster/v1p1)"
    if "@" in parts.netloc:
        return (
            f"{shown!r} contains a user name or password: remove it from the URL; the credentials are "
            "--client-id and --client-secret"
        )
    if not parts.hostname:
        return f"{shown!r} names no host (e.g. https://sis.example.org/ims/oneroster/v1p1)"
    if port is not None and not 1 <= port <= 65535:
        return f"{shown!r}: the port must be a number from 1 to 65535"
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        return (
            f"{shown!r} is plain http: the client secret and grades would travel unencrypted; use https, "
            "or opt in for this district with --allow-http (test hosts only)"
        )
    return None


def plain_http_host(value: str) -> str | None:
    """The host when ``value`` is plain http to a host that is not loopback (the --allow-http case)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return parts.hostname if parts.scheme == "http" and not is_loopback(parts.hostname) else None
