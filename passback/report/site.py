"""Where reports live: one folder per district (``safe_key`` of its id), one folder per run.

    $PASSBACK_DATA_DOCS_DIR/index.html                          every district, its last run
    $PASSBACK_DATA_DOCS_DIR/<key>/index.html                     the district's kept runs and trend
    $PASSBACK_DATA_DOCS_DIR/<key>/runs/<time>_<run id>/index.html     one run's report (or failure page)
        .../assessments.parquet, scores.parquet                  every row's outcome (``passback export``)
        .../gx/index.html                                        GX Data Docs of that run's validations

The folder is static: any web server can serve it (``PASSBACK_REPORT_BASE_URL`` says where, and
then links in artifacts and ``sync --json`` are URLs, never paths on a worker's disk).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from passback.naming import safe_key
from passback.settings import Settings


@dataclass(frozen=True)
class ReportSite:
    root: Path
    base_url: str | None = None
    keep_runs: int = 60
    keep_days: int = 90

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportSite:
        return cls(
            Path(settings.docs_dir),
            (settings.report_base_url or "").rstrip("/") or None,
            settings.report_keep_runs,
            settings.report_keep_days,
        )

    def district_dir(self, district_id: str) -> Path:
        return self.root / safe_key(district_id)

    def run_folder(self, run_id: str, started_at: dt.datetime) -> str:
        return f"{started_at:%Y%m%dT%H%M%S}_{run_id}"

    def run_page(self, district_id: str, run_id: str, started_at: dt.datetime) -> str:
        """The run's page, relative to the root (what the run history stores)."""
        return f"{safe_key(district_id)}/runs/{self.run_folder(run_id, started_at)}/index.html"

    def location(self, relative: str | None) -> str | None:
        """A URL under the base URL when one is set, else the absolute path on this machine."""
        if not relative:
            return None
        if self.base_url:
            return f"{self.base_url}/{relative}"
        return str((self.root / relative).resolve())

    def path(self, relative: str) -> Path:
        return self.root / relative


def write_page(path: Path, text: str) -> None:
    """Write a page atomically (a reader or a concurrent district run never sees half a page)."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".page-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
