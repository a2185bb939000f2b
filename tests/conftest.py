"""Shared fixtures: paths to the real data (tests that need it skip with a reason without it)."""

from __future__ import annotations

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
    from adaptive_eval.data import ResponseData

    return ResponseData.from_file(RESPONSES)


@pytest.fixture(scope="session")
def items_file() -> Path:
    if not ITEMS.exists():
        pytest.skip(f"MMLU-Pro question text not found at {ITEMS} (only in the project's CI)")
    return ITEMS
