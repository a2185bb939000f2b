"""The Adaptive evaluation tab's handlers: one ``AdaptiveTest`` on a bank, a step at a time.

The test is the package's: ``AdaptiveTest.start`` with the examinee's answerable items, then
``TestState.step`` per question (what ``AdaptiveTest.run`` does in a loop). A ``Run`` keeps the
state between clicks with what the page adds to it: one row per question and, for a recorded
model, the random-subset comparison (the plain mean of the model's answers in a seeded random
order after as many questions, with its ``wilson_interval``) and its accuracy on all its answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
from adaptive_eval import AdaptiveTest
from adaptive_eval.banks.answers import MULTIPLE_CHOICE
from adaptive_eval.cat.accuracy import wilson_interval
from adaptive_eval.cat.adaptive import TestState
from adaptive_eval.examinees import ReplayExaminee
from choices import LOCAL_MODEL, REPLAY, examinee_choices, recorded_model
from resources import (
    DEFAULT_BANK,
    UserError,
    bank,
    first_line,
    has_responses,
    local_lm,
    questions,
    responses,
    simulated_responses,
    try_questions,
)
from views import (
    MAX_RESPONSE_SHOWN,
    PROGRESS,
    history_frame,
    question_markdown,
    run_figure,
    summary_markdown,
    warn,
)

if TYPE_CHECKING:
    from adaptive_eval.examinees.hf import HFExaminee

MAX_ITEMS_LIMIT = 500
SELECTIONS = {"Maximum Fisher information": "fisher", "Kullback-Leibler": "kl",
              "Random (no adaptation)": "random"}


def check_settings(max_items, target_se) -> tuple[int, float]:
    """Validated ``(max_items, target_se)``; ``UserError`` says what is wrong."""
    try:
        max_items_f, target_se = float(max_items), float(target_se)
    except (TypeError, ValueError):
        raise UserError("Max items and target SE must be numbers.") from None
    if not math.isfinite(max_items_f) or max_items_f != int(max_items_f):
        raise UserError(f"Max items must be a whole number, got {max_items}.")
    if not 1 <= max_items_f <= MAX_ITEMS_LIMIT:
        raise UserError(f"Max items must be between 1 and {MAX_ITEMS_LIMIT}, "
                        f"got {int(max_items_f)}.")
    if not math.isfinite(target_se) or target_se < 0:
        raise UserError(f"Target SE must be 0 (off) or positive, got {target_se}.")
    return int(max_items_f), target_se


class LiveLM:
    """The live LM on one bank's questions; remembers its last ``Answer`` to show it."""

    def __init__(self, lm: HFExaminee, bank_questions: dict) -> None:
        lm.questions.update(bank_questions)
        self.lm, self.name, self.bank_questions, self.last = lm, lm.name, bank_questions, None

    def answerable(self, question_ids) -> np.ndarray:
        return np.array([str(q) in self.bank_questions for q in question_ids], bool)

    def answer(self, question_id: str):
        self.last = self.lm.answer(question_id)
        return self.last


@dataclass
class Run:
    """One adaptive test in progress, with the random-subset comparison for a recorded model."""

    label: str
    bank_name: str
    settings: tuple
    test: AdaptiveTest
    state: TestState
    examinee: object  # answerable(ids), answer(id); the live LM: LiveLM
    random_answers: list[int] | None = None  # a recorded model's answers in a random order
    true_accuracy: float | None = None
    rows: list[dict] = field(default_factory=list)
    last_question: str = ""
    finished: str | None = None

    @property
    def free_form(self) -> bool:
        return self.test.bank.metadata.get("answer_type", MULTIPLE_CHOICE) != MULTIPLE_CHOICE


def start_run(choice: str, selection: str, max_items, target_se, seed: int = 0,
              progress: Callable | None = None, bank_name: str = DEFAULT_BANK) -> Run:
    """A fresh test of the chosen examinee on bank ``bank_name`` (``UserError`` for bad settings
    or missing data)."""
    max_items, target_se = check_settings(max_items, target_se)
    if selection not in SELECTIONS.values():
        selection = SELECTIONS.get(selection, "")
        if not selection:
            raise UserError(f"Unknown selection rule; pick one of {', '.join(SELECTIONS)}.")
    if progress:
        progress(0.1, desc=f"loading the {bank_name} item bank")
    the_bank = bank(bank_name)
    random_answers = true_accuracy = None
    model = recorded_model(choice)
    if choice == LOCAL_MODEL:
        if progress:
            progress(0.3, desc="loading the question text and the local LM (first time: "
                     "converting its weights, ~1 min)")
        bank_questions = questions(bank_name)  # first: a bank without text loads no LM
        examinee = LiveLM(local_lm(), bank_questions)
    elif model is not None:
        if model not in the_bank.abilities:
            raise UserError(f"{model!r} is not one of bank {bank_name}'s recorded models.")
        if progress:
            progress(0.3, desc="reading the recorded answers")
        data = (responses(bank_name) if choice.startswith(REPLAY)
                else simulated_responses(the_bank, model, seed))
        examinee = ReplayExaminee(data, model)
        recorded = np.flatnonzero(examinee.answerable(the_bank.ids))
        answers = np.array([examinee.answer(the_bank.ids[i]) for i in recorded])
        true_accuracy = float(answers.mean())
        random_answers = answers[np.random.default_rng(seed).permutation(len(answers))].tolist()
    else:
        raise UserError("Pick a model to evaluate.")
    test = AdaptiveTest(the_bank, max_items=max_items, target_se=target_se, selection=selection,
                        seed=seed)
    state = test.start(np.asarray(examinee.answerable(the_bank.ids), bool))
    if not state.available.any():
        raise UserError(f"{choice} can answer none of bank {bank_name}'s questions (no question "
                        "text?).")
    return Run(choice, bank_name, (bank_name, choice, selection, max_items, target_se), test,
               state, examinee, random_answers, true_accuracy)


