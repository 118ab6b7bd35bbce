"""The Prefect UI's run forms: every parameter of every deployment in prefect.yaml has a type the form
renders (no ``anyOf`` with null: the UI shows it as "Property is type None") and a description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


def schemas(entrypoint: str) -> list[dict[str, Any]]:
    """The schema `prefect deploy` registers (from the loaded flow) and the one Prefect reads from the
    source alone (``parameter_schema_from_entrypoint``)."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema, parameter_schema_from_entrypoint

    flow = load_flow_from_entrypoint(str(ROOT / entrypoint))
    return [parameter_schema(flow).model_dump(), parameter_schema_from_entrypoint(str(ROOT / entrypoint)).model_dump()]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_every_parameter_has_a_type_the_form_renders_and_a_description(deployment: dict[str, Any]) -> None:
    for schema in schemas(deployment["entrypoint"]):
        properties = schema["properties"]
        assert properties, deployment["entrypoint"]
        for name, prop in properties.items():
            assert prop.get("type") in {"string", "integer", "number", "boolean", "array"}, (name, prop)
            assert "anyOf" not in prop and "null" not in str(prop.get("type")), (name, prop)
            assert len(prop.get("description") or "") >= 20, (name, prop)
        for name in deployment.get("parameters") or {}:
            assert name in properties, f"prefect.yaml sets {name!r}, which {deployment['name']} does not take"


@pytest.mark.parametrize("entrypoint", sorted({d["entrypoint"] for d in DEPLOYMENTS}))
def test_the_district_id_says_how_to_find_ids(entrypoint: str) -> None:
    properties = schemas(entrypoint)[0]["properties"]
    key = "districts" if "districts" in properties else "district_id"
    text = properties[key]["description"]
    assert "passback district list" in text and "Otus district id" in text
