"""Ids, canonical hashes and the plan's diff (pure pandas, no GX, no I/O)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from passback.domain import payloads
from passback.domain.plan import diff, empty_ledger, make_plan


def desired(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["assessment_id", "student_id", "score"])
    frame["payload_hash"] = payloads.canonical_hash(frame, ["assessment_id", "student_id", "score"])
    return frame


def ledger_of(frame: pd.DataFrame, status: str = "acked") -> pd.DataFrame:
    out = frame[["assessment_id", "student_id", "payload_hash"]].copy()
    out["status"] = status
    return out


def test_sourced_ids_are_deterministic_and_not_from_titles() -> None:
    a = payloads.line_item_id("d1", "a-1")
    assert a == payloads.line_item_id("d1", "a-1")
    assert a != payloads.line_item_id("d2", "a-1")
    assert payloads.result_id("d1", "a-1", "s-1") != payloads.result_id("d1", "a-1", "s-2")


def test_canonical_hash_is_stable_across_dtypes_and_sensitive_to_values() -> None:
    one = pd.DataFrame({"t": pd.Series(["Quiz 1"], dtype="str"), "p": [10.0]})
    two = pd.DataFrame({"t": pd.Series(["Quiz 1"], dtype=object), "p": pd.Series([10], dtype="int64")})
    changed = pd.DataFrame({"t": ["Quiz 1!"], "p": [10.0]})
    h = payloads.canonical_hash(one, ["t", "p"])
    assert h.dtype == np.int64
    assert h[0] == payloads.canonical_hash(two, ["t", "p"])[0]
    assert h[0] != payloads.canonical_hash(changed, ["t", "p"])[0]


def test_diff_against_empty_ledger_creates_everything() -> None:
    frame = desired([("a", "s1", 1.0), ("a", "s2", 2.0)])
    assert diff(frame, empty_ledger()).tolist() == ["create", "create"]


def test_rerun_without_changes_plans_nothing() -> None:
    frame = desired([("a", "s1", 1.0), ("a", "s2", 2.0)])
    assert diff(frame, ledger_of(frame)).tolist() == ["unchanged", "unchanged"]


def test_changed_payload_plans_one_update() -> None:
    before = desired([("a", "s1", 1.0), ("a", "s2", 2.0)])
    after = desired([("a", "s1", 1.0), ("a", "s2", 2.5)])
    assert diff(after, ledger_of(before)).tolist() == ["unchanged", "update"]


def test_ledger_rows_for_ids_no_longer_desired_are_ignored() -> None:
    """A ledger naming a student (or an assessment) the source no longer has: its codes are null on the
    desired side, and the rows that do match still find their own (this crashed `explain` once)."""
    before = desired([("a", "s1", 1.0), ("a", "gone", 2.0), ("old", "s1", 3.0)])
    now = desired([("a", "s1", 1.0), ("b", "s1", 4.0)])
    assert diff(now, ledger_of(before)).tolist() == ["unchanged", "create"]


def test_rejected_items_are_held_until_changed_or_retry_requested() -> None:
    frame = desired([("a", "s1", 1.0)])
    rejected = ledger_of(frame, "rejected")
    assert diff(frame, rejected).tolist() == ["held"]
    assert diff(frame, rejected, retry_rejected=True).tolist() == ["update"]
    assert diff(desired([("a", "s1", 9.0)]), rejected).tolist() == ["update"]


def test_results_under_a_held_line_item_are_blocked() -> None:
    li = desired([("a", "", 10.0), ("b", "", 10.0)])
    res = desired([("a", "s1", 1.0), ("b", "s1", 2.0)])
    ledger_li = pd.concat([ledger_of(li.iloc[[0]], "rejected"), ledger_of(li.iloc[[1]])])
    plan = make_plan(li, res, ledger_li, empty_ledger())
    assert plan.line_items["action"].tolist() == ["held", "unchanged"]
    assert plan.results["assessment_id"].tolist() == ["b"]
    assert list(plan.blocked_results) == [0]


def test_ledger_batches_in_key_order_match_like_one_shuffled_frame() -> None:
    """The ledger streams in its primary key's order, so an assessment's results come as one run (each
    run's id is looked up once); the actions must be those of a pandas merge on the natural key, for
    batches cut anywhere (mid-run too), ids the source no longer has, and a ledger in no order."""
    rng = np.random.default_rng(7)
    pairs = [(f"a{a:03d}", f"s{s:02d}", float(rng.integers(0, 5))) for a in range(60) for s in range(25)]
    now = desired([p for p in pairs if rng.random() < 0.8])
    old = desired([(a, s, x if rng.random() < 0.9 else x + 1) for a, s, x in pairs])
    gone = desired([("gone", f"s{s:02d}", 1.0) for s in range(25)] + [("a001", "gone", 1.0)])
    ledger = ledger_of(pd.concat([old, gone]).sample(frac=0.85, random_state=3))
    ledger.loc[ledger.sample(frac=0.05, random_state=4).index, "status"] = "rejected"
    ledger = ledger.sort_values(["assessment_id", "student_id"]).reset_index(drop=True)

    merged = now.merge(ledger, on=["assessment_id", "student_id"], how="left", suffixes=("", "_ledger"))
    expected = np.select(
        [
            merged["payload_hash_ledger"].isna(),
            merged["payload_hash_ledger"] != merged["payload_hash"],
            merged["status"] == "rejected",
        ],
        ["create", "update", "held"],
        default="unchanged",
    ).tolist()
    cuts = [0, 37, 500, 501, 1200, len(ledger)]
    batches = [ledger.iloc[a:b].reset_index(drop=True) for a, b in zip(cuts, cuts[1:], strict=False)]
    assert diff(now, batches).tolist() == expected
    assert diff(now, ledger.sample(frac=1.0, random_state=5)).tolist() == expected
    assert set(expected) == {"create", "update", "held", "unchanged"}
