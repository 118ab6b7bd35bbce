"""OneRoster 1.1 status bodies and the one exception type the simulator's handlers raise.

Every refusal is a ``statusInfoSet`` (1.1 practice)::

    {"statusInfoSet": [{"imsx_codeMajor": "failure", "imsx_severity": "error",
                        "imsx_codeMinor": "invalid_data", "imsx_description": "skyward.title_too_long: ..."}]}

``imsx_description`` starts with a stable machine-readable token (``skyward.*`` for Skyward's
rules, ``oneroster.*`` for the standard's) followed by ``: `` and a sentence for a person.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

JSON = "application/json"


class ApiError(Exception):
    """A refusal with its HTTP status, 1.1 codeMinor, token-prefixed description and extra headers."""

    def __init__(self, status: int, code_minor: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.code_minor = code_minor
        self.description = description
        self.headers = headers or {}

    @property
    def token(self) -> str:
        return self.description.split(":", 1)[0]


def status_body(
    code_minor: str, description: str, *, major: str = "failure", severity: str = "error"
) -> dict[str, Any]:
    return {
        "statusInfoSet": [
            {
                "imsx_codeMajor": major,
                "imsx_severity": severity,
                "imsx_codeMinor": code_minor,
                "imsx_description": description,
            }
        ]
    }


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status_code=status, headers=headers, media_type=JSON)


def error_response(exc: ApiError) -> Response:
    return json_response(status_body(exc.code_minor, exc.description), exc.status, exc.headers)


def invalid(token: str, message: str) -> ApiError:
    """422 invalid_data: a body the SIS will not store (the token names the rule, the message the field)."""
    return ApiError(422, "invalid_data", f"{token}: {message}")


def unknown_object(kind: str, sourced_id: str) -> ApiError:
    return ApiError(404, "unknownobject", f"oneroster.unknown_object: no {kind} with sourcedId {sourced_id!r}")


def bad_request(code_minor: str, token: str, message: str) -> ApiError:
    return ApiError(400, code_minor, f"{token}: {message}")
