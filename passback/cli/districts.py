"""`passback district ...` and `passback mapping ...`: onboarding a district."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated, Any

import typer
from rich.table import Table

from passback.cli.common import console, engine, parse_date
from passback.domain.codes import OTUS_TYPES

district_app = typer.Typer(no_args_is_help=True, help="Add, list, show and change districts.")
mapping_app = typer.Typer(no_args_is_help=True, help="Map the 12 Otus assessment types to Skyward categories.")


def _secret(given: str | None) -> str:
    if given:
        return given
    if os.environ.get("PASSBACK_CLIENT_SECRET"):
        return os.environ["PASSBACK_CLIENT_SECRET"]
    return typer.prompt("Client secret", hide_input=True)


@district_app.command("add")
def add(
    district_id: Annotated[str, typer.Argument(metavar="ID", help="short id, e.g. springfield-isd")],
    name: Annotated[str, typer.Option("--name")],
    base_url: Annotated[str, typer.Option("--base-url", help="OneRoster base URL, …/ims/oneroster/v1p1")],
    token_url: Annotated[str, typer.Option("--token-url", help="OAuth 2 token URL (not derivable from the base URL)")],
    client_id: Annotated[str, typer.Option("--client-id")],
    effective_date: Annotated[str, typer.Option("--effective-date", help="YYYY-MM-DD")],
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone")] = "America/Chicago",
    client_secret: Annotated[str | None, typer.Option("--client-secret", help="or PASSBACK_CLIENT_SECRET, or a prompt")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=32)] = 4,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit", help="writes per second (default: none)")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=600, help="request timeout, seconds")] = 30.0,
    insecure: Annotated[bool, typer.Option("--insecure-skip-tls-verify", help="test hosts only: do not verify TLS")] = False,
) -> None:
    """Register a district (the client secret is stored encrypted)."""
    from passback.store.districts import DistrictSpec, add_district

    spec = DistrictSpec(
        id=district_id, name=name, base_url=base_url, token_url=token_url, client_id=client_id,
        client_secret=_secret(client_secret), timezone=timezone, effective_date=parse_date(effective_date),
        concurrency=concurrency, rate_limit_per_s=rate_limit, verify_tls=not insecure, request_timeout_s=timeout,
    )
    add_district(engine(), spec)
    console.print(f"district [bold]{district_id}[/bold] added. Next: `passback mapping set {district_id} TYPE=CATEGORY ...`, then `passback doctor {district_id}`.")


@district_app.command("list")
def list_() -> None:
    """All districts, one line each."""
    from passback.store.districts import list_districts

    table = Table("id", "name", "enabled", "effective date", "time zone", "base URL")
    for d in list_districts(engine()):
        table.add_row(d.id, d.name, "yes" if d.enabled else "no", str(d.effective_date), d.timezone, d.base_url)
    console.print(table)


def district_view(district: Any, mapping: dict[str, str]) -> dict[str, Any]:
    skip = {"secret_ciphertext"}
    view = {k: (str(v) if v is not None and not isinstance(v, (int, float, bool)) else v)
            for k, v in district.model_dump().items() if k not in skip}
    view["client_secret"] = "(stored encrypted)"
    view["mapping"] = mapping
    return view


@district_app.command("show")
def show(district_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """A district's configuration (never the secret) and its category mapping."""
    from passback.store.districts import get_district, get_mapping

    eng = engine()
    console.print_json(json.dumps(district_view(get_district(eng, district_id), get_mapping(eng, district_id))))


