"""Guards: a night that would flood gradebooks waits for a person.

Before the first write of a district run, the plan's writes are measured (new zeros, already-sent
scores and lineItems that change, scores that go down, total writes, one assessment turning to 0
for most of its students) and compared with the district's limits and its own history
(``limits``).  ``check_guards`` is the one check; ``guard_district`` is the run's guard stage.
"""

from passback.guards.check import GuardCheck, GuardResult, check_guards
from passback.guards.decision import GuardDecision, answered, guard_district, unanswered
from passback.guards.measure import Writes, writes_of

__all__ = [
    "GuardCheck",
    "GuardDecision",
    "GuardResult",
    "Writes",
    "answered",
    "check_guards",
    "guard_district",
    "unanswered",
    "writes_of",
]
