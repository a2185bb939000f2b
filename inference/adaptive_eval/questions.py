"""Question text for multiple-choice benchmarks (MMLU-Pro style), and the prompt shown to LMs.

An items file has one row per question with columns ``question_id``, ``question``, ``options``
(a list, or a JSON list string), ``answer_index`` (0-based) or ``answer`` (a letter A-Z), and
optionally ``category``. Formats: ``.csv``, ``.csv.gz``, ``.jsonl``, ``.jsonl.gz``, ``.parquet``.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

LETTERS = string.ascii_uppercase
MMLU_PRO = "TIGER-Lab/MMLU-Pro"


class QuestionFileError(ValueError):
    """An items file is missing, unreadable, or has a malformed row."""


@dataclass(frozen=True)
class Question:
    """One multiple-choice question; ``options[answer_index]`` is the correct option."""

    question_id: str
    text: str
    options: list[str]
    answer_index: int
    category: str | None = None

    @property
    def answer_letter(self) -> str:
        return LETTERS[self.answer_index]


def format_prompt(question: Question) -> str:
    """The multiple-choice prompt shared by the LM examinees; it ends with ``"Answer:"``, so the
    next token is the letter of the chosen option (``" A"``, ``" B"``, ...)."""
    lines = [
        "The following is a multiple choice question. Reply with the letter of the correct option.",
        "",
        f"Question: {question.text.strip()}",
        "Options:",
    ]
    lines += [f"{LETTERS[i]}. {str(option).strip()}" for i, option in enumerate(question.options)]
    lines.append("Answer:")
    return "\n".join(lines)


def load_questions(path: str | Path) -> dict[str, Question]:
    """Read an items file (see the module docstring) into ``{question_id: Question}``.

    Raises ``QuestionFileError`` naming the file (and row, counted from 1 after any header) when
    the file is missing, unreadable, lacks a column, or has a malformed row or a duplicate id.
    """
    path = Path(path)
    frame = _read_table(path)
    if "question" not in frame.columns and "text" in frame.columns:
        frame = frame.rename(columns={"text": "question"})
    missing = [c for c in ("question_id", "question", "options") if c not in frame.columns]
    if "answer_index" not in frame.columns and "answer" not in frame.columns:
        missing.append("answer_index (or answer)")
    if missing:
        raise QuestionFileError(
            f"{path}: missing column(s) {', '.join(missing)}; found {list(frame.columns)}"
        )
    if frame.empty:
        raise QuestionFileError(f"{path}: no questions")
    questions: dict[str, Question] = {}
    for row_number, row in enumerate(frame.to_dict("records"), start=1):
        try:
            question = _question_from_row(row)
        except ValueError as err:
            raise QuestionFileError(f"{path}, row {row_number}: {err}") from None
        if question.question_id in questions:
            raise QuestionFileError(
                f"{path}, row {row_number}: duplicate question_id {question.question_id!r}"
            )
        questions[question.question_id] = question
    return questions


def questions_from_records(records: Sequence[dict], source: str = "records") -> dict[str, Question]:
    """Like ``load_questions`` for in-memory rows (dicts with the same columns)."""
    out: dict[str, Question] = {}
    for row_number, row in enumerate(records, start=1):
        try:
            question = _question_from_row(row)
        except ValueError as err:
            raise QuestionFileError(f"{source}, row {row_number}: {err}") from None
        out[question.question_id] = question
    return out


def download_mmlu_pro(split: str = "test") -> dict[str, Question]:
    """Download MMLU-Pro's questions from the Hugging Face Hub (needs ``datasets`` and internet).

    Raises ``QuestionFileError`` with a clear message when it cannot (offline, not installed).
    """
    try:
        from datasets import load_dataset
    except ImportError:
        raise QuestionFileError(
            f"downloading {MMLU_PRO} needs the 'datasets' package (pip install datasets); "
            "or pass an items file"
        ) from None
    try:
        dataset = load_dataset(MMLU_PRO, split=split)
    except Exception as err:
        raise QuestionFileError(
            f"could not download {MMLU_PRO} ({type(err).__name__}: {str(err)[:200]}); "
            "no internet? pass an items file instead (e.g. --items items.csv.gz)"
        ) from None
    return questions_from_records(dataset, source=f"{MMLU_PRO} ({split})")


def load_categories(path: str | Path) -> dict[str, str]:
    """``{question_id: category}`` from an items file (any format ``load_questions`` reads)."""
    table = _read_table(Path(path))
    if not {"question_id", "category"} <= set(table.columns):
        raise QuestionFileError(f"{path}: needs columns question_id and category")
    return dict(zip(table["question_id"].astype(str), table["category"].astype(str)))


def chance_accuracy(path: str | Path, ids=None) -> float | None:
    """Mean of ``1 / (number of options)`` over the items of ``path`` (those in ``ids`` if
    given): the accuracy of answering at random; ``None`` without an ``options`` column."""
    table = _read_table(Path(path))
    if "options" not in table.columns:
        return None
    if ids is not None:
        table = table[table["question_id"].astype(str).isin({str(i) for i in ids})]
    counts = table["options"].map(lambda o: len(json.loads(o) if isinstance(o, str) else o))
    counts = counts[counts > 0]
    return float((1 / counts).mean()) if len(counts) else None


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise QuestionFileError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path, dtype={"question_id": str}, keep_default_na=False)
        if name.endswith((".jsonl", ".jsonl.gz")):
            return pd.read_json(path, lines=True, dtype={"question_id": str})
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
    except Exception as err:
        raise QuestionFileError(f"{path}: cannot read ({type(err).__name__}: {err})") from None
    raise QuestionFileError(f"{path}: unknown format; use .csv, .csv.gz, .jsonl(.gz) or .parquet")


def _question_from_row(row: dict) -> Question:
    """Build a Question from one row; ``ValueError`` with a short reason when malformed."""
    question_id = _text(row.get("question_id"))
    if not question_id:
        raise ValueError("empty question_id")
    text = _text(row.get("question"))
    if not text:
        raise ValueError(f"question {question_id!r}: empty question text")
    options = _options(row.get("options"), question_id)
    answer_index = _answer_index(row, len(options), question_id)
    category = _text(row.get("category")) or None
    return Question(question_id, text, options, answer_index, category)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _options(value: object, question_id: str) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"question {question_id!r}: options is not a JSON list") from None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"question {question_id!r}: options must be a list")
    if not 2 <= len(value) <= len(LETTERS):
        raise ValueError(
            f"question {question_id!r}: needs 2-{len(LETTERS)} options, has {len(value)}"
        )
    return [str(option) for option in value]


def _answer_index(row: dict, n_options: int, question_id: str) -> int:
    index = row.get("answer_index")
    if index is not None and _text(index) != "":
        try:
            number = float(index)
        except (TypeError, ValueError):
            raise ValueError(
                f"question {question_id!r}: answer_index {index!r} is not a number"
            ) from None
        if not number.is_integer():
            raise ValueError(f"question {question_id!r}: answer_index {index!r} is not an integer")
        answer = int(number)
    else:
        letter = _text(row.get("answer")).upper()
        if len(letter) != 1 or letter not in LETTERS:
            raise ValueError(f"question {question_id!r}: answer {letter!r} is not a letter A-Z")
        answer = LETTERS.index(letter)
    if not 0 <= answer < n_options:
        raise ValueError(
            f"question {question_id!r}: answer index {answer} out of range for {n_options} options"
        )
    return answer
