"""Reuse an earlier run's GX Data Docs when this run's validation results are the same.

A quiet night validates the same rows with the same outcome as the night before; rebuilding GX's
Data Docs for it costs seconds of CPU per district for identical pages.  Each build leaves a digest
of what it rendered beside its pages (``DIGEST_FILE``: the validation results without their run
times, the labels, and the code and GX version that render them).  A run whose digest equals an
earlier build's gets that build's pages as hard links in its own ``gx/`` folder (a copy where the
file system cannot link): its report links to its own folder, and pruning the earlier run later
removes nothing this run shows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("passback.report")

DIGEST_FILE = "passback-results.sha256"
# set per validation and per build, not by the data: two runs of the same rows differ only there
VOLATILE_META = ("batch_markers", "validation_time", "run_id", "validation_id", "checkpoint_id")


def _renderer_fingerprint() -> bytes:
    """The code that turns results into pages: a change to it (or to GX) means a rebuild."""
    from passback.quality import _gx, docs, docs_results

    h = hashlib.sha256(_gx.gx().__version__.encode())
    for module in (docs, docs_results, _gx):
        h.update(Path(str(module.__file__)).read_bytes())
    return h.digest()


def results_digest(results: Iterable[tuple[str, Any]]) -> str:
    """One hex digest of (label, validation result) pairs, run times left out.  Read from the
    result's fields (GX's ``to_json_dict`` goes through marshmallow: ~1.7 s CPU for L's results)."""
    h = hashlib.sha256(_renderer_fingerprint())
    for label, result in results:
        meta = {k: v for k, v in (result.meta or {}).items() if k not in VOLATILE_META}
        data = [label, result.suite_name, result.success, result.statistics, meta, result.suite_parameters]
        data += [_expectation(er) for er in result.results]
        h.update(json.dumps(data, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def _expectation(er: Any) -> list[Any]:
    c = er.expectation_config
    config = [c.type, c.kwargs, c.meta, c.notes, c.description, c.severity, c.id]
    return [config, er.success, er.result, er.exception_info, er.meta]


def built_digest(directory: Path) -> str | None:
    try:
        return (directory / DIGEST_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def mark_built(directory: Path, digest: str) -> None:
    (directory / DIGEST_FILE).write_text(digest + "\n", encoding="utf-8")


def reuse(directory: Path, digest: str, earlier: Iterable[Path]) -> Path | None:
    """Fill ``directory`` with the first earlier build of ``digest``; the build reused, or None."""
    for source in earlier:
        if source.resolve() == directory.resolve() or built_digest(source) != digest:
            continue
        if not (source / "index.html").is_file():
            continue
        try:
            shutil.copytree(source, directory, copy_function=_link_or_copy)
        except OSError as exc:  # vanished meanwhile (pruned), disk full: build instead
            log.debug("Data Docs of %s not reused: %s", source, exc)
            shutil.rmtree(directory, ignore_errors=True)
            continue
        return source
    return None


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
