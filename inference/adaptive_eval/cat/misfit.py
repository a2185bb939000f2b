"""How far a bank's predicted accuracy is from the truth: the held-out misfit that widens
adaptive tests' intervals.

A bank predicts a model's accuracy by its IRT curve ``sum_i P_i(theta) / N``, corrected by
``r(theta)`` (``accuracy.accuracy_residual``): the residual of the bank's own calibration models,
``accuracy_j`` minus the curve's mean over the items ``j`` answered, at their *in-sample*
abilities. In-sample on purpose: an
adaptive test's estimate, like a calibration model's in-sample ability, is driven by the items
most informative for that model, and ``r`` maps such an estimate to the accuracy on the whole bank.

Held-out errors: leave each calibration model ``j`` out in turn, fit the bank without it, and
score ``e_j`` = predicted minus observed accuracy at the ability from all ``j``'s answers, with
``r`` (``accuracy_error_at_full_ability``), both over the items ``j`` answered (a model that
answered part of the bank is compared with the curve over that part, like with like). Their
RMS is the bank's ``heldout_misfit_sd``: how far the (corrected) curve is from a new model's
accuracy even when its ability is known. What the correction and the misfit measurably do:
``benchmarks/results/adaptive.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..banks.bank import ItemBank
from ..banks.responses import ResponseData
from ..irt.calibration import calibrate
from ..irt.estimation import EAP, log_prior
from .accuracy import AccuracyModel

PRIOR_TAIL = 0.1
"""The ability prior from all answers: the bank's population ``N(theta_mean, theta_sd^2)`` with
this share of a wide tail (``AdaptiveTest``'s default prior)."""


def accuracy_at_full_ability(
    bank: ItemBank, answers: dict[str, int], correct_accuracy: bool = True
) -> tuple[float, float]:
    """``(theta, accuracy)``: the ability from *all* of a model's ``answers`` (posterior mean,
    the bank's population prior, ``PRIOR_TAIL``) and the accuracy predicted there by the IRT
    curve over the items it answered (``score="irt"``: every answered item by its model
    probability), plus the bank's ``r`` if ``correct_accuracy``."""
    ids = list(answers)
    prior = log_prior(*bank.population(), tail=PRIOR_TAIL)
    residual = AccuracyModel(bank, score="irt").residual
    answered = bank.subset(ids)
    answered.abilities = {}  # r is the whole bank's (above), not refitted on the subset
    model = AccuracyModel(answered, score="irt", correct_accuracy=correct_accuracy,
                          residual_override=residual)
    sums = model.new_sums()
    model.add(sums, np.arange(len(ids)), list(answers.values()))
    theta, _ = EAP().estimate(sums.loglik.sum(0), prior)
    return theta, model.expected_accuracy(sums, prior)[0]


def accuracy_error_at_full_ability(
    bank: ItemBank, answers: dict[str, int], correct_accuracy: bool = True
) -> float:
    """``e``: predicted minus observed accuracy of a model over the items it answered, with the
    ability estimated from *all* its ``answers`` and the accuracy scored by the IRT curve over
    those items (plus ``r`` if ``correct_accuracy``)."""
    predicted = accuracy_at_full_ability(bank, answers, correct_accuracy)[1]
    return predicted - float(np.mean(list(answers.values())))


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
