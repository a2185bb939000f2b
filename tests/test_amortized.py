"""Amortized calibration: per-item priors from predicted difficulties, items nobody answered,
the text's share of each estimate, online updates (``ItemBank.update``) and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.amortized.predictor import DifficultyPredictor
from adaptive_eval.banks.bank import ItemBank, ItemBankError
from adaptive_eval.banks.questions import question_text
from adaptive_eval.irt.calibration import ItemPriorError, calibrate, check_predictor_scale
from safetensors.numpy import load_file, save_file
from test_calibration import simulate
from test_cli import cli
from test_predictor import _isolated_cache, tiny_config  # noqa: F401 (fixture)

QUIET = {"progress": lambda line: None}
PRIOR_SE = 0.5


def noisy_priors(data, b, se=PRIOR_SE, seed=5) -> pd.DataFrame:
    """What a predictor with predictive SE ``se`` would say: the truth plus N(0, se^2) noise."""
    noise = np.random.default_rng(seed).normal(0, se, len(b))
    return pd.DataFrame({"b": b + noise, "b_se": se}, index=data.question_ids)


def rmse(x, y) -> float:
    return float(np.sqrt(np.mean((x - y) ** 2)))


@pytest.fixture(scope="module")
def split():
    """300 calibration models, 5 new ones who answered only the first 100 of 200 items."""
    data, *_ = simulate(305, 200, observed=0.6, seed=3)
    new = [f"m{k}" for k in range(300, 305)]
    is_new = np.isin(np.array(data.models)[data.model_index], new)
    first_half = data.item_index < 100
    old = data.drop_models(new)
    union = data.select(~is_new | first_half)
    return old, data.select(is_new & first_half), union, new


def test_priors_recover_difficulties_from_few_models():
    data, _, b, _ = simulate(4, 300, seed=1)
    plain = calibrate(data, "2pl", **QUIET)
    informed = calibrate(data, "2pl", item_priors=noisy_priors(data, b), **QUIET)
    assert informed.converged
    assert rmse(informed.bank.b, b) < 0.6 * rmse(plain.bank.b, b)
    assert rmse(informed.bank.b, b) < PRIOR_SE  # better than the prior alone
    assert np.median(informed.bank.prior_share) > 0.5  # mostly the text's
    assert np.all(plain.bank.prior_share == 0)


def test_priors_change_little_when_many_models_answer():
    data, _, b, _ = simulate(200, 300, seed=1)
    plain = calibrate(data, "2pl", **QUIET)
    informed = calibrate(data, "2pl", item_priors=noisy_priors(data, b), **QUIET)
    assert abs(rmse(informed.bank.b, b) - rmse(plain.bank.b, b)) < 0.05
    assert np.median(informed.bank.prior_share) < 0.3
    assert informed.n_iter <= plain.n_iter + 2  # the expansion with prior means still converges


@pytest.mark.parametrize("model", ["rasch", "2pl"])
def test_unanswered_item_keeps_its_prior(model):
    data, _, b, _ = simulate(50, 100, seed=2)
    priors = pd.concat([noisy_priors(data, b),
                        pd.DataFrame({"b": [1.3], "b_se": [0.7]}, index=["new"])])
    bank = calibrate(data, model, item_priors=priors, **QUIET).bank
    k = bank.index(["new"])[0]
    assert len(bank) == 101 and bank.predicted[k] and bank.predicted.sum() == 1
    assert bank.b[k] == pytest.approx(1.3, abs=1e-4)
    assert bank.b_se[k] == pytest.approx(0.7, abs=1e-4)
    assert bank.prior_share[k] == pytest.approx(1.0, abs=1e-4)
    assert np.all(bank.prior_share[:100] < 1)


@pytest.fixture(scope="module")
def tiny_predictor(tiny_encoder):
    return DifficultyPredictor(tiny_config(tiny_encoder)).eval()


def test_predictor_priors_from_an_items_table(tiny_predictor):
    data, *_ = simulate(20, 40, seed=4)
    ids = data.question_ids[:10] + ["fresh-1", "fresh-2"]
    items = pd.DataFrame({"question_id": ids,
                          "question": [f"Question number {k}: what is {k} + {k}?" for k in
                                       range(len(ids))],
                          "options": [["1", "2", str(2 * k)] for k in range(len(ids))]})
    bank = calibrate(data, "2pl", items=items, predictor=tiny_predictor, **QUIET).bank
    texts = [question_text(q, o) for q, o in zip(items["question"], items["options"])]
    expected = tiny_predictor.predict_parameters(texts[-2:])
    fresh = bank.index(["fresh-1", "fresh-2"])
    assert len(bank) == 42 and bank.predicted[fresh].all()
    np.testing.assert_allclose(bank.b[fresh], expected["b"], atol=1e-4)
    np.testing.assert_allclose(bank.b_se[fresh], expected["b_se"], atol=1e-4)
    np.testing.assert_allclose(bank.a[fresh], expected["a"], rtol=1e-3)
    assert bank.metadata["item_priors"] == 12
    assert np.all(bank.prior_share[bank.index(data.question_ids[10:])] == 0)  # shared prior


def test_prior_share_round_trip_and_old_banks(tmp_path):
    data, _, b, _ = simulate(6, 60, seed=6)
    bank = calibrate(data.drop_models(["m5"]), "2pl", item_priors=noisy_priors(data, b),
                     **QUIET).bank
    bank.save(tmp_path / "bank")
    loaded = ItemBank.load(tmp_path / "bank")
    assert np.array_equal(loaded.prior_share, bank.prior_share)
    assert np.array_equal(loaded.b_log_a_cov, bank.b_log_a_cov) and np.any(bank.b_log_a_cov)
    params = tmp_path / "bank" / "params.safetensors"
    tensors = load_file(params)
    del tensors["prior_share"], tensors["b_log_a_cov"]  # as saved before they existed
    tensors["predicted"][:3] = 1
    save_file(tensors, params)
    old = ItemBank.load(tmp_path / "bank")
    assert old.prior_share.tolist() == [1.0] * 3 + [0.0] * 57
    assert np.all(old.b_log_a_cov == 0)
    with pytest.warns(UserWarning, match="no b_log_a_cov"):
        old.update(data.select(data.model_index == 5))


def test_update_matches_a_refit_on_the_union(split):
    old, new_answers, union, new = split
    bank = calibrate(old, "2pl", **QUIET).bank
    updated = bank.update(new_answers)
    refit = calibrate(union, "2pl", **QUIET)
    ref = refit.bank.subset(updated.ids)
    touched = updated.index([f"q{k}" for k in range(100)])
    # within a sixth of an SE of the refit (5 models on top of 300)
    assert np.max(np.abs(updated.b - ref.b)[touched] / ref.b_se[touched]) < 0.15
    assert np.max(np.abs(updated.a - ref.a)[touched] / ref.a_se[touched]) < 0.15
    # more answers, smaller SEs (an item whose b moved away from the abilities may not shrink)
    assert np.mean(updated.b_se[touched] < bank.b_se[touched]) > 0.9
    for model in new:
        assert updated.abilities[model]["theta"] == pytest.approx(refit.abilities[model].theta,
                                                                  abs=0.02)
    untouched = updated.index([f"q{k}" for k in range(100, 200)])
    for name in ("b", "a", "b_se", "a_se"):
        assert np.array_equal(getattr(updated, name)[untouched], getattr(bank, name)[untouched])
    assert updated.metadata["n_models"] == 305 and updated.metadata["online_updates"] == 1
    assert bank.metadata["n_models"] == 300 and len(bank.abilities) == 300  # not modified


def test_rasch_update_keeps_the_bank_ability_spread():
    data, *_ = simulate(305, 200, observed=0.6, seed=13, two_pl=False)
    new = [f"m{k}" for k in range(300, 305)]
    is_new = np.isin(np.array(data.models)[data.model_index], new)
    bank = calibrate(data.drop_models(new), "rasch", **QUIET).bank
    updated = bank.update(data.select(is_new))
    refit = calibrate(data, "rasch", **QUIET)
    assert np.all(updated.a == 1) and updated.model == "rasch"
    assert np.max(np.abs(updated.b - refit.bank.b) / refit.bank.b_se) < 0.1
    for model in new:  # the spread stays the bank's (5 models would estimate it poorly)
        assert updated.abilities[model]["theta"] == pytest.approx(refit.abilities[model].theta,
                                                                  abs=0.02)


def test_update_refines_predicted_items():
    data, _, b, _ = simulate(30, 80, seed=7)
    priors = noisy_priors(data, b)
    first = data.drop_models(data.models[20:])
    first = first.select(first.item_index < 40)  # q40... nobody answered yet
    bank = calibrate(first, "2pl", item_priors=priors, **QUIET).bank
    assert bank.predicted.tolist() == [False] * 40 + [True] * 40
    later = data.select(data.model_index >= 20)
    updated = bank.update(later)
    assert not updated.predicted.any()
    assert np.all(updated.prior_share < bank.prior_share)
    assert np.all(updated.prior_share[40:] < 1) and np.all(bank.prior_share[40:] == 1)


def test_update_refuses_known_models_and_unknown_items(split):
    old, new_answers, _, _ = split
    bank = calibrate(old, "2pl", **QUIET).bank
    with pytest.raises(ItemBankError, match="already in the bank.*m0"):
        bank.update(old)
    with pytest.raises(ItemBankError, match="'q0' is not in the bank"):
        bank.subset([f"q{k}" for k in range(1, 200)]).update(new_answers)


def test_bad_item_priors_name_the_problem():
    data, _, b, _ = simulate(5, 20, seed=8)
    good = noisy_priors(data, b)
    for bad, match in [
        (good.drop(columns="b_se"), r"missing column\(s\) \['b_se'\]"),
        (good.assign(b_se=np.r_[np.nan, np.ones(19)]), "'q0' has .*positive"),
        (good.assign(b_se=np.r_[1, 0, np.ones(18)]), "'q1' has .*positive"),
        (good.assign(a=1.0), r"missing column\(s\) \['a_se'\]"),
        (good.assign(a=-1.0, a_se=0.2), "'q0' has .*positive"),
        (pd.concat([good, good[:1]]), "'q0' appears twice"),
    ]:
        with pytest.raises(ItemPriorError, match=match):
            calibrate(data, "2pl", item_priors=bad, **QUIET)


def test_items_without_text_are_refused(tiny_predictor, tmp_path):
    data, *_ = simulate(5, 20, seed=9)
    path = tmp_path / "items.csv"
    pd.DataFrame({"question_id": data.question_ids, "category": "math"}).to_csv(path,
                                                                               index=False)
    with pytest.raises(ItemPriorError, match=f"{path}: the predictor needs the question text"):
        calibrate(data, "2pl", items=path, predictor=tiny_predictor, **QUIET)
    with pytest.raises(ItemPriorError, match="items and predictor go together"):
        calibrate(data, "2pl", items=path, **QUIET)


def test_a_predictor_on_another_scale_is_refused(tiny_encoder, tmp_path):  # noqa: F811
    data, *_ = simulate(10, 60, seed=10)
    far = DifficultyPredictor(tiny_config(tiny_encoder, b_mean=50.0)).eval()
    items = pd.DataFrame({"question_id": data.question_ids,
                          "text": [f"Question {k}" for k in range(60)]})
    with pytest.raises(ItemPriorError, match=r"not on this data's scale.*median shift \+4"):
        calibrate(data, "2pl", items=items, predictor=far, **QUIET)


def test_a_flipped_sign_is_refused():
    data, _, b, _ = simulate(10, 200, seed=11)
    fit = calibrate(data, "2pl", **QUIET)
    ids = data.question_ids
    check_predictor_scale(pd.DataFrame({"b": fit.bank.b + 0.5}, index=ids), ids, fit.bank.b)
    with pytest.raises(ItemPriorError, match="rank correlation with the calibrated b -"):
        check_predictor_scale(pd.DataFrame({"b": -b}, index=ids), ids, fit.bank.b)


@pytest.fixture(scope="module")
def cli_files(tiny_predictor, tmp_path_factory):
    """A predictor folder, 5 models' answers to q0..q39 and an items file of q0..q44 with text."""
    folder = tmp_path_factory.mktemp("amortized-cli")
    tiny_predictor.save_pretrained(folder / "predictor")
    data, *_ = simulate(5, 40, seed=12)
    data.to_long().to_csv(folder / "responses.csv", index=False)
    ids = [f"q{k}" for k in range(45)]
    pd.DataFrame({"question_id": ids, "question": [f"What is {k} times {k}?" for k in range(45)],
                  "options": ['["1", "2", "3", "4"]'] * 45, "answer": "A",
                  "category": "math"}).to_csv(folder / "items.csv", index=False)
    pd.DataFrame({"question_id": ids, "category": "math"}).to_csv(folder / "no_text.csv",
                                                                  index=False)
    return folder



