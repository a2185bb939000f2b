"""Question files (CSV / CSV.gz / JSONL / parquet), their errors, the prompt, and the download."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from adaptive_eval.questions import (
    Question,
    QuestionFileError,
    chance_accuracy,
    format_prompt,
    load_questions,
)

ITEMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmlu_pro" / "items.csv.gz"

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


def test_download_offline_is_a_clear_error(tmp_path):
    """Offline (forced with HF_HUB_OFFLINE, empty caches) the download says what to do instead."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_CACHE": str(tmp_path / "datasets"),
    }
    code = (
        "from adaptive_eval.questions import download_mmlu_pro, QuestionFileError\n"
        "try:\n    download_mmlu_pro()\nexcept QuestionFileError as err:\n    print('ERR', err)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ERR could not download TIGER-Lab/MMLU-Pro" in out.stdout
    assert "pass an items file" in out.stdout


def test_chance_accuracy_is_the_mean_of_one_over_the_options(tmp_path):
    path = tmp_path / "items.csv"
    pd.DataFrame({"question_id": ["a", "b", "c"], "question": ["?"] * 3,
                  "options": [json.dumps(["x"] * 4), json.dumps(["x"] * 10),
                              json.dumps(["x"] * 5)]}).to_csv(path, index=False)
    assert chance_accuracy(path) == pytest.approx((1 / 4 + 1 / 10 + 1 / 5) / 3)
    assert chance_accuracy(path, ids=["a", "b"]) == pytest.approx((1 / 4 + 1 / 10) / 2)
    assert chance_accuracy(path, ids=["zzz"]) is None
    pd.DataFrame({"question_id": ["a"], "category": ["x"]}).to_csv(path, index=False)
    assert chance_accuracy(path) is None