@district_app.command("set")
def set_(
    district_id: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url")] = None,
    token_url: Annotated[str | None, typer.Option("--token-url")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id")] = None,
    client_secret: Annotated[str | None, typer.Option("--client-secret", help="rotate the secret ('-' reads PASSBACK_CLIENT_SECRET or prompts)")] = None,
    effective_date: Annotated[str | None, typer.Option("--effective-date")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone")] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", min=1, max=32)] = None,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit")] = None,
    grace_hours: Annotated[float | None, typer.Option("--grace-hours", min=0)] = None,
    deletion_policy: Annotated[str | None, typer.Option("--deletion-policy", help="keep | propagate")] = None,
    max_writes: Annotated[int | None, typer.Option("--max-writes-per-run", min=1)] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.1, max=600, help="request timeout, seconds")] = None,
    closed_periods: Annotated[str | None, typer.Option("--closed-grading-periods", help="comma-separated sourcedIds closed by configuration")] = None,
) -> None:
    """Change a district's settings (only the options given)."""
    from passback.store.districts import set_closed_periods_config, update_district

    changes: dict[str, Any] = {k: v for k, v in {
        "name": name, "base_url": base_url, "token_url": token_url, "client_id": client_id,
        "timezone": timezone, "enabled": enabled, "concurrency": concurrency, "rate_limit_per_s": rate_limit,
        "grace_hours": grace_hours, "deletion_policy": deletion_policy, "max_writes_per_run": max_writes,
        "request_timeout_s": timeout,
    }.items() if v is not None}
    if effective_date is not None:
        changes["effective_date"] = parse_date(effective_date)
    if client_secret is not None:
        changes["client_secret"] = _secret(None if client_secret == "-" else client_secret)
    if not changes and closed_periods is None:
        raise ValueError(f"nothing to change: give the options to set, e.g. `passback district set {district_id} --effective-date 2026-09-01` (see --help)")
    eng = engine()
    if changes:
        update_district(eng, district_id, **changes)
    if closed_periods is not None:
        set_closed_periods_config(eng, district_id, [p.strip() for p in closed_periods.split(",") if p.strip()])
    console.print(f"district [bold]{district_id}[/bold] updated: {', '.join(sorted(changes)) or 'closed grading periods'}")


@mapping_app.command("set")
def mapping_set(
    district_id: Annotated[str, typer.Argument(metavar="ID")],
    pairs: Annotated[list[str], typer.Argument(metavar="TYPE=CATEGORY...", help="CATEGORY: a Skyward category sourcedId or title")],
) -> None:
    """Map Otus types to Skyward categories (resolved against the SIS's /categories)."""
    from passback.store.districts import get_district, set_mapping

    eng = engine()
    district = get_district(eng, district_id)
    wanted: dict[str, str] = {}
    types = {t.lower(): t for t in OTUS_TYPES}
    for pair in pairs:
        otus_type, sep, category = pair.partition("=")
        if not sep or not category.strip():
            raise typer.BadParameter(f"{pair!r}: write TYPE=CATEGORY, e.g. Quiz=Quiz", param_hint="TYPE=CATEGORY")
        if otus_type.strip().lower() not in types:
            raise typer.BadParameter(f"{otus_type!r} is not an Otus assessment type; the 12 types are: {', '.join(OTUS_TYPES)}", param_hint="TYPE")
        wanted[types[otus_type.strip().lower()]] = category.strip()
    categories = asyncio.run(_sis_categories(district))
    resolved = {t: resolve_category(c, categories) for t, c in wanted.items()}
    set_mapping(eng, district_id, resolved)
    for t, c in resolved.items():
        console.print(f"{t} → {c} ({categories[c]['title']})")


def resolve_category(given: str, categories: dict[str, dict[str, Any]]) -> str:
    """A category sourcedId or title -> the sourcedId of an ACTIVE category (else ValueError)."""
    active = {sid: c for sid, c in categories.items() if (c.get("status") or "active") == "active"}
    known = ", ".join(sorted(f"{c.get('title')} ({sid})" for sid, c in active.items())) or "(none)"
    matches = [given] if given in categories else [
        sid for sid, c in categories.items() if str(c.get("title", "")).strip().lower() == given.lower()]
    usable = [sid for sid in matches if sid in active]
    if len(usable) == 1:
        return usable[0]
    if len(usable) > 1:
        raise ValueError(f"{given!r} matches several active categories; give the sourcedId: {known}")
    if matches:
        status = categories[matches[0]].get("status")
        raise ValueError(f"{given!r} is a category the SIS marks {status!r} (being deleted): lineItems cannot use it; "
                         f"map to an active one: {known}")
    raise ValueError(f"{given!r} is not a category in the SIS; its active categories are: {known}")


async def _sis_categories(district: Any) -> dict[str, dict[str, Any]]:
    from passback.sync.district import client_for

    async with client_for(district) as client:
        return {c.sourcedId: c.model_dump(mode="json") for c in await client.categories()}


@mapping_app.command("show")
def mapping_show(district_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """The mapping of all 12 types (unmapped ones are marked)."""
    from passback.store.districts import get_mapping

    mapping = get_mapping(engine(), district_id)
    table = Table("Otus type", "Skyward category")
    for t in OTUS_TYPES:
        table.add_row(t, mapping.get(t, "[red]unmapped[/red]"))
    console.print(table)
