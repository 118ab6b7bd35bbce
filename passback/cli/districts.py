"""`passback district ...` and `passback mapping ...`: onboarding a district."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated, Any

import typer
from rich.table import Table

from passback.cli.common import console, engine, neutral, parse_date, safe
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
    district_id: Annotated[
        str, typer.Argument(metavar="ID", help="the Otus district id exactly as otus_*.district_id spells it, e.g. HD1")
    ],
    name: Annotated[str, typer.Option("--name")],
    base_url: Annotated[str, typer.Option("--base-url", help="OneRoster base URL, …/ims/oneroster/v1p1")],
    token_url: Annotated[str, typer.Option("--token-url", help="OAuth 2 token URL (not derivable from the base URL)")],
    client_id: Annotated[str, typer.Option("--client-id")],
    effective_date: Annotated[str, typer.Option("--effective-date", help="YYYY-MM-DD")],
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone")] = "America/Chicago",
    client_secret: Annotated[
        str | None, typer.Option("--client-secret", help="or PASSBACK_CLIENT_SECRET, or a prompt")
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="requests in flight, 1 to 8")] = 4,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit", help="writes per second (default: none)")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=600, help="request timeout, seconds")] = 30.0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="ledger transaction size, 1 to 10000")] = 500,
    verify_tls: Annotated[
        bool, typer.Option("--verify-tls/--no-verify-tls", help="--no-verify-tls: test hosts only")
    ] = True,
    insecure: Annotated[bool, typer.Option("--insecure-skip-tls-verify", help="same as --no-verify-tls")] = False,
    allow_http: Annotated[
        bool, typer.Option("--allow-http", help="test hosts only: allow plain http to a host that is not loopback")
    ] = False,
) -> None:
    """Register a district (the client secret is stored encrypted)."""
    from passback.store.districts import DistrictSpec, add_district

    fields: dict[str, Any] = dict(
        id=district_id,
        name=name,
        base_url=base_url,
        token_url=token_url,
        client_id=client_id,
        timezone=timezone,
        effective_date=parse_date(effective_date),
        concurrency=concurrency,
        rate_limit_per_s=rate_limit,
        verify_tls=verify_tls and not insecure,
        request_timeout_s=timeout,
        batch_size=batch_size,
        allow_http=allow_http,
    )
    DistrictSpec(**fields, client_secret="-")  # every option checked before the secret is asked for
    add_district(engine(), DistrictSpec(**fields, client_secret=_secret(client_secret)))
    d = safe(district_id)
    console.print(
        f"district [bold]{d}[/bold] added. Next: `passback mapping set {d} TYPE=CATEGORY ...`, then `passback doctor {d}`."
    )


@district_app.command("list")
def list_() -> None:
    """All districts, one line each."""
    from passback.store.districts import list_districts

    table = Table("id", "name", "enabled", "effective date", "time zone", "base URL")
    for d in list_districts(engine()):
        table.add_row(
            *map(safe, (d.id, d.name, "yes" if d.enabled else "no", d.effective_date, d.timezone, d.base_url))
        )
    console.print(table)


def district_view(district: Any, mapping: dict[str, str]) -> dict[str, Any]:
    """What `district show` prints: never the secret, never a password in a URL, no control characters
    (the JSON output escapes them; ``neutral`` also masks URL passwords)."""
    skip = {"secret_ciphertext"}
    view = {
        k: (neutral(v) if v is not None and not isinstance(v, (int, float, bool)) else v)
        for k, v in district.model_dump().items()
        if k not in skip
    }
    view["client_secret"] = "(stored encrypted)"
    view["mapping"] = {neutral(k): neutral(v) for k, v in mapping.items()}  # type: ignore[assignment]
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
    client_secret: Annotated[
        str | None,
        typer.Option("--client-secret", help="rotate the secret ('-' reads PASSBACK_CLIENT_SECRET or prompts)"),
    ] = None,
    effective_date: Annotated[str | None, typer.Option("--effective-date")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone")] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="requests in flight, 1 to 8")] = None,
    rate_limit: Annotated[float | None, typer.Option("--rate-limit")] = None,
    grace_hours: Annotated[float | None, typer.Option("--grace-hours", min=0)] = None,
    deletion_policy: Annotated[str | None, typer.Option("--deletion-policy", help="keep | propagate")] = None,
    max_writes: Annotated[int | None, typer.Option("--max-writes-per-run", min=1)] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0.1, max=600, help="request timeout, seconds")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="ledger transaction size, 1 to 10000")] = None,
    verify_tls: Annotated[
        bool | None, typer.Option("--verify-tls/--no-verify-tls", help="--no-verify-tls: test hosts only")
    ] = None,
    allow_http: Annotated[
        bool | None,
        typer.Option("--allow-http/--no-allow-http", help="test hosts only: plain http to a host that is not loopback"),
    ] = None,
    closed_periods: Annotated[
        str | None, typer.Option("--closed-grading-periods", help="comma-separated sourcedIds closed by configuration")
    ] = None,
    guards: Annotated[
        bool | None, typer.Option("--guards/--no-guards", help="hold a night that trips a guard (default on)")
    ] = None,
    guard_new_zeros: Annotated[
        str | None,
        typer.Option(
            "--guard-new-zeros",
            metavar="N",
            help="hold a night sending more than N new zero scores (0: any; 'default': history-based)",
        ),
    ] = None,
    guard_changed_scores: Annotated[
        str | None,
        typer.Option("--guard-changed-scores", metavar="N", help="... changing more than N scores the SIS holds"),
    ] = None,
    guard_lowered_scores: Annotated[
        str | None,
        typer.Option("--guard-lowered-scores", metavar="N", help="... lowering more than N scores the SIS holds"),
    ] = None,
    guard_changed_line_items: Annotated[
        str | None,
        typer.Option(
            "--guard-changed-line-items", metavar="N", help="... changing more than N lineItems the SIS holds"
        ),
    ] = None,
    guard_writes: Annotated[
        str | None, typer.Option("--guard-writes", metavar="N", help="... with more than N writes")
    ] = None,
    guard_zero_share: Annotated[
        str | None,
        typer.Option(
            "--guard-zero-share",
            metavar="P",
            help="... turning more than this share (0-1) of one assessment's students to 0 (default 0.8)",
        ),
    ] = None,
    guard_factor: Annotated[
        str | None,
        typer.Option(
            "--guard-factor", metavar="F", help="history-based limits: F x the district's usual night (default 5)"
        ),
    ] = None,
    guard_timeout: Annotated[
        float | None,
        typer.Option(
            "--guard-timeout-hours", min=0.001, max=168, help="a paused run waits this long for approval (default 12)"
        ),
    ] = None,
    audit_days: Annotated[
        int | None, typer.Option("--audit-retention-days", help="keep audit rows this many days (default 400)")
    ] = None,
    retry_days: Annotated[
        int | None,
        typer.Option(
            "--refusal-retry-max-days",
            help="retry a refused item after 1, 2, 4 ... nights, at most this many (default 7; 0: only when it changes)",
        ),
    ] = None,
) -> None:
    """Change a district's settings (only the options given).  Guard limits: see README "Guards"."""
    from passback.store.districts import set_closed_periods_config, update_district

    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "name": name,
            "base_url": base_url,
            "token_url": token_url,
            "client_id": client_id,
            "timezone": timezone,
            "enabled": enabled,
            "concurrency": concurrency,
            "rate_limit_per_s": rate_limit,
            "grace_hours": grace_hours,
            "deletion_policy": deletion_policy,
            "max_writes_per_run": max_writes,
            "request_timeout_s": timeout,
            "batch_size": batch_size,
            "verify_tls": verify_tls,
            "allow_http": allow_http,
            "audit_retention_days": audit_days,
            "refusal_retry_max_days": retry_days,
        }.items()
        if v is not None
    }
    changes |= guard_changes(
        guards=guards,
        guard_timeout_h=guard_timeout,
        guard_new_zeros=guard_new_zeros,
        guard_changed_scores=guard_changed_scores,
        guard_lowered_scores=guard_lowered_scores,
        guard_changed_line_items=guard_changed_line_items,
        guard_writes=guard_writes,
        guard_zero_share=guard_zero_share,
        guard_factor=guard_factor,
    )
    if effective_date is not None:
        changes["effective_date"] = parse_date(effective_date)
    if client_secret is not None:
        changes["client_secret"] = _secret(None if client_secret == "-" else client_secret)
    if not changes and closed_periods is None:
        raise ValueError(
            f"nothing to change: give the options to set, e.g. `passback district set {neutral(district_id)} "
            "--effective-date 2026-09-01` (see --help)"
        )
    eng = engine()
    if changes:
        update_district(eng, district_id, **changes)
    if closed_periods is not None:
        set_closed_periods_config(eng, district_id, [p.strip() for p in closed_periods.split(",") if p.strip()])
    console.print(
        f"district [bold]{safe(district_id)}[/bold] updated: {', '.join(sorted(changes)) or 'closed grading periods'}"
    )


