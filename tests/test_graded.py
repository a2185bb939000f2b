"""Graded scores in [0, 1]: reading, the fractional-Bernoulli fit, adaptive tests on them, the CLI.

The fixture is shaped like ``shared/data/graded/livecodebench``: ``model, question_id, score,
correct`` (``correct`` the 0/1 copy), most models' scores multiples of 0.1 (10 samples), some
models with 0/1 scores only (one sample), a few cells missing, abilities far from 0.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.build import build_bank
from adaptive_eval.banks.catalog import CATALOG, list_banks
from adaptive_eval.banks.responses import ResponseData, ResponseDataError
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.examinees import ReplayExaminee
from adaptive_eval.irt.calibration import calibrate
from adaptive_eval.irt.em import _graded_loglik
from adaptive_eval.irt.model import log_likelihood, prob
from test_cli import cli

GRADED = Path(__file__).resolve().parents[2] / "shared" / "data" / "graded"
N_MODELS, N_ITEMS = 30, 150


def simulate(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Long rows like the real file, and the true abilities."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(1.5, 1.2, N_MODELS)  # far from 0, as the shipped banks' abilities are
    b, a = rng.normal(1.0, 1.5, N_ITEMS), np.exp(rng.normal(0.2, 0.3, N_ITEMS))
    p = prob(theta[:, None], b[None, :], a[None, :])
    samples = np.where(np.arange(N_MODELS) % 5 == 0, 1, 10)[:, None]  # every 5th: one sample
    score = rng.binomial(samples, p) / samples
    keep = rng.random(score.shape) > 0.05  # partial answers: 5% of cells missing
    j, i = np.nonzero(keep)
    frame = pd.DataFrame({"model": [f"m{x:02d}" for x in j], "question_id": [f"q{x}" for x in i],
                          "score": score[j, i], "correct": (score[j, i] >= 0.5).astype(int)})
    return frame, theta


@pytest.fixture(scope="module")
def graded_file(tmp_path_factory) -> Path:
    frame, _ = simulate()
    path = tmp_path_factory.mktemp("graded") / "responses.csv.gz"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def graded_data(graded_file) -> ResponseData:
    return ResponseData.from_file(graded_file)


def test_score_column_is_read_beside_correct(graded_file, graded_data):
    frame = pd.read_csv(graded_file)
    assert graded_data.graded and graded_data.correct.dtype == np.float64
    assert graded_data.n_observed == len(frame)
    got = graded_data.to_long().set_index(["model", "question_id"])["score"]
    want = frame.set_index(["model", "question_id"])["score"]
    assert np.array_equal(got.loc[want.index].to_numpy(), want.to_numpy())  # score, not correct
    assert 0 < np.mean((graded_data.correct > 0) & (graded_data.correct < 1)) < 1
    one = graded_data.responses_of("m01")
    assert all(isinstance(v, float) for v in one.values()) and len(one) < N_ITEMS
    binary = ResponseData.from_file(graded_file, threshold=0.5)
    assert not binary.graded and binary.correct.tolist() == frame["correct"].tolist()


@pytest.mark.parametrize("text, message", [
    ("model,question_id,score\nm,q1,0.5\nm,q2,1.2\n", r"bad\.csv: row 2 has score=1\.2; "
                                                        r"expected a number in \[0, 1\]"),
    ("model,question_id,score\nm,q1,-0.1\n", r"row 1 has score=-0\.1"),
    ("model,question_id,score\nm,q1,high\n", r"row 1 has score='high'"),
    ("model,question_id,grade\nm,q1,1\n",
     r"bad\.csv: missing column\(s\) correct \(0/1\) or score \(in \[0, 1\]\); found model, "
     r"question_id, grade"),
    ("question_id,score\nq1,1\n", r"missing column\(s\) model; found question_id, score"),
])
def test_bad_scores_are_one_error_naming_file_and_row(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ResponseDataError, match=message):
        ResponseData.from_file(path)


def test_binary_data_are_unchanged(graded_file):
    """0/1 in a score column, or as floats through the graded code paths, fit exactly as 0/1."""
    binary = ResponseData.from_file(graded_file, threshold=0.5)
    as_score = pd.read_csv(graded_file).assign(score=lambda f: f["correct"]).drop(
        columns="correct")
    from_score = ResponseData.from_long(as_score)
    assert not from_score.graded and from_score.correct.dtype == np.uint8
    assert np.array_equal(from_score.correct, binary.correct)
    floats = replace(binary, correct=binary.correct.astype(np.float64))
    assert floats.graded
    plain, graded = calibrate(binary, "2pl"), calibrate(floats, "2pl")
    assert np.array_equal(plain.bank.b, graded.bank.b) and np.array_equal(plain.bank.a,
                                                                          graded.bank.a)
    assert plain.log_likelihood == graded.log_likelihood
    assert "score" not in plain.bank.metadata and graded.bank.metadata["score"] == "graded"
    y = np.array([0, 1, 1, 0])
    z = np.linspace(-40, 40, 4)
    assert np.array_equal(log_likelihood(y, z, 0.0), log_likelihood(y.astype(float), z, 0.0))


def test_the_fractional_likelihood_is_the_general_form():
    z = np.linspace(-30, 30, 61, dtype=np.float32)[None, :].repeat(2, 0)
    y = np.linspace(0, 1, 61, dtype=np.float32)
    want = y * z.astype(np.float64) - np.logaddexp(0, z.astype(np.float64))
    assert np.allclose(_graded_loglik(z.copy(), y), want, atol=1e-5)
    theta = np.linspace(-3, 3, 7)
    p = prob(theta, 0.4, 1.3)
    assert np.allclose(log_likelihood(0.3, theta, 0.4, 1.3),
                       0.3 * np.log(p) + 0.7 * np.log1p(-p))


def test_calibrate_fits_graded_scores(graded_data):
    frame, theta = simulate()
    built = build_bank(graded_data, "2pl", misfit_models=6)
    bank = built.bank
    assert bank.metadata["answer_type"] == "graded" and bank.metadata["score"] == "graded"
    assert bank.metadata["chance_accuracy"] == 0.0
    heldout = built.heldout["2pl"]
    assert heldout["likelihood"] == "fractional" and 0 < heldout["mae"] < 0.25
    fitted = np.array([built.fit.abilities[f"m{j:02d}"].theta for j in range(N_MODELS)])
    assert np.corrcoef(fitted, theta)[0, 1] > 0.95
    for ability in built.fit.abilities.values():  # P is the expected score: curve ~ mean score
        assert abs(ability.accuracy - ability.curve_accuracy) < 0.03
    means = frame.groupby("model")["score"].mean()
    assert np.allclose([built.fit.abilities[m].accuracy for m in means.index], means.to_numpy())


def test_adaptive_test_predicts_the_mean_score(graded_data):
    model = "m07"
    bank = calibrate(graded_data.drop_models([model]), "2pl").bank
    examinee = ReplayExaminee(graded_data, model)
    truth = float(np.mean(list(graded_data.responses_of(model).values())))
    result = AdaptiveTest(bank, max_items=60, target_se=0).run(examinee)
    scores = [step.correct for step in result.history]
    assert any(0 < s < 1 for s in scores) and all(0 <= s <= 1 for s in scores)
    assert result.observed_accuracy == pytest.approx(np.mean(scores))
    lo, hi = result.expected_accuracy_interval
    assert lo <= truth <= hi and abs(result.expected_accuracy - truth) < 0.06


def test_cli_calibrate_and_evaluate_graded_file(graded_file, tmp_path):
    out = tmp_path / "bank"
    fit = json.loads(cli("calibrate", graded_file, "--model", "2pl", "--out", out,
                         "--misfit-models", "4", "--json").stdout)
    assert fit["answer_type"] == "graded" and fit["n_models"] == N_MODELS
    assert fit["heldout"]["2pl"]["likelihood"] == "fractional"
    assert ItemBank.load(out).metadata["score"] == "graded"
    data = ResponseData.from_file(graded_file)
    model = "m11"
    truth = float(np.mean(list(data.responses_of(model).values())))
    result = json.loads(cli("evaluate", "--bank", out, "--examinee",
                            f"replay:{graded_file}:{model}", "--max-items", "40",
                            "--target-se", "0", "--json").stdout)
    assert result["n_items"] == 40
    assert any(0 < h["correct"] < 1 for h in result["history"])
    lo, hi = result["expected_accuracy_interval"]
    estimate = result["expected_accuracy"]
    assert lo <= estimate <= hi and abs(estimate - truth) < 0.1
    live = cli("evaluate", "--bank", out, "--examinee", "openai:http://127.0.0.1:9/v1:x",
               check=False)
    assert live.returncode == 2 and "Traceback" not in live.stderr
    assert "graded scores" in live.stderr.splitlines()[-1] and "replay" in live.stderr


def test_graded_banks_are_named_replay_banks():
    rows = {r["name"]: r for r in list_banks()}
    for name, licence in (("livecodebench", "cc-by-sa-4.0"), ("alpacaeval", "cc-by-nc-4.0")):
        assert CATALOG[name].score == "graded"
        row = rows[name]
        assert row["answer_type"] == "graded" and row["score"] == "graded"
        assert row["license"] == licence and row["live"] is False and row["questions"] is None
        bank = ItemBank.load(name)
        assert bank.metadata["score"] == "graded" and bank.metadata["license"] == licence
        card = (Path(row["path"]) / "README.md").read_text()
        assert f"license: {licence}" in card and "graded scores" in card
    assert rows["mmlu-pro"]["score"] == "binary"


def test_real_graded_files_read_and_replay():
    path = GRADED / "livecodebench" / "responses.csv.gz"
    if not path.exists():
        pytest.skip(f"graded data not found at {path} (only in the project's CI)")
    data = ResponseData.from_file(path)
    assert data.graded and (data.n_models, data.n_items, data.n_observed) == (58, 400, 23200)
    assert data.correct.mean() == pytest.approx(0.368, abs=0.001)
    model = data.models[0]
    result = AdaptiveTest(ItemBank.load("livecodebench"), max_items=20, target_se=0).run(
        ReplayExaminee(data, model))
    assert result.n_items == 20 and 0 <= result.expected_accuracy <= 1
