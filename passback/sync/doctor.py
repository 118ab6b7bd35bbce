"""The pre-flight check of a district: each line a verdict and what to do."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from passback.domain.codes import OTUS_TYPES
from passback.oneroster.errors import AccessForbidden, CredentialsRejected
from passback.store import districts as store_districts
from passback.store.urls import url_problem
from passback.sync.district import DistrictRun, category_problem, is_closed_in_sis

PROBE_ID = "passback-doctor-probe"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


async def run_checks(run: DistrictRun, group_size: int) -> list[Check]:
    checks: list[Check] = []
    d = run.district
    bad_urls = [
        f"{label}: {problem}"
        for label, url in (("base URL", d.base_url), ("token URL", d.token_url))
        if (problem := url_problem(url, allow_http=bool(getattr(d, "allow_http", False))))
    ]
    if bad_urls:  # a row stored before the URL rule: the client would refuse it
        return [
            Check(
                "SIS URLs",
                False,
                "; ".join(bad_urls),
                f"passback district set {d.id} --base-url URL --token-url URL (https; --allow-http for a test host only)",
            )
        ]
    async with run.client() as client:
        try:
            periods = await client.grading_periods()
            categories = await client.categories()
        except CredentialsRejected as exc:
            return [
                Check("credentials", False, str(exc), f"rotate them: passback district set {d.id} --client-secret -")
            ]
        except AccessForbidden as exc:
            return [
                Check("credentials", True, "token issued"),
                Check(
                    "read scopes", False, str(exc), "grant roster and gradebook read scopes to the API access record"
                ),
            ]
        checks.append(Check("credentials", True, f"token issued by {d.token_url}"))
        checks.append(
            Check("read scopes", True, f"read {len(periods)} grading periods and {len(categories)} categories")
        )
        checks.append(await _write_probe(client))
    checks += mapping_checks(run, categories)
    checks += period_checks(run, periods)
    checks.append(
        Check(
            "teacher group",
            group_size > 0,
            f"{group_size} members in the Skyward Grade Passback Teacher Group",
            ""
            if group_size
            else "add the teachers, co-teachers and administrators who assign assessments to the group in Otus",
        )
    )
    return checks


async def _write_probe(client: Any) -> Check:
    """A write the SIS must refuse as invalid data: 422 proves the licence and the write scope, creating nothing."""
    try:
        outcome = await client.put_line_item(PROBE_ID, {"lineItem": {"sourcedId": PROBE_ID}})
    except AccessForbidden as exc:
        return Check(
            "licence and write scope",
            False,
            str(exc),
            "buy/enable the Skyward LMS/OneRoster API licence and grant gradebook.createput to the API access record",
        )
    if outcome.error is not None:  # not a OneRoster answer (an HTML page, another shape): not a verdict
        return Check(
            "licence and write scope",
            False,
            outcome.error,
            f"correct the base URL: passback district set {client.district_id} --base-url ...",
        )
    if outcome.ok:
        return Check(
            "licence and write scope",
            True,
            "the SIS accepted an empty probe lineItem (unexpected; delete 'passback-doctor-probe')",
        )
    return Check(
        "licence and write scope",
        True,
        f"writes allowed (probe refused as invalid data: HTTP {outcome.http_status}, nothing created)",
    )


def mapping_checks(run: DistrictRun, categories: list[Any]) -> list[Check]:
    mapping = store_districts.get_mapping(run.engine, run.district_id)
    by_id = {c.sourcedId: c for c in categories}
    missing = [t for t in OTUS_TYPES if t not in mapping]
    checks = [
        Check(
            "mapping complete",
            not missing,
            f"{12 - len(missing)} of 12 Otus types mapped" + (f"; unmapped: {', '.join(missing)}" if missing else ""),
            f"passback mapping set {run.district_id} " + " ".join(f"{t}=CATEGORY" for t in missing) if missing else "",
        )
    ]
    bad = []
    for otus_type, sid in sorted(mapping.items()):
        cat = by_id.get(sid)
        if cat is None:
            bad.append(f"{otus_type} → {sid} (not in the SIS)")
        elif (problem := category_problem(cat)) is not None:
            bad.append(f"{otus_type} → {cat.title} ({problem})")
    checks.append(
        Check(
            "categories district-level and active",
            not bad,
            "every mapped category is an active district-level category" if not bad else "; ".join(bad),
            "define the categories at district level and activate them in the teachers' Skyward gradebooks, or remap"
            if bad
            else "",
        )
    )
    return checks


def period_checks(run: DistrictRun, periods: list[Any]) -> list[Check]:
    closed = set(store_districts.closed_periods(run.engine, run.district_id)) | {
        p.sourcedId for p in periods if is_closed_in_sis(p)
    }
    if not periods:
        return [
            Check(
                "grading periods",
                False,
                "the SIS lists no grading periods",
                "set up grading periods in Skyward for the school year",
            )
        ]
    lines = [
        f"{p.title} {p.startDate}..{p.endDate} {'closed' if p.sourcedId in closed else 'open'}"
        for p in sorted(periods, key=lambda p: str(p.startDate))
    ]
    open_count = sum(p.sourcedId not in closed for p in periods)
    checks = [
        Check(
            "grading periods",
            open_count > 0,
            f"{len(periods)} ({open_count} open): " + "; ".join(lines),
            "" if open_count else "no open grading period: nothing can pass back until one opens",
        )
    ]
    start = min(_day(p.startDate) for p in periods)
    end = max(_day(p.endDate) for p in periods)
    eff = run.district.effective_date
    inside = start <= eff <= end
    checks.append(
        Check(
            "effective date",
            inside,
            f"{eff} ({'inside' if inside else 'outside'} the school year {start}..{end})",
            ""
            if inside
            else f"passback district set {run.district_id} --effective-date YYYY-MM-DD (or preview with passback backfill)",
        )
    )
    return checks


def _day(value: Any) -> dt.date:
    return (
        value
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime)
        else dt.date.fromisoformat(str(value)[:10])
    )
