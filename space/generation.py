"""The Generate tab's handler: new questions at a chosen difficulty (``QuestionGenerator``),
each marked verified, rejected or unchecked (whether a solver checked its key)."""

from __future__ import annotations

import math

from choices import ANY
from resources import UserError, first_line, generator
from views import PROGRESS, generated_frame, generated_markdown, warn

MAX_DIFFICULTY = 6.0
MAX_QUESTIONS = 8


def generate_questions(difficulty, category=ANY, n=1, progress=PROGRESS):
    """``(markdown of the generated questions or a message, their table)``."""
    empty = generated_frame([])
    try:
        try:
            difficulty, n = float(difficulty), int(n)
        except (TypeError, ValueError):
            raise UserError("Difficulty and number of questions must be numbers.") from None
        if not math.isfinite(difficulty) or abs(difficulty) > MAX_DIFFICULTY:
            raise UserError(f"Difficulty must be between -{MAX_DIFFICULTY:g} and "
                            f"{MAX_DIFFICULTY:g}, got {difficulty}.")
        if not 1 <= n <= MAX_QUESTIONS:
            raise UserError(f"Ask for 1 to {MAX_QUESTIONS} questions, got {n}.")
        if progress:
            progress(0.05, desc="loading the question generator")
        gen = generator()
        if progress:
            progress(0.3, desc=f"writing and checking candidates (about {n * gen.config.best_of})")
        cat = None if category in (None, "", ANY) else category
        items = gen.generate(difficulty, n=n, category=cat)
        if not items:
            return warn("The generator produced no well-formed question this time; try again or "
                        "another difficulty."), empty
        return generated_markdown(difficulty, items), generated_frame(items)
    except UserError as err:
        return warn(str(err)), empty
    except Exception as err:  # noqa: BLE001
        return warn(f"Something went wrong: {first_line(err)}"), empty
