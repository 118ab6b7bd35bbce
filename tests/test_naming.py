from __future__ import annotations

import pytest

from passback.naming import district_id_problem, safe_key


@pytest.mark.parametrize(
    "value", ["HD1", "springfield-isd", "0f8e4c1a-7b2d-4c3e-9a1b-2c3d4e5f6a7b", "a.b_c-D", "x" * 64]
)
def test_otus_district_ids_are_accepted_as_spelled(value: str) -> None:
    assert district_id_problem(value) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "empty"),
        ("x" * 65, "65 characters"),
        ("a b", "not a district id"),
        ("..", "not a district id"),
        ("a/b", "not a district id"),
        ("é", "not a district id"),
    ],
)
def test_bad_district_ids_say_what_is_wrong(value: str, words: str) -> None:
    problem = district_id_problem(value)
    assert problem is not None and words in problem


def test_safe_keys_are_lowercase_dashes_and_never_collide() -> None:
    ids = ["HD1", "hd1", "hd-1", "hd_1", "hd.1", "springfield-isd", "x" * 64, "X" * 64]
    keys = [safe_key(i) for i in ids]
    assert len(set(keys)) == len(ids)
    assert all(k and all(c.isdigit() or c == "-" or "a" <= c <= "z" for c in k) and len(k) <= 48 for k in keys)
    assert safe_key("springfield-isd") == "springfield-isd"  # readable ids stay as they are
