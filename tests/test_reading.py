"""The benchmarks' own answer-reading rules (banks/reading.py): their quirks on hand-made replies,
and agreement with the sources' verdicts on real model outputs (shared/data/protocols)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.banks.protocol import load_protocol
from adaptive_eval.banks.questions import Question
from adaptive_eval.banks.reading import READERS, UnknownReaderError, mmlu_pro_v2, reader
from adaptive_eval.banks.scoring import scoring_questions

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OUTPUTS = SHARED / "protocols" / "outputs.csv.gz"
ITEMS = {"mmlu-pro": SHARED / "mmlu_pro" / "items.csv.gz",
         **{b: SHARED / "zeroeval" / "items.csv.gz"
            for b in ("mmlu-redux", "gsm8k", "math-l5", "cruxeval")}}

MC = Question("q1", "Which?", [f"option {i}" for i in range(10)], 1, "math")  # key B
MC4 = Question("r1", "Which?", ["w", "x", "y", "z"], 2)  # key C


def numeric(gold: str) -> Question:
    return Question("n1", "How many?", [], None, None, "numeric", gold)


def literal(gold: str) -> Question:
    return Question("c1", "f(1) == ??", [], None, None, "python_literal", gold)


# MMLU-Pro ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply, expected", [
    ("so the answer is (B).", "B"),
    ("The answer is B because", "B"),
    ("The Answer is (B)", "B"),  # the case-sensitive first rule fails; the last standalone letter
    ("The Answer is (B). Let me check A", "A"),  # ... which may be another one
    ("Answer: C\nmore text. answer is (D)", "D"),  # 'answer is' wins over 'Answer:'
    ("x answer: A\nAnswer: B answer: C", "A"),  # the first line with one, its last 'answer:'
    ("Answer:\n\n  E", "E"),  # \s* crosses newlines
    ("Both H and I look right", "I"),  # the last standalone capital
    ("Based on this", None),  # no standalone letter: capitals inside words do not count
])
def test_mmlu_pro_chain(reply, expected):
    assert reader("mmlu-pro").read(reply) == expected
    assert reader("mmlu-pro").score(reply, MC) == (expected, int(expected == "B"))


def test_mmlu_pro_older_rules():
    assert reader("mmlu-pro-v1").read("Answer: B") is None  # May 2024: 'answer is' only
    assert reader("mmlu-pro-v3").read("Based on this") == "B"  # the last capital anywhere


def test_fast_rules_equal_the_source_regexes_on_hand_made_replies():
    slow = re.compile(r".*[aA]nswer:\s*([A-J])")
    for reply in ["answer: Answer: B", "a\nb answer: C\nanswer: D", "answer:", "no", "Answer:\tJ"]:
        match = slow.search(reply)
        assert mmlu_pro_v2(reply) == (match.group(1) if match else None)


# ZeroEval ---------------------------------------------------------------------------------------


def test_zeroeval_json_answer_and_fallbacks():
    math = reader("zeroeval-math")
    assert math.read('{"reasoning": "r", "answer": "18"}') == "18"
    assert math.read('{"reasoning": "r", "answer": 18.0}') == "18.0"  # str() of the JSON value
    assert math.read('{"answer": null}') == "None"  # a null answer is an answer ('None')
    # the first object fails to parse: no later object is tried, the regexes are
    assert math.read('{"answer": "7",}\n{"answer": "8"}') == "7"
    assert math.read('the answer: 12, so') == "12"  # no quotes anywhere
    assert math.read("so it is $\\boxed{36}$.") == "36"  # \\boxed near the end
    assert math.read("no answer here") is None


@pytest.mark.parametrize("extracted, gold, correct", [
    ("$1,000", "1000", 1), ("18 dollars", "#### 18", 1), ("3/4", "0.75", 1),
    ("\\frac{3}{4}", "\\frac{3}{5}", 1),  # only the first number counts: 3 == 3
    ("3/4", "\\frac{3}{4}", 0),  # 0.75 against 3
    ("x = -5", "-5", 1), ("five", "5", 0), ("2**1000/3", "1", 0),  # no huge power computed
])
def test_zeroeval_math_first_number(extracted, gold, correct):
    reply = json.dumps({"answer": extracted})
    assert reader("zeroeval-math").score(reply, numeric(gold)) == (extracted, correct)


def test_zeroeval_mcqa_letter_rule():
    mcqa = reader("zeroeval-mcqa")
    assert mcqa.score('{"answer": "C"}', MC4) == ("C", 1)
    assert mcqa.score('{"answer": "C) y"}', MC4) == ("C) y", 1)
    assert mcqa.score('{"answer": "(C)"}', MC4) == ("(C)", 1)  # it holds 'C)'
    assert mcqa.score('{"answer": "C."}', MC4) == ("C.", 0)  # neither 'C' nor 'C)'
    assert mcqa.score('{"answer": "B) or C"}', MC4) == ("B) or C", 0)
    assert mcqa.score('{"answer": ""}', MC4) == (None, 0)  # an empty answer is none


def test_zeroeval_crux_strings():
    crux = reader("zeroeval-crux")
    assert crux.score('{"answer": "\'abc\'"}', literal("'abc'")) == ("abc", 1)
    assert crux.score('{"answer": "[1,2]"}', literal("[1, 2]")) == ("[1,2]", 0)  # no parsing
    assert crux.score('{"answer": ""}', literal("''")) == ("", 0)  # never right on empty gold
    assert reader("zeroeval-crux-head").score('{"answer": ""}', literal("''")) == ("", 1)


def test_zebra_reads_the_solution_and_does_not_judge():
    zebra = reader("zeroeval-zebra")
    assert zebra.read('x {"a": 1} {"solution": {"House 1": {"Name": "Eric"}}}') == (
        '{"House 1": {"Name": "Eric"}}')
    with pytest.raises(ValueError, match="no gold answers"):
        zebra.score("{}", MC)


def test_unknown_rule_lists_the_known_ones():
    with pytest.raises(UnknownReaderError, match="zeroeval-math"):
        reader("nope")


# real outputs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outputs():
    if not OUTPUTS.is_file():
        pytest.skip(f"real model outputs not available ({OUTPUTS})")
    return pd.read_csv(OUTPUTS, keep_default_na=False, dtype=str)


def _sample(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return frame.iloc[np.sort(rng.permutation(len(frame))[:n])]


@pytest.mark.parametrize("benchmark", ["mmlu-pro", "mmlu-redux", "gsm8k", "math-l5", "cruxeval"])
def test_bank_rule_agrees_with_the_source_verdicts(outputs, benchmark):
    protocol = load_protocol(benchmark)
    questions = scoring_questions(ITEMS[benchmark], protocol)
    rows = outputs[(outputs["benchmark"] == benchmark) & (outputs["source_extracted"] != "")]
    rows = _sample(rows[rows["question_id"].isin(set(questions))], 3000)
    assert len(rows) >= min(3000, 1000)
    mine = [protocol.score(o, questions[q])[1] for q, o in zip(rows["question_id"], rows["output"])]
    agreement = float(np.mean(np.array(mine) == rows["source_correct"].astype(int).to_numpy()))
    assert agreement >= 0.995, f"{benchmark}: {agreement:.4f}"


def test_fast_rules_equal_the_source_regexes_on_real_outputs(outputs):
    slow = [re.compile(r".*[aA]nswer:\s*([A-J])"), re.compile(r"[A-J](?=[^A-J]*$)"),
            re.compile(r"\b[A-J]\b(?!.*\b[A-J]\b)", re.DOTALL)]
    rows = _sample(outputs[outputs["benchmark"] == "mmlu-pro"], 1500)
    for text in rows["output"]:
        found = [p.search(text) for p in slow]
        v2, v3, v4 = (None if m is None else m.group(1 if k == 0 else 0)
                      for k, m in enumerate(found))
        assert mmlu_pro_v2(text) == v2
        assert READERS["mmlu-pro-v3"].read(text) == (READERS["mmlu-pro-v1"].read(text) or v2 or v3)
        assert READERS["mmlu-pro"].read(text) == (READERS["mmlu-pro-v1"].read(text) or v2 or v4)
