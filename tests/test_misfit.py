"""Held-out misfit of a bank's accuracy curve and the correction adaptive tests apply."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.adaptive import AdaptiveTest
from adaptive_eval.bank import ItemBank
from adaptive_eval.calibration import calibrate
from adaptive_eval.data import ResponseData
from adaptive_eval.estimation import GRID
from adaptive_eval.misfit import heldout_errors, record_heldout_errors, residual_curve
from scipy.special import expit


def bank_with_models(thetas):
    rng = np.random.default_rng(0)
    abilities = {f"m{j}": {"theta": t, "se": 0.05, "accuracy": 0.5, "n_answered": 100}
                 for j, t in enumerate(thetas)}
    return ItemBank(ids=[f"q{k}" for k in range(300)], b=rng.normal(0, 1, 300),
                    a=np.ones(300), abilities=abilities)


def test_the_correction_is_the_line_through_the_errors_held_flat_beyond_the_models():
    thetas = [-1.0, -0.5, 0.0, 0.5, 1.0]
    bank = bank_with_models(thetas)
    record_heldout_errors(bank, {f"m{j}": 0.01 + 0.02 * t for j, t in enumerate(thetas)})
    r = residual_curve(bank, GRID)
    assert np.interp(0.5, GRID, r) == pytest.approx(-(0.01 + 0.02 * 0.5))
    assert r[0] == pytest.approx(-(0.01 - 0.02)) and r[-1] == pytest.approx(-(0.01 + 0.02))


def test_misfit_sd_is_the_leave_one_out_error_of_the_line():
    thetas = [-1.0, 0.0, 1.0, 2.0]
    bank = bank_with_models(thetas)
    errors = [0.0, 0.01, 0.0, 0.01]
    record_heldout_errors(bank, {f"m{j}": e for j, e in enumerate(errors)})
    loo = []
    for j in range(4):
        x, y = np.delete(thetas, j), -np.delete(errors, j)
        slope, intercept = np.polyfit(x, y, 1)
        loo.append(errors[j] + intercept + slope * np.clip(thetas[j], x.min(), x.max()))
    assert bank.metadata["heldout_misfit_sd"] == pytest.approx(np.sqrt(np.mean(np.square(loo))))
    assert bank.metadata["heldout_misfit_sd"] > 0.005


def test_too_few_models_means_no_correction_and_the_raw_rms():
    bank = bank_with_models([0.0, 1.0])
    record_heldout_errors(bank, {"m0": 0.03, "m1": -0.04})
    assert bank.metadata["heldout_misfit_sd"] == pytest.approx(np.sqrt((0.03**2 + 0.04**2) / 2))
    assert not residual_curve(bank, GRID).any()
    assert not residual_curve(ItemBank(ids=["q"], b=np.zeros(1)), GRID).any()


def test_errors_for_unknown_models_are_refused():
    with pytest.raises(ValueError, match="'gpt-9'"):
        record_heldout_errors(bank_with_models([0.0]), {"gpt-9": 0.01})


def test_the_test_adds_the_correction_to_its_accuracy():
    thetas = [-1.0, -0.5, 0.0, 0.5, 1.0]
    bank = bank_with_models(thetas)
    record_heldout_errors(bank, {f"m{j}": 0.05 for j in range(5)})  # curve 0.05 too high
    plain = AdaptiveTest(bank, correct_accuracy=False, misfit_sd=0).start()
    corrected = AdaptiveTest(bank, misfit_sd=0).start()
    for state in (plain, corrected):
        for k in range(20):
            state.record(k, k % 2, with_accuracy=False)
    unanswered = (len(bank) - 20) / len(bank)
    assert corrected.expected_accuracy()[0] == pytest.approx(
        plain.expected_accuracy()[0] - 0.05 * unanswered, abs=1e-9)
    assert AdaptiveTest(bank).start().test._misfit_sd == pytest.approx(0.0, abs=1e-12)


def test_heldout_errors_of_a_well_specified_2pl_are_small():
    rng = np.random.default_rng(1)
    n_items, thetas = 400, np.linspace(-1.5, 1.5, 6)
    b, a = rng.normal(0, 1, n_items), np.exp(rng.normal(0, 0.3, n_items))
    y = rng.random((len(thetas), n_items)) < expit(a * (thetas[:, None] - b))
    frame = pd.DataFrame(y.astype(int), columns=[f"q{k}" for k in range(n_items)])
    frame.insert(0, "model", [f"m{j}" for j in range(len(thetas))])
    data = ResponseData.from_wide(frame)
    lines = []
    errors = heldout_errors(data, progress=lines.append)
    assert sorted(errors) == sorted(data.models) and len(lines) == len(thetas)
    assert max(abs(e) for e in errors.values()) < 0.03
    bank = calibrate(data, progress=lambda line: None).bank
    record_heldout_errors(bank, errors)
    assert 0 < bank.metadata["heldout_misfit_sd"] < 0.03
