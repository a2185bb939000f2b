"""Several questions in flight at once: an adaptive test at the speed of a serving engine.

``keep_in_flight(state, examinee, n, on_answer)`` runs the test with up to ``n`` questions asked
and not yet answered. Each new question is chosen by ``TestState.next_item(pending)``, against the
posterior as it would be after the answers in flight, so the questions asked together are
jointly informative. Two ways of answering:

- a concurrent examinee (``concurrent = True``: the OpenAI-compatible one, one request per
  question) gets each new question as soon as an answer frees a slot;
- any other answers rounds of ``n`` questions, with one ``answers(ids)`` call when it has one
  (one batch through a transformers model or an lm-eval backend).

Every answer is recorded (``on_answer``: the session appends it durably) as it arrives. No new
question is asked once the stopping rule holds counting the questions in flight (``max_items``)
or without them (``target_se``); those in flight are still answered and recorded. After a kill,
the questions that were in flight are asked again on resume; none whose answer was recorded is.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait


def room(state, pending: list[int], n: int) -> bool:
    """Whether another question may be asked now."""
    t = state.test
    if len(pending) >= n or state.n_items + len(pending) >= t.max_items:
        return False
    if state.stop_reason() is not None:
        return False
    free = state.available.copy()
    free[pending] = False
    return bool(free.any())


def keep_in_flight(state, examinee, n: int, on_answer: Callable) -> str:
    """Run the test of ``state`` (an ``adaptive.TestState``) on ``examinee`` with up to ``n``
    questions in flight (module docstring); ``on_answer(step)`` after each recorded answer.
    Returns the stop reason."""
    ids = state.test.bank.ids
    if getattr(examinee, "concurrent", False):
        with ThreadPoolExecutor(n) as pool:
            flying: dict = {}
            while True:
                while room(state, list(flying.values()), n):
                    item = state.next_item(list(flying.values()))
                    flying[pool.submit(examinee.answer, ids[item])] = item
                if not flying:
                    break
                done, _ = wait(flying, return_when=FIRST_COMPLETED)
                for future in done:
                    item = flying.pop(future)
                    on_answer(state.record_answer(item, future.result()))
    else:
        while room(state, [], n):
            round_: list[int] = []
            while room(state, round_, n):
                round_.append(state.next_item(round_))
            questions = [ids[i] for i in round_]
            answers = (examinee.answers(questions) if hasattr(examinee, "answers")
                       else [examinee.answer(q) for q in questions])
            for item, answer in zip(round_, answers, strict=True):
                on_answer(state.record_answer(item, answer))
    return state.stop_reason() or "max_items"
