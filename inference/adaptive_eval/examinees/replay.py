"""Replay: a model's recorded answers (``ResponseData``) answer the test; only recorded cells.

Binary data answer 0/1; graded data answer the recorded score in [0, 1]."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np

from ..banks.responses import ResponseData
from .base import ExamineeError, ExamineeSpecError


class ReplayExaminee:
    """Answers with ``model``'s recorded responses in ``data``; answerable = recorded cells."""

    def __init__(self, data: ResponseData, model: str) -> None:
        if model not in data.models:
            close = difflib.get_close_matches(model, data.models, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(data.models[:5]) + (", ..." if len(data.models) > 5 else "")
            raise ExamineeSpecError(
                f"unknown model {model!r} in the responses ({len(data.models)} models: {known})"
                f"{hint}"
            )
        self.name = f"replay:{model}"
        self.model = model
        rows = np.asarray(data.model_index) == data.models.index(model)
        items, correct = np.asarray(data.item_index)[rows], np.asarray(data.correct)[rows]
        cast = float if data.graded else int  # a graded score is returned as recorded
        self._correct = {data.question_ids[i]: cast(c) for i, c in zip(items, correct, strict=True)}

    def answerable(self, question_ids: Sequence[str]) -> np.ndarray:
        return np.fromiter(
            (str(q) in self._correct for q in question_ids), dtype=bool, count=len(question_ids)
        )

    def answer(self, question_id: str) -> int | float:
        try:
            return self._correct[str(question_id)]
        except KeyError:
            raise ExamineeError(
                f"{self.name}: no recorded answer to question {question_id!r}"
            ) from None