def step_run(run: Run) -> Run:
    """Ask one question (``TestState.step``) and add its row (no-op once finished)."""
    state = run.state
    step = None if run.finished else state.step(run.examinee)
    if step is None:
        run.finished = run.finished or state.stop_reason()
        return run
    qid, k = step.question_id, state.n_items
    b = float(run.test.bank.b[state.items[-1]])
    lo, hi = step.expected_accuracy_interval
    row = {"#": k, "question": qid, "category": step.category or "", "difficulty b": round(b, 2),
           "answer": "correct" if step.correct else "wrong", "theta": round(step.theta, 3),
           "SE": round(step.se, 3), "predicted accuracy": round(step.expected_accuracy, 3),
           "lo": lo, "hi": hi}
    if run.free_form:
        live = isinstance(run.examinee, LiveLM)
        row["response"] = ((step.response or "")[:MAX_RESPONSE_SHOWN] if live
                           else "(not recorded: correctness only)")
        row["extracted"] = (step.extracted if step.extracted is not None else "(none)") if live \
            else ""
    if run.random_answers is not None and k <= len(run.random_answers):
        hits = sum(run.random_answers[:k])
        row["random-subset accuracy"] = round(hits / k, 3)
        row["random lo"], row["random hi"] = wilson_interval(hits, k)
    run.rows.append(row)
    question = (try_questions(run.bank_name) or {}).get(qid)
    last = getattr(run.examinee, "last", None)
    run.last_question = question_markdown(k, qid, question, step.correct, last, step.category,
                                          b)
    run.finished = state.stop_reason()
    return run


def _view(run: Run | None, message: str = ""):
    """The outputs of the adaptive tab: state, status, summary, question, plot, history."""
    return (run, message, summary_markdown(run), run.last_question if run else "", run_figure(run),
            history_frame(run))


def _fresh(run: Run | None, bank_name, choice, selection, max_items, target_se,
           progress) -> Run:
    settings = (bank_name, choice, SELECTIONS.get(selection, selection),
                *check_settings(max_items, target_se))
    if run is None or run.settings != settings or run.finished:
        run = start_run(choice, selection, max_items, target_se, progress=progress,
                        bank_name=bank_name)
    return run


def next_question(choice, selection, max_items, target_se, run=None, bank_name=DEFAULT_BANK,
                  progress=PROGRESS):
    """'Next question': start (or restart after a settings change) and ask one question."""
    try:
        run = _fresh(run, bank_name, choice, selection, max_items, target_se, progress)
        if progress:
            progress(0.9, desc="asking the next question")
        return _view(step_run(run))
    except UserError as err:
        return _view(run, warn(str(err)))
    except Exception as err:  # noqa: BLE001 - never a stack trace in the page
        return _view(run, warn(f"Something went wrong: {first_line(err)}"))


def run_to_end(choice, selection, max_items, target_se, run=None, bank_name=DEFAULT_BANK,
               progress=PROGRESS):
    """'Run to end': a generator that yields the page after each question (at most ~4/s)."""
    try:
        run = _fresh(run, bank_name, choice, selection, max_items, target_se, progress)
        shown = 0.0
        while not run.finished:
            step_run(run)
            if time.monotonic() - shown > 0.25 and not run.finished:
                shown = time.monotonic()
                yield _view(run)
        yield _view(run)
    except UserError as err:
        yield _view(run, warn(str(err)))
    except Exception as err:  # noqa: BLE001
        yield _view(run, warn(f"Something went wrong: {first_line(err)}"))


def reset_run(*_):
    return _view(None)


def pick_bank(name):
    """A new bank: its model list (first model selected) and a cleared test; a bank that does not
    load says why."""
    try:
        choices = examinee_choices(name)
    except UserError as err:
        return gr.update(choices=[], value=None), *_view(None, warn(str(err)))
    note = ("" if has_responses(name) else
            f"No recorded answers for {name} here: its recorded models answer with simulated "
            "answers drawn from their calibrated abilities.")
    return gr.update(choices=choices, value=choices[0]), *_view(None, note)
