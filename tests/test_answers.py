"""Answer types: extraction from raw replies and scoring, on real benchmark answers (ZeroEval's
GSM8K, MATH level 5, CRUXEval and MMLU-Redux keys from the shared data)."""

from __future__ import annotations

import ast
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from adaptive_eval.banks.answers import (
    ANSWER_TYPES,
    BENCHMARK_ANSWER_TYPES,
    AnswerTypeError,
    chance,
    check_gold,
    extract,
    instruction,
    is_correct,
)

ZEROEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "zeroeval" / "items.csv.gz"


@pytest.fixture(scope="module")
def golds() -> dict[str, list[str]]:
    """The real gold answers of each benchmark, in file order."""
    if not ZEROEVAL.exists():
        pytest.skip(f"{ZEROEVAL} absent (the shared ZeroEval items)")
    frame = pd.read_csv(ZEROEVAL, dtype=str, keep_default_na=False)
    return {name: group["answer"].tolist() for name, group in frame.groupby("benchmark")}


def _sample(values: list[str], n: int = 50) -> list[str]:
    step = max(1, len(values) // n)
    return values[::step][:n]


# the types themselves ----------------------------------------------------------------------------


def test_known_types_and_benchmarks():
    assert list(ANSWER_TYPES) == ["multiple_choice", "numeric", "math", "python_literal", "exact"]
    assert BENCHMARK_ANSWER_TYPES["gsm8k"] == "numeric"
    assert BENCHMARK_ANSWER_TYPES["math-l5"] == "math"
    assert BENCHMARK_ANSWER_TYPES["cruxeval"] == "python_literal"
    assert BENCHMARK_ANSWER_TYPES["mmlu-redux"] == "multiple_choice"
    for name in ANSWER_TYPES:
        assert instruction(name).strip()
    assert "Answer: <number>" in instruction("numeric")
    assert "\\boxed{}" in instruction("math")


@pytest.mark.parametrize(
    "call",
    [
        lambda: extract("free_text", "Answer: 5"),
        lambda: is_correct("free_text", "5", "5"),
        lambda: chance("free_text"),
        lambda: instruction("free_text"),
        lambda: check_gold("free_text", "5"),
    ],
)
def test_unknown_answer_type_lists_the_known_ones(call):
    with pytest.raises(AnswerTypeError) as info:
        call()
    message = str(info.value)
    assert "unknown answer type 'free_text'" in message
    assert "multiple_choice, numeric, math, python_literal, exact" in message
    assert isinstance(info.value, ValueError)


def test_chance():
    assert chance("multiple_choice", 4) == 0.25 and chance("multiple_choice", 10) == 0.1
    for name in ("numeric", "math", "python_literal", "exact"):
        assert chance(name) == 0.0
    with pytest.raises(ValueError, match="n_options >= 2"):
        chance("multiple_choice")


@pytest.mark.parametrize("name", list(ANSWER_TYPES))
def test_no_answer_is_wrong(name, golds):
    gold = {"multiple_choice": golds["mmlu-redux"][0], "numeric": golds["gsm8k"][0],
            "math": golds["math-l5"][0], "python_literal": golds["cruxeval"][0],
            "exact": "Alice"}[name]
    assert is_correct(name, None, gold) is False
    assert extract(name, None) is None
    assert extract(name, "") is None


@pytest.mark.parametrize(
    ("name", "gold", "message"),
    [
        ("numeric", "eighteen", "numeric gold answer 'eighteen' is not a number"),
        ("python_literal", "f(3)", "python_literal gold answer 'f(3)' is not a Python literal"),
        ("multiple_choice", "AB", "not a letter"),
        ("exact", "  ", "empty gold answer"),
    ],
)
def test_bad_gold_is_a_clear_error(name, gold, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_gold(name, gold)
    if gold.strip():
        with pytest.raises(ValueError, match="gold answer"):
            is_correct(name, "1", gold)


# multiple choice ---------------------------------------------------------------------------------


def test_multiple_choice_on_real_keys(golds):
    keys = _sample(golds["mmlu-redux"], 40)
    assert set(keys) <= set("ABCD")
    for key in keys:
        assert extract("multiple_choice", f"Let me see... The answer is ({key}).", 4) == key
        assert is_correct("multiple_choice", extract("multiple_choice", f"**{key}**", 4), key)
        other = "ABCD"[("ABCD".index(key) + 1) % 4]
        assert not is_correct("multiple_choice", other, key)
    assert extract("multiple_choice", "The answer is J", 4) is None  # not among 4 options
    assert extract("multiple_choice", "I think it is C.", 4) == "C"
    assert is_correct("multiple_choice", "b", "B")


# numeric (GSM8K) ---------------------------------------------------------------------------------


def test_numeric_awkward_forms_of_real_answers(golds):
    answers = golds["gsm8k"]
    big = next(a for a in answers if int(a) >= 1000)  # e.g. 70000
    with_commas = f"{int(big):,}"
    assert "," in with_commas
    for reply in (f"The answer is {with_commas}.", f"#### {with_commas}", f"Answer: ${with_commas}",
                  f"so she pays \\boxed{{{with_commas}}}", f"Answer: {big}.0", f"{big} dollars"):
        extracted = extract("numeric", reply)
        assert is_correct("numeric", extracted, big), (reply, extracted)
    assert is_correct("numeric", "1,000", "1000") and is_correct("numeric", "1000", "1,000")
    assert is_correct("numeric", "$540", "540") and is_correct("numeric", "540.0", "540")
    assert not is_correct("numeric", "540.5", "540") and not is_correct("numeric", "54", "540")
    assert is_correct("numeric", extract("numeric", "Answer: \u22125"), "-5")  # a unicode minus


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # flagged numbers win over later ones; the last flagged counts
        ("The answer is 18. Check: 16 - 3 - 4 = 9, 9 * 2 = 18; 2 + 3 = 5", "18"),
        ("At first I got 12, but the answer is 14. Hmm, 7 + 7 = 14 indeed, not 3", "14"),
        ("The answer is 5. Wait, no: the answer is 6.", "6"),
        ("#### 72", "72"),
        ("She has \\boxed{42} eggs; 40 + 2 = 42 and 1 extra", "42"),
        ("the answer is therefore 12 apples, 3 boxes", "12"),
        # no flag: the last number
        ("16 - 3 - 4 = 9 eggs, 9 * 2 = 18", "18"),
        ("I got 5, then 6", "6"),
        ("Subtract: 10-5 = 5", "5"),
        ("It costs $1,250.50 in total", "1250.50"),
        ("No idea.", None),
    ],
)
def test_numeric_which_number_counts(reply, expected):
    assert extract("numeric", reply) == expected


