"""The reconcile flow: the weekly deployment's per-district flow reports drift as an artifact."""

from __future__ import annotations

import asyncio

from passback.domain.payloads import result_id
from tests.audit.helpers import teacher_put
from tests.toolkit import Sis, run_sync


def test_the_reconcile_flow_reports_drift_as_an_artifact(prefect_harness, sis: Sis) -> None:
    from prefect.client.orchestration import get_client

    from flows.reconcile import reconcile_all

    assert run_sync().writes == 6
    teacher_put(sis, "results", result_id("d1", "a-1", "u-s2"), "result", {"scoreStatus": "exempt"})
    state = asyncio.run(reconcile_all(districts=["d1"], return_state=True))
    assert state.is_completed(), state.message
    found = state.result()
    assert [(f["district"], len(f["edited_in_sis"]), f["checked"]) for f in found] == [("d1", 1, 6)]
    assert found[0]["edited_in_sis"][0]["field"] == "score_status" and found[0]["edited_in_sis"][0]["sis"] == "exempt"

    async def artifact() -> object:
        async with get_client() as client:
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["reconcile-d1"]))
            )

    artifacts = asyncio.run(artifact())
    assert artifacts and "exempt" in str(artifacts[0].data)
