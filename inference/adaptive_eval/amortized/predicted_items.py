"""Predicted items join a bank on that bank's difficulty scale.

Every bank is calibrated on its own models, so its ``b`` scale is its own; the difficulty
predictor has one scale per benchmark it was trained on (``config.benchmarks``, ``predictor.py``)
and a pooled one for the rest. An item whose parameters come from text (``cli predict --bank``,
``generator.add_to_bank``, the generated items of ``cat/thin_bank.py``) must be on the scale of
the bank it joins, or its ``b`` means something else than its neighbours'.

``bank_scale(predictor, bank, benchmark)``: the predictor's benchmark for the bank, ``benchmark``
when given, else the bank's ``metadata["name"]``; ``None`` (the pooled scale) when the predictor
does not know that name (``scale_note`` says so in one line, for the progress).
``predict_for_bank`` predicts on it; ``add_predicted`` extends the bank with the predictions
(``ItemBank.extend``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..banks.bank import ItemBank
from .predictor import DifficultyPredictor


def _wanted(bank: ItemBank | None, benchmark: str | None) -> str | None:
    if benchmark:
        return str(benchmark)
    name = bank.metadata.get("name") if bank is not None else None
    return str(name) if name else None


def bank_scale(predictor: DifficultyPredictor, bank: ItemBank | None = None,
               benchmark: str | None = None) -> str | None:
    """The predictor's benchmark whose difficulty scale is ``bank``'s (module docstring), or
    ``None`` for the pooled scale."""
    wanted = _wanted(bank, benchmark)
    return wanted if wanted in predictor.config.benchmarks else None


def scale_note(predictor: DifficultyPredictor, bank: ItemBank | None = None,
               benchmark: str | None = None) -> str:
    """One line naming the scale ``bank_scale`` picks, and why when it is the pooled one."""
    wanted, scale = _wanted(bank, benchmark), bank_scale(predictor, bank, benchmark)
    if scale is not None:
        return f"difficulty scale: {scale}"
    if wanted is None:
        return "difficulty scale: pooled (no benchmark named)"
    known = ", ".join(predictor.config.benchmarks) or "none"
    return (f"difficulty scale: pooled ({wanted!r} is not among the predictor's benchmarks: "
            f"{known})")


def predict_for_bank(predictor: DifficultyPredictor, texts: Sequence[str],
                     categories: Sequence[str | None] | None = None,
                     bank: ItemBank | None = None, benchmark: str | None = None
                     ) -> dict[str, np.ndarray]:
    """``predictor.predict_parameters`` of ``texts`` on ``bank``'s scale (``bank_scale``)."""
    return predictor.predict_parameters(list(texts), categories,
                                        benchmarks=bank_scale(predictor, bank, benchmark))


def add_predicted(bank: ItemBank, ids: Sequence[str], texts: Sequence[str],
                  categories: Sequence[str | None] | None, predictor: DifficultyPredictor,
                  benchmark: str | None = None,
                  params: dict[str, np.ndarray] | None = None) -> ItemBank:
    """A new bank: ``bank``'s items, then ``ids`` as *predicted* items with the parameters of
    ``texts`` on ``bank``'s scale (``params``: those predictions, when already made with
    ``predict_for_bank`` on the same scale)."""
    if params is None:
        params = predict_for_bank(predictor, texts, categories, bank, benchmark)
    scale = bank_scale(predictor, bank, benchmark) or "pooled"
    return bank.extend(ids, params, categories,
                       predicted_by=f"{predictor.config.artifact}: {predictor.config.encoder} "
                       f"(scale {scale})")
