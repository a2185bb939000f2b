"""Several questions in flight at once: an adaptive test at the speed of a serving engine.

``keep_in_flight(plan, examinee, n, answered)`` runs a test (its ``plan``, ``loop.py``: one bank
or a suite) with up to ``n`` questions asked and not yet answered. Each new question is the
plan's choice given the ones in flight (``TestState.next_item(pending)``: against the posterior
as it would be after the answers in flight, so the questions asked together are jointly
informative; a suite also weighs each bank's gain after its pending answers). Two ways of
answering:

- a concurrent examinee (``concurrent = True``: the OpenAI-compatible one, one request per
  question) gets each new question as soon as an answer frees a slot;
- any other answers rounds of ``n`` questions, with one ``answers(ids)`` call when it has one
  (one batch through a transformers model or an lm-eval backend).

Every answer is recorded (``answered(choice, answer)``: the session appends it durably) as it
arrives. No new question is asked once the stopping rule holds counting the questions in flight
(``max_items``) or without them (``target_se``); those in flight are still answered and recorded.
After a kill, the questions that were in flight are asked again on resume; none whose answer was
recorded is.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait


def keep_in_flight(plan, examinee, n: int, answered: Callable) -> None:
    """Ask ``plan``'s questions of ``examinee`` with up to ``n`` in flight (module docstring);
    ``answered(choice, answer)`` records each answer as it arrives."""
    if getattr(examinee, "concurrent", False):
        with ThreadPoolExecutor(n) as pool:
            flying: dict = {}
            while True:
                while plan.room(list(flying.values()), n):
                    choice = plan.choose(list(flying.values()))
                    flying[pool.submit(examinee.answer, plan.question(choice))] = choice
                if not flying:
                    break
                done, _ = wait(flying, return_when=FIRST_COMPLETED)
                for future in done:
                    answered(flying.pop(future), future.result())
    else:
        while plan.room([], n):
            round_: list = []
            while plan.room(round_, n):
                round_.append(plan.choose(round_))
            questions = [plan.question(choice) for choice in round_]
            answers = (examinee.answers(questions) if hasattr(examinee, "answers")
                       else [examinee.answer(q) for q in questions])
            for choice, answer in zip(round_, answers, strict=True):
                answered(choice, answer)
