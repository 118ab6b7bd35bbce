"""A ledger row whose assessment is still planned but whose student is not (a student who left the
class): the diff matches the rest and does not stumble on the departed student's key."""

import pandas as pd

from passback.domain.plan import diff


def test_a_departed_students_ledger_row_is_ignored() -> None:
    desired = pd.DataFrame({"assessment_id": ["a", "b"], "student_id": ["s1", "s1"], "payload_hash": [1, 2]})
    ledger = pd.DataFrame({"assessment_id": ["a", "a"], "student_id": ["s1", "s9"], "payload_hash": [1, 5],
                           "status": ["acked", "acked"]})
    assert diff(desired, ledger).tolist() == ["unchanged", "create"]