def test_numeric_round_trip_on_real_items(golds):
    answers = _sample(golds["gsm8k"])
    assert len(answers) == 50
    for i, gold in enumerate(answers):
        reply = f"She has 3 + 4 = 7 of them, then 2 * 7 = 14.\nThe answer is {gold}"
        assert is_correct("numeric", extract("numeric", reply), gold), (gold, reply)
        wrong = next(a for a in answers[i + 1 :] + answers[:i] if a != gold)
        assert not is_correct("numeric", extract("numeric", f"The answer is {wrong}"), gold)


# math (MATH level 5) -----------------------------------------------------------------------------


def test_math_equivalence_with_math_verify():
    assert is_correct("math", "$\\frac{1}{2}$", "0.5")
    assert is_correct("math", "0.5", "\\frac{1}{2}")
    assert is_correct("math", extract("math", "So the final answer is $\\frac{1}{2}$."), "0.5")
    assert is_correct("math", "\\frac{\\sqrt 2}{2}", "\\sqrt{2}/2")
    assert is_correct("math", "1+x^2", "x^2+1")
    assert is_correct("math", "\\{2, 1\\}", "\\{1,2\\}")
    assert is_correct("math", "1,000", "1000")
    assert not is_correct("math", "\\frac{1}{3}", "0.5")
    assert not is_correct("math", "x^2-1", "x^2+1")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("First \\boxed{3}, then better: \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
        ("The final answer is $\\dfrac{7}{3}$. I hope it is correct.", "\\dfrac{7}{3}"),
        ("Final Answer: The final answer is 105. I hope it is correct.", "105"),
        ("So the answer is \\(x^2+1\\)", "x^2+1"),
        ("The answer is: 18.", "18"),
        ("The answer is\n\n-221_3", "-221_3"),
        ("We tried 1 + 2 = 3 and stopped.", None),
    ],
)
def test_math_extraction(reply, expected):
    assert extract("math", reply) == expected


def test_math_round_trip_on_real_items(golds):
    answers = _sample(golds["math-l5"])
    assert len(answers) == 50
    for i, gold in enumerate(answers):
        variants = [
            f"Let $x = 2$; then $x^2 = 4$.\nThe answer is {gold}",
            f"Therefore the final answer is $\\boxed{{{gold}}}$.",
            f"Hence \\[ \\boxed{{{gold}}} \\]",
            f"The final answer is ${gold}$. I hope it is correct.",
        ]
        for reply in variants:
            assert is_correct("math", extract("math", reply), gold), (gold, reply)
        wrong = next(a for a in answers[i + 1 :] + answers[:i] if a != gold)
        assert not is_correct("math", extract("math", f"\\boxed{{{wrong}}}"), gold)


