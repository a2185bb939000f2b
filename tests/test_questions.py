"""Question files (CSV / CSV.gz / JSONL / parquet), their errors, the prompt, and the download."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from adaptive_eval.banks.answers import AnswerTypeError, chance, extract
from adaptive_eval.banks.build import item_chance, read_items
from adaptive_eval.banks.questions import (
    Question,
    QuestionFileError,
    format_prompt,
    load_questions,
    questions_from_records,
)

ITEMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmlu_pro" / "items.csv.gz"
ZEROEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "zeroeval" / "items.csv.gz"

ROWS = [
    {
        "question_id": "q1",
        "question": "2 + 2 = ?",
        "options": ["3", "4", "5"],
        "answer_index": 1,
        "category": "math",
    },
    {
        "question_id": "q2",
        "question": "Capital of France?",
        "options": ["Paris", "Rome"],
        "answer_index": 0,
        "category": "geo",
    },
]


def _csv(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame(rows)
    if "options" in frame:
        frame["options"] = [json.dumps(o) if isinstance(o, list) else o for o in frame["options"]]
    frame.to_csv(path, index=False)
    return path


def test_real_mmlu_pro_items():
    if not ITEMS.exists():
        pytest.skip(f"{ITEMS} absent (the shared MMLU-Pro data)")
    questions = load_questions(ITEMS)
    assert len(questions) == 12032
    q = questions["70"]
    assert isinstance(q, Question) and q.category == "business"
    assert len(q.options) == 9 and q.answer_index == 8 and q.answer_letter == "I"
    assert all(0 <= x.answer_index < len(x.options) for x in questions.values())


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet"])
def test_formats_round_trip(tmp_path, suffix):
    path = tmp_path / f"items{suffix}"
    frame = pd.DataFrame(ROWS)
    if suffix.startswith(".csv"):
        frame["options"] = frame["options"].map(json.dumps)
        frame.to_csv(path, index=False)
    elif suffix.startswith(".jsonl"):
        text = "".join(json.dumps(r) + "\n" for r in ROWS)
        opener = gzip.open if suffix.endswith(".gz") else open
        with opener(path, "wt") as handle:
            handle.write(text)
    else:
        frame.to_parquet(path)
    questions = load_questions(path)
    assert questions == {
        "q1": Question("q1", "2 + 2 = ?", ["3", "4", "5"], 1, "math"),
        "q2": Question("q2", "Capital of France?", ["Paris", "Rome"], 0, "geo"),
    }


def test_answer_letter_and_no_category(tmp_path):
    rows = [{"question_id": 7, "question": "Pick B", "options": ["x", "y"], "answer": "b"}]
    q = load_questions(_csv(tmp_path / "items.csv", rows))["7"]
    assert q.answer_index == 1 and q.category is None


def test_format_prompt():
    q = Question("q1", " 2 + 2 = ? ", ["3", "4", "5"], 1)
    prompt = format_prompt(q)
    assert "Question: 2 + 2 = ?" in prompt
    assert prompt.endswith("A. 3\nB. 4\nC. 5\nAnswer:")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{**ROWS[0], "options": "not json"}], "row 1: question 'q1': options is not a JSON list"),
        ([ROWS[1], {**ROWS[0], "answer_index": 3}], "row 2: question 'q1': answer index 3 out of"),
        ([ROWS[0], ROWS[0]], "row 2: duplicate question_id 'q1'"),
        ([{**ROWS[0], "question": ""}], "row 1: question 'q1': empty question text"),
        ([{**ROWS[0], "options": ["only one"]}], "needs 2-26 options, has 1"),
        ([{k: v for k, v in ROWS[0].items() if k != "options"}], "missing column(s) options"),
    ],
)
def test_bad_rows_name_file_and_row(tmp_path, rows, message):
    path = _csv(tmp_path / "bad.csv", rows)
    with pytest.raises(QuestionFileError) as info:
        load_questions(path)
    assert str(path) in str(info.value) and message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_files(tmp_path):
    with pytest.raises(QuestionFileError, match="no such file"):
        load_questions(tmp_path / "missing.csv")
    (tmp_path / "items.txt").write_text("x")
    with pytest.raises(QuestionFileError, match="unknown format"):
        load_questions(tmp_path / "items.txt")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(QuestionFileError, match="empty.csv: the file is empty"):
        load_questions(tmp_path / "empty.csv")
    (tmp_path / "broken.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(QuestionFileError, match="broken.csv.gz: cannot read"):
        load_questions(tmp_path / "broken.csv.gz")


def test_chance_is_one_over_the_options_per_item(tmp_path):
    path = tmp_path / "items.csv"
    pd.DataFrame({"question_id": ["a", "b", "c", "d"], "question": ["?"] * 4,
                  "options": [json.dumps(["x"] * 4), json.dumps(["x"] * 10),
                              json.dumps(["x"] * 5), ""]}).to_csv(path, index=False)
    per_item = item_chance(read_items(path))
    assert per_item.tolist() == pytest.approx([1 / 4, 1 / 10, 1 / 5, 0.0])
    assert per_item["a"] == chance("multiple_choice", 4)
    pd.DataFrame({"question_id": ["a"], "category": ["x"]}).to_csv(path, index=False)
    assert item_chance(read_items(path)).tolist() == [0.0]


# free-form questions ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zeroeval() -> Path:
    if not ZEROEVAL.exists():
        pytest.skip(f"{ZEROEVAL} absent (the shared ZeroEval items)")
    return ZEROEVAL


@pytest.mark.parametrize(
    ("benchmark", "n", "answer_type", "first_id", "first_answer"),
    [
        ("gsm8k", 1319, "numeric", "gsm8k-main-test-#0", "18"),
        ("math-l5", 720, "math", "math-l5-1", "18"),
        ("cruxeval", 800, "python_literal", "crux-test-#1", "{1: None, 2: None}"),
        ("mmlu-redux", 2778, "multiple_choice", "mmlu-redux-anatomy-#0", "D"),
    ],
)
def test_real_zeroeval_benchmarks(zeroeval, benchmark, n, answer_type, first_id, first_answer):
    """One file, several benchmarks: ``benchmark=`` selects the rows and implies the type."""
    questions = load_questions(zeroeval, benchmark=benchmark)
    assert len(questions) == n
    assert {q.answer_type for q in questions.values()} == {answer_type}
    q = questions[first_id]
    assert q.answer == first_answer
    if answer_type == "multiple_choice":
        assert len(q.options) == 4 and q.answer_letter == "D" and q.chance == 0.25
    else:
        assert q.options == [] and q.answer_index is None and q.free_form and q.chance == 0.0
        assert q.is_correct(extract(answer_type, f"Reasoning...\nThe answer is {q.answer}"))
        assert not q.is_correct(None)


def test_zebralogic_has_no_gold_answers(zeroeval):
    """ZeroEval's ZebraLogic rows carry no key (replay only): loading them names the item."""
    with pytest.raises(QuestionFileError) as info:
        load_questions(zeroeval, benchmark="zebralogic")
    message = str(info.value)
    assert str(zeroeval) in message and "question 'lgp-test-5x6-16': no gold answer" in message
    assert "row 2779" in message  # the row of the file, also after selecting a benchmark
    with pytest.raises(QuestionFileError, match="no questions of benchmark 'gsm8' \\(has: crux"):
        load_questions(zeroeval, benchmark="gsm8")


