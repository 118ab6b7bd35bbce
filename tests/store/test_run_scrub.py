"""The run history never stores the district's secret, whatever error text reaches it (defence in
depth: the client redacts its errors before they get there)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import quote_plus

from sqlalchemy import text

from passback.store import districts, runs
from passback.store.db import get_engine

SECRET = "s3cr3t/Never+Store Me"


def test_an_error_echoing_the_secret_is_stored_scrubbed(state_url: str) -> None:
    engine = get_engine(state_url)
    districts.add_district(
        engine,
        districts.DistrictSpec(
            id="d1",
            name="D1",
            base_url="https://sis.example/ims/oneroster/v1p1",
            token_url="https://sis.example/oauth/token",
            client_id="otus client",
            client_secret=SECRET,
            effective_date=dt.date(2026, 8, 17),
        ),
    )
    basic = base64.b64encode(f"{quote_plus('otus client')}:{quote_plus(SECRET)}".encode()).decode()
    echo = f"bad client: {SECRET} / {quote_plus(SECRET)} / Basic {basic}"
    run_id = runs.start_run(engine, "d1", "sync")
    runs.finish_run(engine, run_id, "failed", {"district": "d1", "error": echo}, echo)
    with engine.connect() as conn:
        error, counts = conn.execute(text("SELECT error, counts FROM run WHERE id = :r"), {"r": run_id}).one()
    for stored in (error, counts, json.loads(counts)["error"]):
        assert SECRET not in stored and quote_plus(SECRET) not in stored and basic not in stored
        assert "bad client: [REDACTED]" in stored