def test_math_scoring_off_the_main_thread():
    """math-verify's time limit is a SIGALRM (main thread only): in a worker thread, as in a web
    server, the comparison still runs (without the limit) instead of raising."""

    def score(pair):
        assert threading.current_thread() is not threading.main_thread()
        return is_correct("math", *pair)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(score, [("$\\frac{1}{2}$", "0.5"), ("\\frac{1}{3}", "0.5")]))
    assert results == [True, False]


# python literals (CRUXEval) ----------------------------------------------------------------------


def test_python_literal_awkward_forms():
    assert is_correct("python_literal", "[1,2]", "[1, 2]")
    assert is_correct("python_literal", '"abc"', "'abc'")
    assert is_correct("python_literal", "{'b': 2, 'a': 1}", "{'a': 1, 'b': 2}")
    assert not is_correct("python_literal", "'1'", "1")
    assert not is_correct("python_literal", "(1, 2)", "[1, 2]")
    assert not is_correct("python_literal", "f(3)", "3")  # not a literal: wrong, not an error
    # Python's ==, as CRUXEval's own check (assert gold == prediction) has it
    assert is_correct("python_literal", "False", "0") and is_correct("python_literal", "1.0", "1")


def test_python_literal_is_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    reply = f"Answer: __import__('pathlib').Path({str(marker)!r}).touch()"
    extracted = extract("python_literal", reply)
    assert extracted is None and not is_correct("python_literal", extracted, "None")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Answer: 'hbtofdeiequ'", "'hbtofdeiequ'"),
        ("The answer is [1, 2], since the loop runs twice.", "[1, 2]"),
        ("Answer: 42, since 6 * 7 = 42", "42"),
        ("Answer: `{1: None, 2: None}`.", "{1: None, 2: None}"),
        ("Answer: assert f('a') == 'b'", "'b'"),
        ("Answer:\n(89, 4)", "(89, 4)"),
        ("Running it:\n```python\nassert f([3, 1]) == [1, 3]\n```", "[1, 3]"),
        ("```\n'abc'\n```", "'abc'"),
        ("[PYTHON]\nassert f('x') == 'xx'\n[/PYTHON]", "'xx'"),
        ("I cannot tell.", None),
        ("assert f([5, 8]) == ??\n[/PYTHON]", None),  # the question echoed: no literal
        ("Answer: f(3)", None),
        ("Answer: it is f(3)\nso f(3) == 'abc'", "'abc'"),
    ],
)
def test_python_literal_extraction(reply, expected):
    assert extract("python_literal", reply) == expected


def test_python_literal_round_trip_on_real_items(golds):
    answers = _sample(golds["cruxeval"])
    assert len(answers) == 50
    for i, gold in enumerate(answers):
        for reply in (
            f"The function loops over the input.\nThe answer is {gold}",
            f"Answer: {gold}",
            f"```python\nassert f(x) == {gold}\n```",
        ):
            assert is_correct("python_literal", extract("python_literal", reply), gold), reply
        wrong = next(a for a in answers[i + 1 :] + answers[:i]
                     if ast.literal_eval(a) != ast.literal_eval(gold))
        assert not is_correct("python_literal", extract("python_literal", f"Answer: {wrong}"),
                              gold)


# exact -------------------------------------------------------------------------------------------


def test_exact_is_whitespace_normalised():
    assert is_correct("exact", "  Alice   and Bob ", "Alice and Bob")
    assert not is_correct("exact", "alice and bob", "Alice and Bob")
    assert extract("exact", "Thinking...\n**Answer:** Alice and Bob.") == "Alice and Bob"
    assert extract("exact", "first line\n\nlast line\n") == "last line"


@pytest.mark.parametrize(
    ("kind", "reply", "n_options", "expected"),
    [
        ("multiple_choice", "Answer: I think it's B", 10, "B"),  # "I" is a word, not option I
        ("multiple_choice", "answer: b", 4, "B"),  # a lowercase letter standing alone
        ("multiple_choice", "The answer is a tricky one: C", 4, "C"),  # "a" is an article
        ("multiple_choice", "answer is (d).", 4, "D"),
        ("numeric", "Answer: 48 / 2 = 24", None, "24"),  # the result of the calculation
        ("numeric", "Answer: 7 apples", None, "7"),
        ("exact", "Answer: **Alice**.", None, "Alice"),  # markdown and the full stop dropped
    ],
)
def test_the_readings_that_used_to_go_wrong(kind, reply, n_options, expected):
    assert extract(kind, reply, n_options) == expected
