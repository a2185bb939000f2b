"""What the Space's tests share: where the data is, skip marks, and the small models and settings
the Space runs on in a test (tests/test_space.py: its functions; tests/test_space_page.py: the
page in headless Chromium). Import the fixtures into a test module (``from space_helpers import
app_env_fixture, ...``); ``tiny_encoder`` comes from conftest.

The Difficulty tab runs on the embedded predictor when it is trained in this checkout, else on a
tiny random-weight predictor (``ADAPTIVE_EVAL_PREDICTOR``); the Generate tab on the embedded
generator when it exists, else the tests check that the tab says it is not available.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"  # the shared data folder: mmlu_pro/, zeroeval/, ...
HAS_PREDICTOR = (ROOT / "models" / "difficulty-predictor" / "config.json").is_file()
HAS_GENERATOR = (ROOT / "models" / "question-generator" / "adapter_model.safetensors").is_file()
needs_data = pytest.mark.skipif(
    not (DATA / "mmlu_pro" / "responses.csv.gz").is_file()
    or not (DATA / "mmlu_pro" / "items.csv.gz").is_file(),
    reason=f"MMLU-Pro responses/items not found in {DATA}/mmlu_pro (only in the project's CI)",
)
needs_zeroeval = pytest.mark.skipif(
    not (DATA / "zeroeval" / "responses.csv.gz").is_file()
    or not (DATA / "zeroeval" / "items.csv.gz").is_file(),
    reason=f"ZeroEval responses/items not found in {DATA}/zeroeval (only in the project's CI)",
)
GSM8K_MODEL = "Meta-Llama-3-8B-Instruct"  # one of the gsm8k bank's calibration models


@pytest.fixture(scope="session", name="tiny_predictor_dir")
def tiny_predictor_dir_fixture(tiny_encoder, tmp_path_factory) -> Path:
    """A saved predictor with the tiny random encoder (conftest): fast, offline."""
    import torch
    from adaptive_eval.amortized.predictor import DifficultyPredictor, PredictorConfig

    torch.manual_seed(1)
    config = PredictorConfig(encoder=str(tiny_encoder), max_length=64, hidden_sizes=[16],
                             categories=["math", "law"], residual_sd=0.8)
    folder = tmp_path_factory.mktemp("tiny-predictor")
    DifficultyPredictor(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", name="tiny_lm_dir")
def tiny_lm_dir_fixture(tmp_path_factory) -> Path:
    """A saved 2-layer random-weight Llama with the MiniLM tokenizer: a fast live LM."""
    import torch
    from adaptive_eval.amortized.base_models import MINILM, resolve_base_model
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(MINILM))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
    folder = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", name="app_env")
def app_env_fixture(tmp_path_factory, tiny_predictor_dir) -> dict[str, str]:
    env = {"ADAPTIVE_EVAL_DATA": str(DATA), "ADAPTIVE_EVAL_SIMILAR_SAMPLE": "200",
           "ADAPTIVE_EVAL_CACHE": str(tmp_path_factory.mktemp("cache")),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    if not HAS_PREDICTOR:
        env["ADAPTIVE_EVAL_PREDICTOR"] = str(tiny_predictor_dir)
    return env
