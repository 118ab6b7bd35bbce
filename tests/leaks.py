"""What an exception can show, for the tests that prove a secret never appears in it."""

from __future__ import annotations

import pickle
import traceback


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception reachable through ``__cause__`` / ``__context__``."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is not None and e not in out:
            out.append(e)
            todo += [e.__cause__, e.__context__]
    return out


def everything_shown(exc: BaseException) -> str:
    """Each exception of the chain (str, repr, args, attributes), the traceback, and a pickle round trip."""
    parts = [str(e) + repr(e) + repr(e.args) + repr(vars(e)) for e in exception_chain(exc)]
    parts += ["".join(traceback.format_exception(exc)), str(pickle.loads(pickle.dumps(exc)))]
    return "\n".join(parts)
