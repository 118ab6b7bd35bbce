"""`passback alerts install`: the alert automations on the Prefect server ``PREFECT_API_URL`` points to.

The automations are a file in the repository (``deploy/automations/district-alerts.yaml``, Prefect's
own format): a district run that failed or crashed, and a district a guard held, each send one
message with the district, the cause and the flow run's UI link.  The message goes through a
notification block: a Custom Webhook block made here from ``--webhook URL`` (the URL stored as a
block secret: it often carries a token), or any notification block made in the Prefect UI (Slack,
Microsoft Teams, email) given with ``--block TYPE/NAME``.  Prefect is imported only here, when the
command runs (the library never imports it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from passback.cli.common import console, safe
from passback.store.urls import mask_userinfo

alerts_app = typer.Typer(
    no_args_is_help=True, help="Alerts: Prefect automations that notify when a district fails or is held."
)

AUTOMATIONS_FILE = Path(__file__).resolve().parents[2] / "deploy" / "automations" / "district-alerts.yaml"
BLOCK_NAME = "passback-alerts"
PLACEHOLDER = "PASSBACK_NOTIFICATION_BLOCK"


@alerts_app.command("install")
def install(
    webhook: Annotated[
        str | None, typer.Option("--webhook", metavar="URL", help="POST each alert as JSON {subject, text} to this URL")
    ] = None,
    block: Annotated[
        str | None,
        typer.Option(
            "--block",
            metavar="TYPE/NAME",
            help="use a notification block made in the Prefect UI instead, e.g. slack-webhook/ops",
        ),
    ] = None,
    file: Annotated[Path, typer.Option("--file", help="the automations file")] = AUTOMATIONS_FILE,
) -> None:
    """Install (or replace) the alert automations on the Prefect server PREFECT_API_URL points to."""
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        raise ValueError(
            "set PREFECT_API_URL to the Prefect server that runs the deployments (alerts need a server "
            "that keeps running; the CLI's temporary one stops with it)"
        )
    if (webhook is None) == (block is None):
        raise typer.BadParameter(
            "give --webhook URL, or --block TYPE/NAME of a notification block", param_hint="--webhook"
        )
    if webhook is not None and not webhook.startswith(("https://", "http://")):
        raise typer.BadParameter(f"{safe(mask_userinfo(webhook))!r} is not an http(s) URL", param_hint="--webhook")
    automations = load_automations(file)
    names = asyncio.run(_install(automations, webhook=webhook, block=block))
    target = f"the webhook {mask_query(webhook)}" if webhook else f"the block {block}"
    console.print(
        f"installed {len(names)} alert automations on {safe(api)} → {safe(target)}: "
        + ", ".join(f"“{safe(n)}”" for n in names),
        highlight=False,
        soft_wrap=True,
    )


def mask_query(url: str | None) -> str:
    """The webhook as printed: no password, no path secrets (Slack-style tokens live in the path)."""
    from urllib.parse import urlsplit

    parts = urlsplit(mask_userinfo(url or ""))
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path.strip("/") else f"{parts.scheme}://{parts.netloc}"


def load_automations(path: Path) -> list[dict[str, Any]]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    automations = data["automations"] if isinstance(data, dict) and "automations" in data else data
    if not isinstance(automations, list) or not automations:
        raise ValueError(f"{path}: no automations (expected a list under `automations:`)")
    return automations


async def _install(automations: list[dict[str, Any]], *, webhook: str | None, block: str | None) -> list[str]:
    from prefect.automations import AutomationCore
    from prefect.client.orchestration import get_client

    block_id = await _webhook_block(webhook) if webhook else await _named_block(str(block))
    names = []
    async with get_client() as client:
        for data in automations:
            spec = with_block(data, str(block_id))
            automation = AutomationCore.model_validate(spec)
            for old in await client.read_automations_by_name(automation.name):
                await client.delete_automation(old.id)
            await client.create_automation(automation)
            names.append(automation.name)
    return names


def with_block(data: dict[str, Any], block_id: str) -> dict[str, Any]:
    """The automation with the notification block's id where the file says PASSBACK_NOTIFICATION_BLOCK."""
    actions = [
        dict(a, block_document_id=block_id) if a.get("block_document_id") == PLACEHOLDER else a
        for a in data.get("actions", [])
    ]
    return dict(data, actions=actions)


async def _webhook_block(url: str) -> Any:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    hook = CustomWebhookNotificationBlock(
        name="passback alerts",
        url="{{url}}",
        method="POST",
        json_data={"subject": "{{subject}}", "text": "{{body}}"},
        secrets={"url": url},
    )
    return await hook.asave(BLOCK_NAME, overwrite=True)


async def _named_block(ref: str) -> Any:
    from prefect.client.orchestration import get_client

    block_type, sep, name = ref.partition("/")
    if not sep or not name:
        raise typer.BadParameter(
            f"{ref!r}: give TYPE/NAME, e.g. slack-webhook/ops (see `prefect block ls`)", param_hint="--block"
        )
    async with get_client() as client:
        document = await client.read_block_document_by_name(name, block_type, include_secrets=False)
    return document.id
