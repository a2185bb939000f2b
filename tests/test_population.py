"""Banks shaped like the real ones: a calibration population far from ability 0 and models that
answered part of the bank. The scale each bank records (``theta_mean``, ``theta_sd``), the priors
that use it (single bank, suite, online update) and the curve correction and misfit compared over
the items each model answered."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.cat.accuracy import AccuracyModel
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.cat.misfit import accuracy_error_at_full_ability
from adaptive_eval.cat.suite import SuiteTest
from adaptive_eval.irt.calibration import calibrate
from scipy.special import expit

QUIET = dict(progress=lambda line: None)


def measured(bank: ItemBank) -> tuple[float, float]:
    """Mean and SD (with the posterior variance) of the bank's calibration models' abilities."""
    theta = np.array([m["theta"] for m in bank.abilities.values()])
    se = np.array([m["se"] for m in bank.abilities.values()])
    return float(theta.mean()), float(np.sqrt(theta.var() + np.mean(se**2)))


def simulate(mean: float, n_models: int = 30, n_items: int = 500, partial: int = 12,
             seed: int = 0) -> tuple[ResponseData, np.ndarray]:
    """A well-specified 2PL: items ``b ~ N(0, 1.2^2)``, models ``theta ~ N(mean, 0.8^2)``. The
    first ``partial`` models answered only part of the bank, mostly its easy items (as on
    ZebraLogic, where 16 of 43 models answered 15-898 of 1,000 puzzles)."""
    rng = np.random.default_rng(seed)
    b, a = rng.normal(0, 1.2, n_items), np.exp(rng.normal(0.1, 0.25, n_items))
    theta = rng.normal(mean, 0.8, n_models)
    y = (rng.random((n_models, n_items)) < expit(a * (theta[:, None] - b))).astype(float)
    for j in range(partial):
        y[j, rng.random(n_items) > expit(-1.5 * b - 0.5)] = np.nan
    frame = pd.DataFrame(y, columns=[f"q{i}" for i in range(n_items)])
    frame.insert(0, "model", [f"m{j}" for j in range(n_models)])
    long = frame.melt(id_vars="model", var_name="question_id", value_name="correct").dropna()
    return ResponseData.from_long(long.astype({"correct": int})), theta


@pytest.fixture(scope="module")
def strong():
    """A population at mean ability +2 (like gsm8k's calibration models, +2.36)."""
    data, theta = simulate(2.0)
    return data, theta, calibrate(data, "2pl", **QUIET).bank


def test_the_bank_records_its_population_far_from_zero(strong):
    data, theta, bank = strong
    mean, sd = measured(bank)
    assert mean > 1.2  # the calibration does not centre its models at 0
    assert (bank.metadata["theta_mean"], bank.metadata["theta_sd"]) == pytest.approx((mean, sd))
    assert bank.population() == pytest.approx((mean, sd))
    assert bank.metadata["theta_prior_sd"] == 1.0
    # a bank saved without the record measures it from its abilities
    old = bank.subset(bank.ids)
    old.metadata = {"theta_sd": 1.0}
    assert old.population() == pytest.approx((mean, sd))


def test_the_single_bank_prior_is_the_population(strong):
    _, _, bank = strong
    mean, sd = measured(bank)
    state = AdaptiveTest(bank).start()
    assert state.theta == pytest.approx(mean, abs=0.02)  # EAP with no answers: the prior's mean
    assert state.se == pytest.approx(sd * np.sqrt(0.9 + 0.1 * 9), rel=0.05)
    assert AdaptiveTest(bank, prior_mean=0.0, prior_sd=1.0).start().theta == pytest.approx(0.0,
                                                                                          abs=1e-6)


def test_the_curve_correction_compares_each_model_on_the_items_it_answered(strong):
    data, _, bank = strong
    partial = [m for m, v in bank.abilities.items() if v["n_answered"] < len(bank)]
    assert len(partial) == 12
    # a well-specified model: its accuracy is the curve's over the same items, r is near 0
    r = AccuracyModel(bank, use_item_se=False).residual
    assert np.abs(r).max() < 0.02
    for v in bank.abilities.values():
        assert 0 < v["curve_accuracy"] < 1 and 0 < v["curve_accuracy_item_se"] < 1
    # comparing with the whole bank instead: the partial models (easy items) look far better
    curve = AccuracyModel(bank, use_item_se=False).p_cat.sum(0) / len(bank)
    wrong = [v["accuracy"] - float(np.interp(v["theta"], np.linspace(-6, 6, 601), curve))
             for m, v in bank.abilities.items() if m in partial]
    assert np.mean(wrong) > 0.05


def test_heldout_misfit_compares_like_with_like(strong):
    data, _, _ = strong
    for name in ("m0", "m3"):  # answered part of the bank, mostly easy items
        answers = data.responses_of(name)
        assert len(answers) < data.n_items * 0.8
        bank = calibrate(data.drop_models([name]), "2pl", **QUIET).bank
        # the curve over the items it answered (the whole bank's would be 0.04-0.07 too low)
        assert abs(accuracy_error_at_full_ability(bank, answers, correct_accuracy=False)) < 0.02
        assert abs(accuracy_error_at_full_ability(bank, answers)) < 0.03


def test_update_puts_new_models_on_the_population_and_records_their_curve(strong):
    data, _, _ = strong
    new = ["m20", "m21"]
    bank = calibrate(data.drop_models(new), "2pl", **QUIET).bank
    mean, _ = measured(bank)
    few = data.to_long()
    few = few[few["model"].isin(new)].groupby("model").head(4)  # 4 answers each
    updated = bank.update(ResponseData.from_long(few))
    for name in new:
        record = updated.abilities[name]
        # 4 answers barely move the population prior: near +2, not pulled to 0
        assert abs(record["theta"] - mean) < 1.2 and record["theta"] > 0.8
        assert 0 < record["curve_accuracy"] < 1
    touched = bank.index(sorted(set(few["question_id"])))
    untouched = np.setdiff1d(np.arange(len(bank)), touched)
    assert np.array_equal(updated.b[untouched], bank.b[untouched])
    assert np.array_equal(updated.a[untouched], bank.a[untouched])
    assert np.corrcoef(updated.b[touched], bank.b[touched])[0, 1] > 0.9  # same scale


def test_suite_prior_works_in_standardised_units():
    """Two banks whose populations sit at +2 and -1.9; a model at both populations' mean
    answers bank A only; bank B's prior must centre near B's mean, not near +2 r."""
    rng = np.random.default_rng(3)
    z = rng.normal(0, 1, 40)
    za = z
    zb = 0.9 * z + np.sqrt(1 - 0.81) * rng.normal(0, 1, 40)
    banks = {}
    for name, zz, mean, sd in (("a", za, 2.0, 1.2), ("b", zb, -1.9, 1.0)):
        b = rng.normal(mean, 1.0, 300)
        theta = mean + sd * zz
        abilities = {f"m{j}": {"theta": float(t), "se": 0.05, "n_answered": 300,
                               "accuracy": float(expit(t - b).mean()),
                               "curve_accuracy": float(expit(t - b).mean()),
                               "curve_accuracy_item_se": float(expit(t - b).mean())}
                     for j, t in enumerate(theta)}
        banks[name] = ItemBank([f"{name}{i}" for i in range(300)], b, np.ones(300),
                               b_se=np.full(300, 0.05), abilities=abilities)

    class AtTheMean:
        name = "x"

        def answerable(self, ids):
            return [i.startswith("a") for i in ids]  # bank B unanswerable: predicted via R

        def answer(self, question_id):
            k = int(question_id[1:])
            return int(rng.random() < expit(2.0 - banks["a"].b[k]))

    suite = SuiteTest(banks, max_items=60, target_se=0, seed=0)
    result = suite.run(AtTheMean())
    assert result.banks["a"].n_items == 60 and result.banks["b"].n_items == 0
    mu_b = measured(banks["b"])[0]
    assert abs(result.banks["b"].theta - mu_b) < 0.5  # N(0, 1) units would give ~ +1.8
    assert result.correlation["a"]["b"] > 0.8


def test_save_leaves_files_it_does_not_own(strong, tmp_path):
    _, _, bank = strong
    (tmp_path / "protocol.json").write_text(json.dumps({"prompt": "Q: {question}"}))
    (tmp_path / "questions.json").write_text("[1, 2]")
    bank.save(tmp_path)
    bank.save(tmp_path)  # a rebuild over an existing folder
    assert json.loads((tmp_path / "protocol.json").read_text()) == {"prompt": "Q: {question}"}
    assert (tmp_path / "questions.json").read_text() == "[1, 2]"
    loaded = ItemBank.load(tmp_path)
    assert loaded.population() == pytest.approx(bank.population())
    assert loaded.abilities["m0"]["curve_accuracy"] == bank.abilities["m0"]["curve_accuracy"]
