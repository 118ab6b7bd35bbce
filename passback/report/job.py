"""One run's report as a job: everything it needs in one picklable value, so that the process
running the district or a helper process (``passback.sync.helper``) can write it.

A report never fails its run: ``write`` returns what was written, or why nothing was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from passback.settings import Settings

TOP_HELD = 5  # held-back assessments per reason in the summary (Prefect artifact)


@dataclass
class Written:
    """The report's page (relative to the report site's root), the first held-back items of each
    reason, or the error that stopped it."""

    page: str | None = None
    top_held: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class ReportJob:
    settings: Settings
    district_id: str
    run_id: str
    kind: str
    detail: str | None
    started_at: dt.datetime
    summary: dict[str, Any]  # DistrictSummary.as_json()
    evaluation: Any | None  # None: the run failed before it was evaluated (a failure page)
    load: Any | None
    dry_run: bool

    @property
    def rows(self) -> int:
        """The score rows the report reads (what a helper process would be sent)."""
        return 0 if self.evaluation is None else len(self.evaluation.scores)

    def write(self) -> Written:
        """The run's folder: its report, or the failure page of a failed run."""
        try:
            return self._write()
        except Exception as exc:  # noqa: BLE001 - the report must not fail the run
            return Written(error=str(exc) or type(exc).__name__)

    def _write(self) -> Written:
        from passback.report import build
        from passback.report.site import ReportSite
        from passback.store.db import get_engine

        site = ReportSite.from_settings(self.settings)
        common: dict[str, Any] = {
            "district_id": self.district_id,
            "run_id": self.run_id,
            "kind": self.kind,
            "detail": self.detail,
            "started_at": self.started_at,
            "summary": self.summary,
        }
        if self.evaluation is None or self.summary.get("status") == "failed":
            return Written(build.write_failure_page(site, **common))
        page, sections = build.write_run_report(
            site,
            get_engine(self.settings.state_db_url),
            **common,
            evaluation=self.evaluation,
            load=self.load,
            dry_run=self.dry_run,
        )
        return Written(page, {s.code: [item.public() for item in s.listed[:TOP_HELD]] for s in sections if s.listed})
