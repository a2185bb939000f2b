"""What every examinee is: the ``Examinee`` protocol, its ``Answer`` and its errors.

An examinee has a ``name``, says which questions it can answer (``answerable``), and answers one
question at a time (``answer`` returns 1 for correct, 0 for wrong, or an ``Answer``, which is
usable as that int and also carries the raw reply and the extracted answer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..banks import protocol as bank_protocol
from ..banks.answers import extract
from ..banks.questions import Question


class ExamineeError(RuntimeError):
    """An examinee cannot answer: server unreachable, no question text, model not loadable."""


class ExamineeSpecError(ExamineeError, ValueError):
    """A user's input names no usable examinee: a spec that does not parse, an unknown model."""


@dataclass(frozen=True, eq=False)
class Answer:
    """An LM examinee's answer to one question: ``correct`` (1/0), the raw ``response`` (None
    when nothing was generated: multiple choice by log-likelihood), the ``extracted`` answer
    (the option letter, or the parsed free-form answer; None when the reply gives none), whether
    the reply was cut at the token budget and the tokens it cost.

    It stands for ``correct`` wherever an int is expected: ``int(answer)``, ``answer == 1``,
    ``bool(answer)``, numpy arrays of answers with ``dtype=int``.
    """

    correct: int
    response: str | None = None
    extracted: str | None = None
    truncated: bool | None = None  # the reply stopped at the token budget (None: not generated)
    tokens: dict[str, int] | None = None  # {"prompt": .., "completion": ..} as the server said

    def details(self) -> dict:
        """What a test step records beside ``correct``: response, extracted, truncated, tokens."""
        return {"response": self.response, "extracted": self.extracted,
                "truncated": self.truncated, "tokens": self.tokens}

    def __int__(self) -> int:
        return int(self.correct)

    __index__ = __int__

    def __float__(self) -> float:
        return float(self.correct)

    def __bool__(self) -> bool:
        return bool(self.correct)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Answer):
            return (self.correct, self.details()) == (other.correct, other.details())
        if isinstance(other, (int, np.integer)):
            return int(self.correct) == int(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(int(self.correct))


@runtime_checkable
class Examinee(Protocol):
    """What an adaptive test needs from whoever answers its questions."""

    name: str

    def answerable(self, question_ids: Sequence[str]) -> np.ndarray:
        """Boolean array: which of ``question_ids`` this examinee can answer."""
        ...

    def answer(self, question_id: str) -> int | Answer:
        """1 if the examinee answers ``question_id`` correctly, else 0 (an ``Answer`` counts as
        its ``correct``)."""
        ...


class QuestionExaminee:
    """Base for examinees that need question text: answerable = has text in ``questions``;
    ``protocol``: how each question is asked and read (``protocol_of``)."""

    name: str

    def __init__(self, questions: Mapping[str, Question],
                 protocol: bank_protocol.Protocol | Mapping | None = None) -> None:
        self.questions = questions
        self.protocol = protocol

    def protocol_of(self, question: Question) -> bank_protocol.Protocol | None:
        """The bank's calibration protocol ``question`` is asked under: ``protocol`` itself, or
        its entry for the question's id when it is a mapping (a suite: each bank's own); None:
        the package's quick way."""
        if isinstance(self.protocol, Mapping):
            return self.protocol.get(question.question_id)
        return self.protocol

    def answerable(self, question_ids: Sequence[str]) -> np.ndarray:
        return np.fromiter(
            (str(q) in self.questions for q in question_ids), dtype=bool, count=len(question_ids)
        )

    def question(self, question_id: str) -> Question:
        try:
            return self.questions[str(question_id)]
        except KeyError:
            raise ExamineeError(f"{self.name}: no question text for id {question_id!r}") from None


@dataclass(frozen=True)
class Completion:
    """One generated reply: ``text``, ``truncated`` (generation stopped at the token budget)
    and ``tokens`` (``{"prompt": n, "completion": m}``; None when the backend reports none)."""

    text: str
    truncated: bool
    tokens: dict[str, int] | None


def score_reply(question: Question, reply: str | Completion) -> Answer:
    """An ``Answer`` for a reply to ``question``: extracted and checked against its gold."""
    if isinstance(reply, Completion):
        answer = score_reply(question, reply.text)
        return Answer(answer.correct, answer.response, answer.extracted, reply.truncated,
                      reply.tokens)
    extracted = extract(question.answer_type, reply, len(question.options) or None)
    return Answer(int(question.is_correct(extracted)), reply, extracted)
