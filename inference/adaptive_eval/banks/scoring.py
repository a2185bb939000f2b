"""Rescoring raw outputs with a bank's own answer-reading rule (``adaptive-eval score``).

An outputs table has one row per answer: ``question_id`` and ``output`` (the model's raw text);
other columns (``model``, ...) are kept. ``score_outputs`` adds ``extracted`` (None when the rule
finds no answer) and ``correct`` (0/1, the benchmark's own verdict against the gold answer).

The gold answers come from the bank's Hub dataset (``hub_questions.bank_questions``) or from an
items file (``scoring_questions``: the columns of ``banks.questions``; rows of the protocol's
benchmark when the file has a ``benchmark`` column; an empty question text is allowed, since only
the key is needed). Where the protocol's ``gold`` says the labels were judged against the
annotators' corrected key (MMLU-Redux as ZeroEval keys it), an item marked
``error_type == "wrong_groundtruth"`` with a ``corrected_answer`` letter is keyed by it.

``bank_protocol`` is a bank's protocol or a user error saying it has none; ``gold_questions``
picks the source of the gold answers (an items file, else the Hub dataset).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .answers import BENCHMARK_ANSWER_TYPES, LETTERS, MULTIPLE_CHOICE
from .hub_questions import bank_questions
from .protocol import Protocol, load_protocol
from .questions import Question, QuestionFileError
from .tables import read_table

OUTPUT_COLUMNS = ("question_id", "output")


def bank_protocol(name: str) -> Protocol:
    """The calibration protocol of bank ``name``; ``InputError`` when it carries none."""
    protocol = load_protocol(name)
    if protocol is None:
        raise InputError(f"bank {name!r} carries no calibration protocol (protocol.json), so "
                         "its benchmark's way of asking and reading is not known here")
    return protocol


def gold_questions(name: str, protocol: Protocol, items: str | None,
                   ids: Iterable[str]) -> dict[str, Question]:
    """The questions (gold answers) of ``ids``: from the items file ``items``
    (``scoring_questions``) or else bank ``name``'s Hub dataset."""
    if items:
        return scoring_questions(items, protocol)
    return bank_questions(name, ids=sorted(set(ids)))


def read_outputs(path: str | Path) -> pd.DataFrame:
    """The outputs table at ``path`` (``read_table`` formats); ``InputError`` naming the file
    when it lacks ``question_id`` or ``output``. Empty cells stay empty strings."""
    frame = read_table(path)
    missing = [c for c in OUTPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; an outputs table has "
                         f"question_id and output (found {list(frame.columns)})")
    frame = frame.copy()
    frame["question_id"] = frame["question_id"].astype(str)
    frame["output"] = frame["output"].map(lambda v: "" if v is None or v != v else str(v))
    return frame


def scoring_questions(path: str | Path, protocol: Protocol) -> dict[str, Question]:
    """``{question_id: Question}`` with the gold answers of the items file ``path`` as the
    protocol's benchmark keyed them (see the module docstring); ``QuestionFileError`` naming the
    file and row for a malformed gold answer."""
    frame = read_table(path)
    if "question_id" not in frame.columns:
        raise QuestionFileError(f"{path}: no question_id column")
    if "benchmark" in frame.columns and (frame["benchmark"] == protocol.benchmark).any():
        frame = frame[frame["benchmark"] == protocol.benchmark]
    answer_type = BENCHMARK_ANSWER_TYPES.get(protocol.benchmark, MULTIPLE_CHOICE)
    corrected = "corrected_answer" in protocol.gold
    out: dict[str, Question] = {}
    for row_number, row in enumerate(frame.to_dict("records"), start=1):
        try:
            question = _gold_question(row, answer_type, corrected)
        except ValueError as err:
            raise QuestionFileError(f"{path}, row {row_number}: {err}") from None
        if question is not None:
            out[question.question_id] = question
    return out


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _gold_question(row: dict, answer_type: str, corrected: bool) -> Question | None:
    """One row as a Question keyed the protocol's way; None for a row without a key."""
    question_id = _text(row.get("question_id"))
    text = str(row.get("question") or row.get("text") or "")
    category = _text(row.get("category")) or None
    if answer_type != MULTIPLE_CHOICE:
        gold = _text(row.get("answer"))
        return Question(question_id, text, [], None, category, answer_type, gold) if gold else None
    options = row.get("options")
    if isinstance(options, str):
        options = json.loads(options) if options.strip() else []
    options = [str(o) for o in (options if options is not None else [])]
    letter = _text(row.get("answer")).upper()
    index = _text(row.get("answer_index"))
    if corrected and _text(row.get("error_type")) == "wrong_groundtruth":
        fixed = _text(row.get("corrected_answer")).upper()
        if len(fixed) == 1 and fixed in LETTERS:
            letter, index = fixed, ""
    if index:
        answer_index = int(float(index))
    elif len(letter) == 1 and letter in LETTERS:
        answer_index = LETTERS.index(letter)
    else:
        return None
    return Question(question_id, text, options, answer_index, category)


def score_outputs(outputs: pd.DataFrame, protocol: Protocol, questions: dict[str, Question],
                  rule: str | None = None) -> pd.DataFrame:
    """``outputs`` with ``extracted`` and ``correct`` added, read and judged by the protocol's
    rule (or the rule named ``rule``). ``InputError`` naming the ids that have no gold answer."""
    unknown = sorted(set(outputs["question_id"]) - set(questions))
    if unknown:
        raise InputError(f"{len(unknown)} question id(s) of the outputs have no gold answer for "
                         f"{protocol.benchmark} (e.g. {', '.join(map(repr, unknown[:5]))}): "
                         "check the ids, or pass the items file that has them (--items)")
    scored = [protocol.score(output, questions[qid], rule)
              for qid, output in zip(outputs["question_id"], outputs["output"], strict=True)]
    result = outputs.copy()
    result["extracted"] = pd.Series([e for e, _ in scored], index=result.index, dtype=object)
    result["correct"] = [c for _, c in scored]
    return result
