"""``passback export``: every row's outcome of one run as CSV or Parquet, complete (not capped).

Reads the run's ``assessments.parquet`` and ``scores.parquet`` (written by the report, pruned with it
by the retention setting) and adds each reason's meaning from the one table of meanings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from passback.quality.meanings import reason_meanings
from passback.report.build import ASSESSMENT_FILE, SCORE_FILE
from passback.report.site import ReportSite

COLUMNS = ["kind", "assessment_id", "student_id", "outcome", "reason", "meaning", "value", "message"]
FORMATS = ("csv", "parquet")


class ExportError(ValueError):
    """The run or its outcome files cannot be found (the message says what to do)."""


def run_folder(site: ReportSite, engine: Any, district_id: str, run_id: str | None) -> tuple[str, Path]:
    from passback.store.runs import find_run

    run = find_run(engine, district_id, run_id)
    if run is None:
        which = f"run {run_id!r}" if run_id else "a run with a report"
        raise ExportError(
            f"district {district_id} has no {which}: see `passback runs {district_id}`; "
            "a sync or dry run writes the report (PASSBACK_DATA_DOCS_DIR)"
        )
    if not run.data_docs:
        raise ExportError(
            f"run {run.id} of district {district_id} has no report (status {run.status}): "
            "pick another run with --run (see `passback runs`)"
        )
    folder = site.path(run.data_docs).parent
    if not (folder / ASSESSMENT_FILE).exists() or not (folder / SCORE_FILE).exists():
        raise ExportError(
            f"run {run.id} of district {district_id} has no row outcomes in {folder} "
            "(a failed run, or removed by the retention setting PASSBACK_REPORT_KEEP_RUNS/_DAYS)"
        )
    return run.id, folder


def _table(path: Path, kind: str, meanings: dict[str, str]) -> pa.Table:
    table = pq.read_table(path)
    n = table.num_rows
    reason = table.column("reason").cast(pa.string())
    codes = pa.array(list(meanings), type=pa.string())
    meaning = pc.take(pa.array(list(meanings.values()), type=pa.string()), pc.index_in(reason, value_set=codes))
    student = (
        table.column("student_id").cast(pa.string()) if "student_id" in table.column_names else pa.nulls(n, pa.string())
    )
    return pa.table(
        {
            "kind": pa.array([kind] * n, type=pa.string()) if n < 1_000 else pa.repeat(pa.scalar(kind), n),
            "assessment_id": table.column("assessment_id").cast(pa.string()),
            "student_id": pc.fill_null(student, "") if kind == "assessment" else student,
            "outcome": table.column("outcome").cast(pa.string()),
            "reason": reason,
            "meaning": meaning,
            "value": table.column("value").cast(pa.string()),
            "message": table.column("message").cast(pa.string()),
        }
    )


def export_run(folder: Path, out: Path, fmt: str) -> dict[str, int]:
    """Write the run's outcomes to ``out``; returns rows per kind."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use csv or parquet")
    meanings = {code: m.meaning for code, m in reason_meanings().items()}
    parts = [_table(folder / ASSESSMENT_FILE, "assessment", meanings), _table(folder / SCORE_FILE, "score", meanings)]
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        with pq.ParquetWriter(out, parts[0].schema, compression="zstd") as writer:
            for part in parts:
                writer.write_table(part)
    else:
        with pacsv.CSVWriter(out, parts[0].schema) as writer:
            for part in parts:
                writer.write_table(part)
    return {"assessments": parts[0].num_rows, "scores": parts[1].num_rows}
