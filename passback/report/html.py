"""Rendering the report's pages (Jinja2, autoescaped; see ``templates``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup

from passback.report.outcomes import OUTCOMES
from passback.report.templates import CSS, TEMPLATES

KIND_LABELS = {"sync": "sync", "dry_run": "dry run", "backfill": "backfill preview"}


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=DictLoader(TEMPLATES), autoescape=select_autoescape(default=True, default_for_string=True))
    env.globals.update(css=Markup(CSS), outcomes=OUTCOMES)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def kind_label(kind: str, detail: str | None = None) -> str:
    label = KIND_LABELS.get(kind, kind)
    return f"{label} (effective date {detail})" if detail else label


def safe_svg(svg: str) -> Markup:
    """passback's own SVG (labels escaped where it was made) placed into a page as markup."""
    return Markup(svg)


WHAT_TO_DO = (
    "Read the error above: it names the cause and, where it can, the fix (credentials, licence, a setting in Skyward).",
    "Check the district end to end: passback doctor {district} (credentials, licence and scopes, categories, mapping, grading periods).",
    "Rerun the district once fixed: passback sync --district {district}, or run the district-sync deployment for it in the Prefect UI. "
    "What the SIS acknowledged is in the ledger: a rerun sends only what is missing, never a duplicate.",
)


def what_to_do(district: str) -> list[str]:
    return [step.format(district=district) for step in WHAT_TO_DO]
