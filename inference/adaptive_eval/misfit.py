"""How far a bank's predicted accuracy is from the truth: the curve correction ``r(theta)`` and
the held-out misfit that widens adaptive tests' intervals.

A bank predicts a model's accuracy by its IRT curve ``sum_i P_i(theta) / N``. Two corrections
were measured (``benchmarks/results/adaptive.md``, 23 models, each left out of the calibration):

``r(theta)`` (``adaptive.accuracy_residual``): the residual ``accuracy_j - sum_i P_i(theta_j) / N``
of the bank's own calibration models at their in-sample abilities, interpolated in theta (flat
beyond the ends). An adaptive test's estimate, like a calibration model's in-sample ability, is
driven by the items most informative for that model, and ``r`` maps such an estimate to the
accuracy on the whole bank:
with it the mean error after 200 questions is 0.012, without it 0.017. (At the ability estimated
from *all* of a new model's answers the uncorrected curve is better, 0.004 vs 0.010; no
adaptive test gets there.)

Held-out errors: leave each calibration model ``j`` out in turn, fit the bank without it, and
score ``e_j`` = predicted minus observed accuracy at the ability from all ``j``'s answers, with
``r``. Their RMS is the bank's ``heldout_misfit_sd``: how far the (corrected) curve is from a new
model's accuracy even when its ability is known.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .adaptive import AdaptiveTest, TestState
from .bank import ItemBank
from .calibration import calibrate
from .data import ResponseData


def state_at_full_ability(
    bank: ItemBank, answers: dict[str, int], correct_accuracy: bool = True
) -> TestState:
    """A test state holding *all* of a model's ``answers``, scoring by the IRT curve (plus ``r``
    if ``correct_accuracy``); its ``theta`` is the ability from all the answers."""
    test = AdaptiveTest(bank, max_items=len(bank), target_se=0, score="irt",
                        correct_accuracy=correct_accuracy)
    state = test.start()
    state.record_many(bank.index(list(answers)), list(answers.values()))
    return state


def accuracy_error_at_full_ability(
    bank: ItemBank, answers: dict[str, int], correct_accuracy: bool = True
) -> float:
    """``e``: predicted minus observed accuracy of a model, with the ability estimated from *all*
    its ``answers`` and the accuracy scored by the IRT curve (plus ``r`` if
    ``correct_accuracy``)."""
    state = state_at_full_ability(bank, answers, correct_accuracy)
    return state.expected_accuracy()[0] - float(np.mean(list(answers.values())))


def heldout_errors(
    data: ResponseData,
    model: str = "2pl",
    categories: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    max_models: int | None = None,
) -> dict[str, float]:
    """``e_j`` for every model in ``data`` (one calibration without it per model), or for
    ``max_models`` of them spread evenly over the range of accuracy."""
    names = list(data.models)
    if max_models is not None and max_models < len(names):
        answered = np.bincount(data.model_index, minlength=data.n_models)
        accuracy = np.bincount(data.model_index, data.correct, data.n_models) / answered
        ranked = np.argsort(accuracy)
        picks = np.linspace(0, len(names) - 1, max_models).round().astype(int)
        names = [names[ranked[k]] for k in picks]
    errors = {}
    for n, name in enumerate(names, start=1):
        bank = calibrate(data.drop_models([name]), model, progress=lambda line: None).bank
        if categories:
            bank.assign_categories(categories)
        errors[name] = accuracy_error_at_full_ability(bank, data.responses_of(name))
        if progress:
            progress(f"held-out misfit [{n}/{len(names)}] {name}: {errors[name]:+.4f}")
    return errors


def record_heldout_errors(bank: ItemBank, errors: dict[str, float]) -> None:
    """Store ``errors`` and their RMS, ``heldout_misfit_sd``, in ``bank.metadata``."""
    if not errors:
        raise ValueError("no held-out errors to record")
    bank.metadata["heldout_misfit_errors"] = dict(errors)
    bank.metadata["heldout_misfit_sd"] = float(np.sqrt(np.mean(np.square(list(errors.values())))))
