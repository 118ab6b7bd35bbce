"""Names made safe from ids that are spelled as Otus spells them.

A district id is the Otus ``district_id`` exactly (``HD1``, a UUID, ``springfield-isd``): letters of
either case, digits, ``-``, ``_`` and ``.``, 1 to 64 characters, case-sensitive.  Everything derived
from it — folder names, Prefect artifact keys, flow run names — goes through ``safe_key``, which
keeps it readable and never lets two ids collide (``HD1`` and ``hd1`` get different keys).
"""

from __future__ import annotations

import hashlib
import re

DISTRICT_ID_MAX = 64
DISTRICT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_KEY_UNSAFE = re.compile(r"[^a-z0-9-]+")


def district_id_problem(value: str) -> str | None:
    """None when ``value`` is a valid district id, else one sentence saying what is wrong."""
    if not value:
        return "the district id is empty: use the Otus district id (otus_*.district_id)"
    if len(value) > DISTRICT_ID_MAX:
        return (
            f"the district id is {len(value)} characters long; at most {DISTRICT_ID_MAX} are allowed "
            "(use the Otus district id exactly as otus_*.district_id spells it)"
        )
    if value in (".", "..") or not DISTRICT_ID_PATTERN.match(value):
        return (
            f"{value!r} is not a district id: use the Otus district id exactly as the source tables spell it "
            "(letters of either case, digits, '-', '_' and '.')"
        )
    return None


def safe_key(value: str, *, max_len: int = 48) -> str:
    """A lowercase ``[a-z0-9-]`` key for ``value`` (Prefect artifact keys, folder names).

    Readable when ``value`` already is one; otherwise the readable part is followed by a short hash
    of the exact value, so ids differing only in case or punctuation never share a key.
    """
    readable = _KEY_UNSAFE.sub("-", value.lower()).strip("-") or "x"
    if readable == value:
        return readable[:max_len]
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{readable[: max_len - 9]}-{digest}"
