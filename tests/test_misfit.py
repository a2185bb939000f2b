"""The curve correction r(theta), held-out misfit, and answers recorded in one pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.cat.accuracy import AccuracyModel, accuracy_residual
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.cat.misfit import (
    accuracy_at_full_ability,
    accuracy_error_at_full_ability,
    heldout_errors,
    record_heldout_errors,
)
from adaptive_eval.irt.calibration import calibrate
from adaptive_eval.irt.estimation import GRID
from scipy.special import expit


def bank_with_models(accuracy_offset: float, thetas=(-1.0, 0.0, 1.0, 2.0)) -> ItemBank:
    """300 Rasch items; calibration models whose accuracy is the curve's plus an offset."""
    rng = np.random.default_rng(0)
    b = rng.normal(0, 1, 300)
    abilities = {f"m{j}": {"theta": t, "se": 0.05, "n_answered": 300,
                           "accuracy": float(np.mean(expit(t - b))) + accuracy_offset}
                 for j, t in enumerate(thetas)}
    return ItemBank(ids=[f"q{k}" for k in range(300)], b=b, a=np.ones(300), abilities=abilities)


@pytest.fixture(scope="module")
def simulated() -> ResponseData:
    rng = np.random.default_rng(1)
    n_items, thetas = 400, np.linspace(-1.5, 1.5, 6)
    b, a = rng.normal(0, 1, n_items), np.exp(rng.normal(0, 0.3, n_items))
    y = rng.random((len(thetas), n_items)) < expit(a * (thetas[:, None] - b))
    frame = pd.DataFrame(y.astype(int), columns=[f"q{k}" for k in range(n_items)])
    frame.insert(0, "model", [f"m{j}" for j in range(len(thetas))])
    return ResponseData.from_wide(frame)


def test_residual_is_the_calibration_models_offset_and_flat_beyond_them():
    bank = bank_with_models(0.03)
    curve = AccuracyModel(bank).p_cat.sum(0) / len(bank)
    r, loo_sd = accuracy_residual(bank, curve)
    inside = (GRID >= -1) & (GRID <= 2)
    assert np.allclose(r[inside], 0.03, atol=2e-3)  # the grid curve vs the exact mean
    assert r[0] == pytest.approx(r[np.argmin(abs(GRID + 1))]) and loo_sd < 2e-3
    too_few = ItemBank(ids=["q"], b=np.zeros(1), abilities={"m": {"theta": 0, "accuracy": 1}})
    assert not accuracy_residual(too_few, np.full_like(GRID, 0.5))[0].any()


def test_the_test_adds_the_correction_to_the_unanswered_share():
    bank = bank_with_models(0.05)
    plain = AdaptiveTest(bank, correct_accuracy=False, misfit_sd=0).start()
    corrected = AdaptiveTest(bank, misfit_sd=0).start()
    for state in (plain, corrected):
        state.record_many(range(20), [k % 2 for k in range(20)])
    gap = corrected.expected_accuracy()[0] - plain.expected_accuracy()[0]
    assert gap == pytest.approx(0.05 * (len(bank) - 20) / len(bank), abs=3e-3)


def test_record_many_equals_recording_one_by_one():
    bank = bank_with_models(0.0)
    rng = np.random.default_rng(2)
    items, answers = rng.permutation(300)[:120], rng.integers(0, 2, 120)
    one = AdaptiveTest(bank, category_sd=0.3).start()
    for i, y in zip(items, answers):
        one.record(int(i), int(y), with_accuracy=False)
    many = AdaptiveTest(bank, category_sd=0.3).start()
    many.record_many(items, answers, chunk=50)
    assert many.items == one.items and many.answers == one.answers
    assert many.theta == pytest.approx(one.theta) and many.se == pytest.approx(one.se)
    assert np.allclose(many.expected_accuracy()[1], one.expected_accuracy()[1])
    with pytest.raises(ValueError, match=f"'q{items[5]}' was already answered"):
        many.record_many([items[5]], [1])
    with pytest.raises(ValueError, match="already answered"):
        AdaptiveTest(bank).start().record_many([3, 3], [1, 0])


def test_heldout_errors_of_a_well_specified_2pl_are_small(simulated):
    lines = []
    errors = heldout_errors(simulated, progress=lines.append)
    assert sorted(errors) == sorted(simulated.models) and len(lines) == simulated.n_models
    assert max(abs(e) for e in errors.values()) < 0.05
    bank = calibrate(simulated, progress=lambda line: None).bank
    record_heldout_errors(bank, errors)
    rms = np.sqrt(np.mean(np.square(list(errors.values()))))
    assert bank.metadata["heldout_misfit_sd"] == pytest.approx(rms)
    assert AdaptiveTest(bank).accuracy.misfit_sd == pytest.approx(rms)
    with pytest.raises(ValueError, match="no held-out errors"):
        record_heldout_errors(bank, {})


def test_heldout_errors_spread_a_limited_number_of_models_over_accuracy(simulated):
    errors = heldout_errors(simulated, max_models=2)
    assert sorted(errors) == ["m0", "m5"]  # the weakest and the strongest


def test_error_at_full_ability_uncorrected_is_the_curve_alone(simulated):
    bank = calibrate(simulated.drop_models(["m2"]), progress=lambda line: None).bank
    answers = simulated.responses_of("m2")
    plain = accuracy_error_at_full_ability(bank, answers, correct_accuracy=False)
    corrected = accuracy_error_at_full_ability(bank, answers)
    theta, _ = accuracy_at_full_ability(bank, answers)
    r_at_theta = np.interp(theta, GRID, AccuracyModel(bank).residual)
    assert corrected - plain == pytest.approx(r_at_theta, abs=0.01)
    assert plain != corrected
