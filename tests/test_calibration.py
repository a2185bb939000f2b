"""Calibration: parameter recovery on simulated data, missing cells, degenerate items/models."""

from __future__ import annotations

import numpy as np
import pytest
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.irt.calibration import calibrate
from adaptive_eval.irt.model import prob


def simulate(n_models, n_items, observed=1.0, seed=0, two_pl=True):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_models)
    b = rng.normal(size=n_items)
    a = np.exp(rng.normal(0, 0.3, n_items)) if two_pl else np.ones(n_items)
    j, i = np.meshgrid(np.arange(n_models), np.arange(n_items), indexing="ij")
    j, i = j.ravel(), i.ravel()
    keep = rng.random(len(j)) < observed
    j, i = j[keep], i[keep]
    y = (rng.random(len(j)) < prob(theta[j], b[i], a[i])).astype(np.uint8)
    data = ResponseData([f"m{k}" for k in range(n_models)], [f"q{k}" for k in range(n_items)],
                        j.astype(np.int32), i.astype(np.int32), y)
    return data, theta, b, a


@pytest.fixture(scope="module")
def simulated():
    return simulate(600, 300, observed=0.8)


@pytest.mark.parametrize("model", ["rasch", "2pl"])
def test_recovers_parameters(model):
    data, theta, b, a = simulate(600, 300, observed=0.8, two_pl=model == "2pl")
    fit = calibrate(data, model)
    assert fit.converged
    assert np.corrcoef(fit.bank.b, b)[0, 1] > 0.98
    eap = np.array([fit.abilities[m].theta for m in data.models])
    assert np.corrcoef(eap, theta)[0, 1] > 0.98
    if model == "2pl":
        assert np.corrcoef(fit.bank.a, a)[0, 1] > 0.6
        assert fit.bank.model == "2pl"
    else:
        assert np.all(fit.bank.a == 1)


def test_standard_errors_are_honest(simulated):
    data, theta, b, a = simulated
    fit = calibrate(data, "2pl")
    z = (fit.bank.b - b) / fit.bank.b_se
    # about 95% of true difficulties inside +/- 1.96 SE (priors shrink a little)
    assert 0.85 < np.mean(np.abs(z) < 1.96) <= 1.0
    assert 0.85 < np.mean(np.abs(fit.bank.a - a) < 1.96 * fit.bank.a_se) <= 1.0
    se = np.array([fit.abilities[m].se for m in data.models])
    eap = np.array([fit.abilities[m].theta for m in data.models])
    assert 0.85 < np.mean(np.abs(eap - theta) < 1.96 * se) <= 1.0


@pytest.mark.parametrize("model", ["rasch", "2pl"])
def test_stops_at_the_fixed_point(simulated, model):
    """The default stopping rule leaves the estimates where many more iterations would:
    plain EM used to stop far from it (the log-likelihood barely moved along the ridge of
    the abilities' location and scale, which the parameter expansion now crosses)."""
    data = simulated[0]
    fit = calibrate(data, model)
    longer = calibrate(data, model, tol=0.0, max_iter=fit.n_iter + 20)
    assert fit.converged and fit.n_iter <= 12
    assert np.max(np.abs(fit.bank.b - longer.bank.b)) < 1e-3
    assert np.max(np.abs(fit.bank.a - longer.bank.a)) < 1e-3
    assert np.max(np.abs(fit.bank.b_se / longer.bank.b_se - 1)) < 1e-3
    if model == "2pl":
        assert np.max(np.abs(fit.bank.a_se / longer.bank.a_se - 1)) < 1e-3


def test_cell_order_does_not_matter(simulated):
    data = simulated[0]
    order = np.random.default_rng(1).permutation(data.n_observed)
    shuffled = ResponseData(data.models, data.question_ids, data.model_index[order],
                            data.item_index[order], data.correct[order])
    fit, fit_shuffled = calibrate(data, "2pl"), calibrate(shuffled, "2pl")
    np.testing.assert_allclose(fit_shuffled.bank.b, fit.bank.b, atol=1e-6)
    np.testing.assert_allclose(fit_shuffled.bank.a_se, fit.bank.a_se, atol=1e-6)
    for m in data.models:
        assert fit_shuffled.abilities[m].theta == pytest.approx(fit.abilities[m].theta, abs=1e-6)


def test_degenerate_items_and_models_stay_finite():
    data, *_ = simulate(20, 50, seed=1)
    # an item everyone got right, one everyone got wrong, a model with all right
    correct = data.correct.copy()
    correct[data.item_index == 0] = 1
    correct[data.item_index == 1] = 0
    correct[data.model_index == 0] = 1
    data = ResponseData(data.models, data.question_ids, data.model_index, data.item_index, correct)
    fit = calibrate(data, "2pl")
    assert np.all(np.isfinite(fit.bank.b)) and np.all(np.isfinite(fit.bank.a))
    assert fit.bank.b[0] < np.median(fit.bank.b) < fit.bank.b[1]
    assert fit.abilities["m0"].theta == max(a.theta for a in fit.abilities.values())
    assert np.isfinite(fit.abilities["m0"].theta)


def test_tiny_data_single_cell():
    data = ResponseData(["m"], ["q"], np.array([0], np.int32), np.array([0], np.int32),
                        np.array([1], np.uint8))
    fit = calibrate(data, "rasch")
    assert np.isfinite(fit.bank.b[0]) and np.isfinite(fit.abilities["m"].theta)


def test_bad_model_name(simulated):
    with pytest.raises(ValueError, match="model='3pl'"):
        calibrate(simulated[0], "3pl")


def test_progress_lines(simulated):
    lines = []
    calibrate(simulated[0], "rasch", progress=lines.append)
    assert lines[0].startswith("calibrate rasch: iteration 1")
    assert "done" in lines[-1]


def test_real_mmlu_pro_2pl_fits_heldout_cells(mmlu_responses):
    from sklearn.metrics import roc_auc_score

    data = mmlu_responses
    hide = np.random.default_rng(0).random(data.n_observed) < 0.1
    fit = calibrate(data.select(~hide), "2pl")
    theta = np.array([fit.abilities[m].theta for m in data.models])
    items = data.item_index[hide]
    p = prob(theta[data.model_index[hide]], fit.bank.b[items], fit.bank.a[items])
    y = data.correct[hide]
    log_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert log_loss <= 0.455
    assert roc_auc_score(y, p) >= 0.86
