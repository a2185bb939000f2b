"""The Difficulty tab's handler: a pasted question's predicted IRT difficulty, where it falls in
the default bank, and its nearest calibrated questions.

The prediction is ``DifficultyPredictor.predict``; the nearest questions are those of a fixed
random sample of the bank (``resources.similar_sample``) with the largest cosine similarity
``e_q . e_i`` of the predictor's unit embeddings (``DifficultyPredictor.embed``).
"""

from __future__ import annotations

import numpy as np
from adaptive_eval.banks.questions import question_text
from choices import ANY
from resources import UserError, bank, first_line, predictor, similar_sample
from views import PROGRESS, difficulty_figure, similar_frame, warn

MAX_TEXT = 5000  # characters of question + options
N_SIMILAR = 5


def predictor_input(question: str, options: str) -> str:
    """The predictor's text of a question and its options (one per line); ``UserError`` for
    empty or oversized input."""
    question = (question or "").strip()
    opts = [line.strip() for line in (options or "").splitlines() if line.strip()]
    if not question:
        raise UserError("Enter a question to predict its difficulty.")
    size = len(question) + sum(len(o) for o in opts)
    if size > MAX_TEXT:
        raise UserError(f"The question is too long ({size:,} characters); at most {MAX_TEXT:,}.")
    if len(opts) > 26:
        raise UserError(f"At most 26 options, got {len(opts)}.")
    return question_text(question, opts or None)


def nearest(model, text: str, progress=None) -> tuple[list[dict], int]:
    """The ``N_SIMILAR`` sample questions most similar to ``text`` (rows of ``similar_frame``),
    most similar first, and the sample's size."""
    picked, emb = similar_sample(progress)
    query = model.embed([text])[0]
    sims = emb @ (query / max(np.linalg.norm(query), 1e-12))
    top = np.argsort(-sims)[:N_SIMILAR]
    b_of = bank().b[bank().index([q.question_id for q in picked])]
    rows = [{"similarity": round(float(sims[k]), 3), "difficulty b": round(float(b_of[k]), 2),
             "category": picked[k].category or "", "question": picked[k].text[:300]}
            for k in top]
    return rows, len(picked)


def predict_difficulty(question, options="", category=ANY, progress=PROGRESS):
    """Returns (message, plot, similar questions table)."""
    try:
        text = predictor_input(question, options)
        if progress:
            progress(0.05, desc="loading the difficulty predictor")
        model = predictor()
        cat = None if category in (None, "", ANY) else category
        b, se = model.predict([text], [cat])
        b, se = float(b[0]), float(se[0])
        share = float(np.mean(bank().b < b))
        message = (f"Predicted difficulty **b = {b:.2f} ± {se:.2f}**: harder than "
                   f"**{share:.0%}** of the {len(bank()):,} calibrated MMLU-Pro questions.")
        table = similar_frame()
        try:
            rows, size = nearest(model, text, progress)
            table = similar_frame(rows)
            message += (f"\n\nThe most similar questions among a fixed random sample of "
                        f"{size:,} calibrated ones are listed below.")
        except UserError as err:
            message += f"\n\nNo similar questions: {err}"
        return message, difficulty_figure(b, se, bank().b), table
    except UserError as err:
        return warn(str(err)), None, similar_frame()
    except Exception as err:  # noqa: BLE001
        return warn(f"Something went wrong: {first_line(err)}"), None, similar_frame()
