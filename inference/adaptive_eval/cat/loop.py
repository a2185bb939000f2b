"""The loop every adaptive test runs, on one bank or a suite: replay a session, then ask until
the stopping rule holds, one question at a time or several in flight (``in_flight.py``).

A test drives it through a *plan* (``adaptive.BankRun``, ``suite.SuiteRun``), which owns the
test's states and knows:

- ``header()``: the bank (or ``{name: bank}``) and the settings a session header records;
- ``replay(line)``: add one recorded session line, as live (a suite updates its joint prior);
- ``room(pending, n)``: whether another question may be asked with the choices ``pending`` in
  flight, at most ``n`` (the stopping rule, ``stopping.py``, and an item left);
- ``choose(pending)``: the next choice (a bank index, an outside item, or ``(bank, index)`` in a
  suite), against the posterior as it would be after the answers pending;
- ``question(choice)``: its question id; ``record(choice, answer)``: add the answer, giving the
  ``Step``; ``line(choice, step)``: the session line of that step;
- ``stop_reason()``: why the test stopped.

``run_test`` opens the session (``session.py``: the header is checked, the recorded answers are
replayed in order and never asked again), then asks. Each new answer is appended durably to the
session before ``on_answer(choice, step)`` and before the next question is asked (with ``n`` in
flight: as it arrives).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .in_flight import keep_in_flight
from .session import Session, asked_under


def run_test(plan, examinee, *, session: str | Path | None = None,
             on_answer: Callable | None = None, parallel: int = 1) -> str:
    """Run ``plan`` on ``examinee`` (module docstring); returns the stop reason."""
    record = None
    if session is not None:
        banks, settings = plan.header()
        record = Session(session, getattr(examinee, "name", None), banks,
                         settings | {"protocol": asked_under(examinee)})
        for line in record.records:
            plan.replay(line)

    def answered(choice, answer) -> None:
        step = plan.record(choice, answer)
        if record is not None:
            record.append(plan.line(choice, step))
        if on_answer is not None:
            on_answer(choice, step)

    if parallel > 1:
        keep_in_flight(plan, examinee, parallel, answered)
    else:
        while plan.room([], 1):
            choice = plan.choose([])
            answered(choice, examinee.answer(plan.question(choice)))
    return plan.stop_reason() or "max_items"
