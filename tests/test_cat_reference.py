"""The CAT's choices and numbers stay those recorded in ``cat_reference.json``: item sequences,
answers, theta, SE and predicted accuracy of runs of ``AdaptiveTest`` (mmlu-pro, real recorded
answers; Fisher and KL, with and without content balancing, random selection, four in flight)
and of ``SuiteTest`` (four zeroeval banks), recorded before the test was split into parts
(``cat/filters.py``, ``stopping.py``, ``sources.py``, ``state.py``, ``loop.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.cat.suite import SuiteTest
from adaptive_eval.examinees import ReplayExaminee
from conftest import BANK

HERE = Path(__file__).resolve().parent
REFERENCE = json.loads((HERE / "cat_reference.json").read_text())
ZERO_RESPONSES = HERE.parent.parent / "shared" / "data" / "zeroeval" / "responses.csv.gz"
SUITE = ("mmlu-redux", "gsm8k", "math-l5", "cruxeval")


class Batch:
    """Recorded answers in rounds (``answers(ids)``), as a batched backend answers."""

    def __init__(self, replay: ReplayExaminee) -> None:
        self.replay, self.name = replay, replay.name

    def answerable(self, ids):
        return self.replay.answerable(ids)

    def answers(self, ids):
        return [self.replay.answer(q) for q in ids]


def same_steps(got: list[list], want: list[list]) -> None:
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        n = len(w) - 3  # the ids and answer exactly, the numbers to 1e-9
        assert g[:n] == w[:n], f"step {k}: {g[:n]} != {w[:n]}"
        assert g[n:] == pytest.approx(w[n:], rel=1e-9, abs=1e-12), f"step {k}"


@pytest.mark.parametrize("name", [n for n in REFERENCE if n.startswith("mmlu-pro")])
def test_bank_test_gives_the_recorded_items_and_numbers(name, mmlu_responses):
    run = REFERENCE[name]
    replay = ReplayExaminee(mmlu_responses, run["model"])
    examinee = replay if run["parallel"] == 1 else Batch(replay)
    result = AdaptiveTest(ItemBank.load(BANK), **run["settings"]).run(
        examinee, parallel=run["parallel"])
    same_steps([[s.question_id, s.correct, s.theta, s.se, s.expected_accuracy]
                for s in result.history], run["steps"])


def test_suite_gives_the_recorded_items_and_numbers():
    if not ZERO_RESPONSES.exists():
        pytest.skip(f"zeroeval response data not found at {ZERO_RESPONSES} (shared data absent)")
    run = REFERENCE["suite of four"]
    replay = ReplayExaminee(ResponseData.from_file(ZERO_RESPONSES), run["model"])
    result = SuiteTest({n: ItemBank.load(n) for n in SUITE}, **run["settings"]).run(replay)
    same_steps([[bank, s.question_id, s.correct, s.theta, s.se, s.expected_accuracy]
                for bank, s in result.history], run["steps"])