def guard_changes(*, guards: bool | None, guard_timeout_h: float | None, **limits: str | None) -> dict[str, Any]:
    """The guard options given, as District fields ('default' resets a limit to its default)."""
    out: dict[str, Any] = {}
    if guards is not None:
        out["guards_enabled"] = guards
    if guard_timeout_h is not None:
        out["guard_timeout_h"] = guard_timeout_h
    for field, given in limits.items():
        if given is None:
            continue
        option = "--" + field.replace("_", "-")
        if given.strip().lower() in ("default", "auto"):
            out[field] = None
            continue
        try:
            out[field] = float(given) if field in ("guard_zero_share", "guard_factor") else int(given)
        except ValueError:
            raise typer.BadParameter(f"{given!r} is not a number (or 'default')", param_hint=option) from None
    return out


@mapping_app.command("set")
def mapping_set(
    district_id: Annotated[str, typer.Argument(metavar="ID")],
    pairs: Annotated[
        list[str], typer.Argument(metavar="TYPE=CATEGORY...", help="CATEGORY: a Skyward category sourcedId or title")
    ],
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
            raise typer.BadParameter(
                f"{neutral(pair)!r}: write TYPE=CATEGORY, e.g. Quiz=Quiz", param_hint="TYPE=CATEGORY"
            )
        if otus_type.strip().lower() not in types:
            raise typer.BadParameter(
                f"{otus_type!r} is not an Otus assessment type; the 12 types are: {', '.join(OTUS_TYPES)}",
                param_hint="TYPE",
            )
        wanted[types[otus_type.strip().lower()]] = category.strip()
    categories = asyncio.run(_sis_categories(district))
    resolved = {t: resolve_category(c, categories) for t, c in wanted.items()}
    set_mapping(eng, district_id, resolved)
    for t, c in resolved.items():
        console.print(f"{t} → {safe(c)} ({safe(categories[c]['title'])})", highlight=False)


def resolve_category(given: str, categories: dict[str, dict[str, Any]]) -> str:
    """A category sourcedId or title -> the sourcedId of a usable (active, district-level) category,
    by the sync's own rule (``category_problem``); else ValueError naming the usable ones."""
    from passback.sync.district import category_problem

    usable = {sid: c for sid, c in categories.items() if category_problem(c) is None}
    known = ", ".join(sorted(f"{c.get('title')} ({sid})" for sid, c in usable.items())) or "(none)"
    matches = (
        [given]
        if given in categories
        else [sid for sid, c in categories.items() if str(c.get("title", "")).strip().lower() == given.lower()]
    )
    ok = [sid for sid in matches if sid in usable]
    if len(ok) == 1:
        return ok[0]
    if len(ok) > 1:
        raise ValueError(f"{given!r} matches several active district-level categories; give the sourcedId: {known}")
    if matches:
        raise ValueError(
            f"{given!r} cannot be used: {category_problem(categories[matches[0]])}; "
            f"map to an active one (district-level): {known}"
        )
    raise ValueError(f"{given!r} is not a category in the SIS; its active district-level categories are: {known}")


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
        table.add_row(t, safe(mapping[t]) if t in mapping else "[red]unmapped[/red]")
    console.print(table)
