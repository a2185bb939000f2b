"""Generated items where a bank is thin: the ``item_source`` of an ``AdaptiveTest``.

``ThinBankItems(theta, category, asked)`` generates items at the target ``clip(theta,
DIFFICULTY_RANGE)`` (``QuestionGenerator.generate`` with a ``Verifier``: only an item whose key
the solvers agreed with is used), gives the best one the predictor's parameters ``b``, ``b_se``
(and ``a`` when the predictor has a discrimination head, else 1) on the bank's difficulty scale
(``predicted_items.predict_for_bank``), adds it to the examinee's question table under
``generated-<sha256 of its text>``, and returns it as the dict the test records: the parameters,
the category, and the whole item (question, options, answer, answer type, target and predicted
difficulty, verified, agreement, solver answers), so a resumed session needs no generation.
``None`` when no candidate was verified, or when the item's id is among ``asked`` (the ids the
test has asked, replayed ones included: the same question is never asked twice).

Sampling is seeded by ``seed`` and the number of questions asked so far, ``len(asked)``, not by
a count of calls: a resumed test, whose calls start again at 0, does not draw the seeds (and so
the items) of the questions it already asked.

``thin_bank_items`` wires one for an examinee: the generator a backend names
(``backends.load_generator``), solvers (default ``verify.DEFAULT_SOLVER``), and the examinee's
question table, which only an examinee answering new questions (``hf:``, ``openai:``) has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, MutableMapping

import numpy as np

from ..amortized.backends import load_generator
from ..amortized.generator import DIFFICULTY_RANGE, QuestionGenerator
from ..amortized.predicted_items import predict_for_bank, scale_note
from ..amortized.verify import DEFAULT_SOLVER, Verifier
from ..banks.answers import MULTIPLE_CHOICE
from ..banks.bank import ItemBank
from ..banks.questions import Question
from ..errors import InputError


class ThinBankItems:
    """An ``AdaptiveTest.item_source`` (module docstring) for the test on ``bank`` (whose
    difficulty scale the items' parameters are on). ``questions`` is the examinee's question
    table (``examinee.questions``), where each generated item is added."""

    def __init__(self, generator: QuestionGenerator, verifier: Verifier,
                 questions: MutableMapping[str, Question], *, bank: ItemBank,
                 best_of: int = 4, seed: int = 0,
                 progress: Callable[[str], None] | None = None) -> None:
        self.generator, self.verifier, self.questions = generator, verifier, questions
        self.bank = bank
        self.best_of, self.seed = int(best_of), int(seed)
        self.progress = progress
        self.calls = 0
        if progress:
            progress(f"generated items: {scale_note(generator.predictor, bank)}")

    def __call__(self, theta: float, category: str | None,
                 asked: Collection[str] = ()) -> dict | None:
        self.calls += 1
        target = float(np.clip(theta, *DIFFICULTY_RANGE))
        wanted = category if category in self.generator.config.categories else None
        say = self.progress or (lambda line: None)
        say(f"the bank is thin at theta {theta:+.2f}: generating an item at {target:+.2f}"
            + (f" ({wanted})" if wanted else ""))
        items = self.generator.generate(target, n=1, category=wanted, best_of=self.best_of,
                                        seed=self.seed * 1000 + len(asked),
                                        verifier=self.verifier, progress=self.progress)
        if not items:
            return None
        item = items[0]
        question_id = "generated-" + hashlib.sha256(item.text().encode()).hexdigest()[:12]
        if question_id in asked:
            say(f"the generated item {question_id} was asked already: asking the bank's best "
                "item instead")
            return None
        params = predict_for_bank(self.generator.predictor, [item.text()], [item.category],
                                  self.bank)
        multiple_choice = item.answer_type == MULTIPLE_CHOICE
        self.questions[question_id] = Question(
            question_id, item.question, list(item.options),
            item.answer_index if multiple_choice else None, category, item.answer_type,
            item.answer)
        return item.to_dict() | {
            "question_id": question_id, "b": float(params["b"][0]),
            "a": float(params["a"][0]) if "a" in params else 1.0,
            "b_se": float(params["b_se"][0]), "category": category}


def thin_bank_items(backend: str, examinee, bank: ItemBank, *, spec: str,
                    bank_name: str | None = None, items: list[str] | None = None,
                    verify_with: list[str] | None = None, seed: int = 0,
                    progress: Callable[[str], None] | None = None) -> ThinBankItems:
    """A ``ThinBankItems`` for ``examinee`` (built from ``spec``) tested on ``bank``: items by
    the generator ``backend`` names (``load_generator`` with ``bank_name`` and its items files
    ``items``), verified by the solvers ``verify_with`` (default ``DEFAULT_SOLVER``).
    ``InputError`` when the examinee has no question table to add the items to."""
    if not isinstance(getattr(examinee, "questions", None), dict):
        raise InputError("--generate-when-thin needs an examinee that answers new questions "
                         f"(hf: or openai:), not {spec!r}")
    verifier = Verifier(verify_with or [DEFAULT_SOLVER])
    generator = load_generator(backend, bank_name, items, progress=progress)
    return ThinBankItems(generator, verifier, examinee.questions, bank=bank, seed=seed,
                         progress=progress)
