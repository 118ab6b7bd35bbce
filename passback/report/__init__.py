"""The data team's report: per-run pages, the run index, exports and the Prefect artifacts built from a run."""