@pytest.mark.slow  # two subprocesses loading torch: ~30 s on 2 shared cores
def test_cli_calibrate_with_a_predictor_then_predict_more(cli_files, tmp_path):
    f = cli_files
    out = json.loads(cli("calibrate", f / "responses.csv", "--items", f / "items.csv",
                         "--predictor", f / "predictor", "--out", tmp_path / "bank",
                         "--misfit-models", "0", "--json").stdout)
    assert out["n_items"] == 45 and out["n_text_only"] == 5 and 0 < out["mean_prior_share"] < 1
    bank = ItemBank.load(tmp_path / "bank")
    assert bank.predicted.tolist() == [False] * 40 + [True] * 5
    assert np.all(bank.prior_share[40:] == pytest.approx(1.0, abs=1e-4))
    more = tmp_path / "more.csv"
    pd.DataFrame({"question_id": ["extra"], "question": ["What is 7 times 8?"],
                  "options": ['["54", "56"]'], "answer": "B"}).to_csv(more, index=False)
    proc = cli("predict", "--file", more, "--bank", tmp_path / "bank", "--out",
               tmp_path / "bank2", "--predictor", f / "predictor", "--benchmark", "unknown")
    assert "difficulty scale: pooled ('unknown' is not among the predictor's" in proc.stderr
    extended = ItemBank.load(tmp_path / "bank2")
    assert len(extended) == 46 and extended.prior_share[-1] == 1.0 and extended.predicted[-1]


@pytest.mark.parametrize("args, message", [
    (["--predictor", "default"], "--predictor reads the question text: give --items"),
    (["--predictor", "{f}/predictor", "--items", "{f}/no_text.csv"],
     "no_text.csv: the predictor needs the question text"),
])
def test_cli_bad_amortized_input_is_one_line(cli_files, tmp_path, args, message):
    args = [a.format(f=cli_files) for a in args]
    proc = cli("calibrate", cli_files / "responses.csv", "--out", tmp_path / "bank",
               "--misfit-models", "0", *args, check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("adaptive-eval: error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(errors) == 1 and message in errors[0], proc.stderr