FREE_ROWS = [
    {"question_id": "g1", "question": "2 + 2 = ?", "options": "", "answer": "4"},
    {"question_id": "g2", "question": "Half of 1?", "options": "", "answer": "0.5"},
]


def test_free_form_answer_type_from_the_argument_or_a_column(tmp_path):
    path = _csv(tmp_path / "free.csv", FREE_ROWS)
    questions = load_questions(path, answer_type="numeric")
    assert questions["g1"] == Question("g1", "2 + 2 = ?", answer_type="numeric", answer="4")
    assert questions["g2"].answer == "0.5"
    typed = _csv(tmp_path / "typed.csv", [{**FREE_ROWS[0], "answer_type": "math"},
                                          {**ROWS[0], "options": json.dumps(ROWS[0]["options"]),
                                           "answer_type": ""}])
    mixed = load_questions(typed)
    assert mixed["g1"].answer_type == "math" and mixed["q1"].answer_type == "multiple_choice"
    assert mixed["q1"].answer == "B"
    no_options_column = _csv(tmp_path / "bare.csv", [
        {k: v for k, v in row.items() if k != "options"} for row in FREE_ROWS])
    assert load_questions(no_options_column, answer_type="exact")["g1"].answer == "4"
    records = questions_from_records(FREE_ROWS, answer_type="numeric")
    assert records["g2"].answer_type == "numeric"


@pytest.mark.parametrize(
    ("rows", "answer_type", "message"),
    [
        ([{**FREE_ROWS[0], "answer": ""}], "numeric",
         "row 1: question 'g1': no gold answer (its answer cell is empty; a numeric question"),
        ([FREE_ROWS[1], {**FREE_ROWS[0], "answer": "four"}], "numeric",
         "row 2: question 'g1': numeric gold answer 'four' is not a number"),
        ([{**FREE_ROWS[0], "answer": "f(4)"}], "python_literal",
         "question 'g1': python_literal gold answer 'f(4)' is not a Python literal"),
        (FREE_ROWS, None, "row 1: question 'g1': no options and no answer type (pass answer_type"),
        ([{**FREE_ROWS[0], "answer_type": "essay"}], None,
         "question 'g1': unknown answer type 'essay'; known: multiple_choice, numeric, math"),
    ],
)
def test_bad_free_form_rows_name_the_item(tmp_path, rows, answer_type, message):
    path = _csv(tmp_path / "bad.csv", rows)
    with pytest.raises(QuestionFileError) as info:
        load_questions(path, answer_type=answer_type)
    assert str(path) in str(info.value) and message in str(info.value)


def test_unknown_answer_type_argument(tmp_path):
    path = _csv(tmp_path / "free.csv", FREE_ROWS)
    with pytest.raises(AnswerTypeError, match="unknown answer type 'number'; known: multiple_ch"):
        load_questions(path, answer_type="number")


def test_question_validation():
    with pytest.raises(ValueError, match="question 'g1': no gold answer"):
        Question("g1", "2 + 2 = ?", answer_type="numeric")
    with pytest.raises(AnswerTypeError, match="unknown answer type 'words'"):
        Question("g1", "2 + 2 = ?", answer_type="words", answer="4")
    with pytest.raises(ValueError, match="answer 'C' is not the letter of answer_index 1"):
        Question("q1", "?", ["a", "b"], 1, answer="C")
    with pytest.raises(ValueError, match="has no letter"):
        _ = Question("g1", "?", answer_type="exact", answer="x").answer_letter


@pytest.mark.parametrize(
    ("answer_type", "expected"),
    [
        ("numeric", 'final answer on the last line in the form "Answer: <number>"'),
        ("math", "inside \\boxed{}"),
        ("python_literal", '"Answer: <literal>"'),
        ("exact", '"Answer: <answer>"'),
    ],
)
def test_format_prompt_free_form(answer_type, expected):
    q = Question("g1", " What is 2 + 2? ", answer_type=answer_type, answer="4")
    prompt = format_prompt(q)
    assert expected in prompt and "Think step by step" in prompt
    assert prompt.endswith("Question: What is 2 + 2?")
    assert "Options:" not in prompt
