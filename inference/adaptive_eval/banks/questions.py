"""Question text for benchmarks (multiple choice and free form), and the prompt shown to LMs.

An items file has one row per question with columns ``question_id``, ``question`` (or ``text``),
``options`` (a list, or a JSON list string; empty for a free-form question), the gold answer as
``answer_index`` (0-based) or ``answer`` (a letter A-Z) for multiple choice, or as ``answer`` (a
string: ``18``, ``\\frac{1}{2}``, ``[1, 2]``) for free form, and optionally ``category``,
``answer_type`` (see ``banks.answers``) and ``benchmark``. Formats: ``.csv``, ``.csv.gz``,
``.jsonl``, ``.jsonl.gz``, ``.parquet``.

A row with options is multiple choice. A row without options is free form; its answer type is,
in this order, its ``answer_type`` cell, the ``answer_type`` argument of ``load_questions``, or
that of its ``benchmark`` cell when the benchmark is a known one (``BENCHMARK_ANSWER_TYPES``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .answers import (
    ANSWER_TYPES,
    BENCHMARK_ANSWER_TYPES,
    LETTERS,
    MULTIPLE_CHOICE,
    answer_type_of,
    chance,
    check_answer_type,
    check_gold,
    instruction,
    is_correct,
)
from .tables import TableError, read_table


class QuestionFileError(ValueError):
    """An items file is missing, unreadable, or has a malformed row."""


@dataclass(frozen=True)
class Question:
    """One question. Multiple choice: ``options[answer_index]`` is the correct option and
    ``answer`` its letter. Free form (``answer_type`` other than ``multiple_choice``): no
    options, ``answer`` is the gold answer as a string (``"18"``, ``"\\frac{1}{2}"``)."""

    question_id: str
    text: str
    options: list[str] = field(default_factory=list)
    answer_index: int | None = None
    category: str | None = None
    answer_type: str = MULTIPLE_CHOICE
    answer: str | None = None

    def __post_init__(self) -> None:
        check_answer_type(self.answer_type)
        if self.answer_type == MULTIPLE_CHOICE:
            if self.answer_index is None or not 0 <= self.answer_index < len(self.options):
                raise ValueError(
                    f"question {self.question_id!r}: answer index {self.answer_index} out of "
                    f"range for {len(self.options)} options"
                )
            letter = LETTERS[self.answer_index]
            if self.answer is None:
                object.__setattr__(self, "answer", letter)
            elif self.answer.strip().upper() != letter:
                raise ValueError(
                    f"question {self.question_id!r}: answer {self.answer!r} is not the letter "
                    f"of answer_index {self.answer_index} ({letter})"
                )
        elif self.answer is None or not str(self.answer).strip():
            raise ValueError(
                f"question {self.question_id!r}: no gold answer (a {self.answer_type} question "
                "needs one)"
            )

    @property
    def free_form(self) -> bool:
        return self.answer_type != MULTIPLE_CHOICE

    @property
    def answer_letter(self) -> str:
        """The letter of the correct option (multiple choice only)."""
        if self.answer_index is None:
            raise ValueError(f"question {self.question_id!r} ({self.answer_type}) has no letter")
        return LETTERS[self.answer_index]

    @property
    def chance(self) -> float:
        """Accuracy of a random answer: ``1 / len(options)``, or 0 for free form."""
        return chance(self.answer_type, len(self.options) or None)

    def is_correct(self, extracted: str | None) -> bool:
        """Whether an answer extracted from a reply (``answers.extract``) is the gold one."""
        return is_correct(self.answer_type, extracted, str(self.answer))


def format_prompt(question: Question) -> str:
    """The prompt shared by the LM examinees.

    Multiple choice: the question and its lettered options, ending with ``"Answer:"``, so the
    next token is the letter of the chosen option (``" A"``, ``" B"``, ...). Free form: the
    answer type's instruction (reason, then a final line ``"Answer: <answer>"``, or
    ``\\boxed{}`` for math) and the question.
    """
    lines = [instruction(question.answer_type), "", f"Question: {question.text.strip()}"]
    if not question.free_form:
        lines.append("Options:")
        lines += [f"{LETTERS[i]}. {str(o).strip()}" for i, o in enumerate(question.options)]
        lines.append("Answer:")
    return "\n".join(lines)


def load_questions(
    path: str | Path, answer_type: str | None = None, benchmark: str | None = None
) -> dict[str, Question]:
    """Read an items file (see the module docstring) into ``{question_id: Question}``.

    ``answer_type`` is the type of rows without options and without an ``answer_type`` cell;
    ``benchmark`` keeps only the rows whose ``benchmark`` column has that value (e.g. ``gsm8k``
    from a file holding several benchmarks) and, when it is a known benchmark, implies the
    answer type. Raises ``QuestionFileError`` naming the file (and row, counted from 1 after any
    header, and question) when the file is missing, unreadable, lacks a column, or has a
    malformed row (no options and no answer type, a missing or malformed gold answer, an unknown
    answer type) or a duplicate id; ``AnswerTypeError`` for an unknown ``answer_type`` argument.
    """
    path = Path(path)
    if answer_type is not None:
        check_answer_type(answer_type)
    frame = _read_table(path).reset_index(drop=True)
    if "question" not in frame.columns and "text" in frame.columns:
        frame = frame.rename(columns={"text": "question"})
    missing = [c for c in ("question_id", "question") if c not in frame.columns]
    if "options" not in frame.columns and answer_type is None and not _has_type_hint(frame):
        missing.append("options")
    if "answer_index" not in frame.columns and "answer" not in frame.columns:
        missing.append("answer_index (or answer)")
    if missing:
        raise QuestionFileError(
            f"{path}: missing column(s) {', '.join(missing)}; found {list(frame.columns)}"
        )
    if benchmark is not None:
        frame = _only_benchmark(frame, benchmark, path)
        if answer_type is None:
            answer_type = BENCHMARK_ANSWER_TYPES.get(benchmark)
    if frame.empty:
        raise QuestionFileError(f"{path}: no questions")
    questions: dict[str, Question] = {}
    # row numbers of the file (also after selecting a benchmark), from 1 after the header
    for row_number, row in zip(frame.index + 1, frame.to_dict("records")):
        try:
            question = _question_from_row(row, answer_type)
        except ValueError as err:
            raise QuestionFileError(f"{path}, row {row_number}: {err}") from None
        if question.question_id in questions:
            raise QuestionFileError(
                f"{path}, row {row_number}: duplicate question_id {question.question_id!r}"
            )
        questions[question.question_id] = question
    return questions


def questions_from_records(
    records: Sequence[dict], source: str = "records", answer_type: str | None = None
) -> dict[str, Question]:
    """Like ``load_questions`` for in-memory rows (dicts with the same columns)."""
    if answer_type is not None:
        check_answer_type(answer_type)
    out: dict[str, Question] = {}
    for row_number, row in enumerate(records, start=1):
        try:
            question = _question_from_row(row, answer_type)
        except ValueError as err:
            raise QuestionFileError(f"{source}, row {row_number}: {err}") from None
        out[question.question_id] = question
    return out


def load_categories(path: str | Path) -> dict[str, str]:
    """``{question_id: category}`` from an items file (any format ``load_questions`` reads)."""
    table = _read_table(Path(path))
    if not {"question_id", "category"} <= set(table.columns):
        raise QuestionFileError(f"{path}: needs columns question_id and category")
    return dict(zip(table["question_id"].astype(str), table["category"].astype(str)))


def _read_table(path: Path) -> pd.DataFrame:
    try:
        return read_table(path)
    except TableError as err:
        raise QuestionFileError(str(err)) from None


def _has_type_hint(frame: pd.DataFrame) -> bool:
    return "answer_type" in frame.columns or "benchmark" in frame.columns


def _only_benchmark(frame: pd.DataFrame, benchmark: str, path: Path) -> pd.DataFrame:
    if "benchmark" not in frame.columns:
        raise QuestionFileError(f"{path}: no benchmark column to select {benchmark!r} from")
    names = frame["benchmark"].astype(str)
    if not (names == benchmark).any():
        known = ", ".join(sorted(set(names)))
        raise QuestionFileError(f"{path}: no questions of benchmark {benchmark!r} (has: {known})")
    return frame[names == benchmark]


def _question_from_row(row: dict, answer_type: str | None = None) -> Question:
    """Build a Question from one row; ``ValueError`` with a short reason when malformed."""
    question_id = _text(row.get("question_id"))
    if not question_id:
        raise ValueError("empty question_id")
    text = _text(row.get("question"))
    if not text:
        raise ValueError(f"question {question_id!r}: empty question text")
    category = _text(row.get("category")) or None
    kind = _row_answer_type(row, answer_type, question_id)
    if kind == MULTIPLE_CHOICE:
        options = _options(row.get("options"), question_id)
        answer_index = _answer_index(row, len(options), question_id)
        return Question(question_id, text, options, answer_index, category)
    gold = _text(row.get("answer"))
    if not gold:
        raise ValueError(
            f"question {question_id!r}: no gold answer (its answer cell is empty; a {kind} "
            "question needs one)"
        )
    try:
        check_gold(kind, gold)
    except ValueError as err:
        raise ValueError(f"question {question_id!r}: {err}") from None
    return Question(question_id, text, [], None, category, kind, gold)


def _row_answer_type(row: dict, answer_type: str | None, question_id: str) -> str:
    """A row's own ``answer_type`` cell; else multiple choice when it has options; else the
    ``answer_type`` argument; else that of its ``benchmark`` cell."""
    own = _text(row.get("answer_type"))
    if own:
        if own not in ANSWER_TYPES:
            raise ValueError(
                f"question {question_id!r}: unknown answer type {own!r}; known: "
                f"{', '.join(ANSWER_TYPES)}"
            )
        return own
    if not _is_empty_options(row.get("options")):
        return MULTIPLE_CHOICE
    if answer_type is not None:
        return answer_type
    kind = answer_type_of(_text(row.get("benchmark")))
    if kind is None:
        raise ValueError(
            f"question {question_id!r}: no options and no answer type (pass answer_type=..., "
            f"or add an answer_type column: {', '.join(ANSWER_TYPES)})"
        )
    return kind


def _is_empty_options(value: object) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    if isinstance(value, str):
        return value.strip() in ("", "[]")
    if isinstance(value, (list, tuple, np.ndarray)):
        return len(value) == 0
    return False


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


def question_text(question: str, options: Sequence[str] | str | None = None) -> str:
    """The canonical text given to the encoder: the question, then one line per option.

    ``options`` is a list of strings or a JSON list (as in MMLU-Pro's ``options`` column)::

        <question>
        A. <option 0>
        B. <option 1>
        ...
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError("question_text: the question is empty")
    if isinstance(options, str):
        options = json.loads(options)
    lines = [question.strip()]
    if options:
        options = list(options)
        if len(options) > len(LETTERS):
            raise ValueError(f"question_text: {len(options)} options, at most {len(LETTERS)}")
        lines += [f"{LETTERS[i]}. {str(opt).strip()}" for i, opt in enumerate(options)]
    return "\n".join(lines)
