"""Verification of generated items: structural checks, then solvers that answer without the key.

Structure (``structure_problem``): a multiple-choice item needs distinct options, a key that
names one of them, and options of the kind the question asks for: when the question asks for a
physical quantity whose units we know ("what is the magnetic field ...") and the options carry
units, at least one option must be in that quantity's units. A free-form item needs a gold
answer of its answer type (``answers.check_gold``).

Solvers (``Verifier``): any examinee spec (``hf:``, ``openai:``, parsed and built by
``examinees.examinee_from_spec``). Each solver sees the item as an ordinary question, never the
key. A multiple-choice item is asked ``repeats`` times with its options rotated by
``k * n_options // repeats`` places (so a greedy solver gives several nearly independent
answers and a solver that always picks one letter disagrees with itself); each chosen option is
mapped back to the item's own letter. A free-form item is asked once per solver (the LM
examinees decode greedily, so repeats would only copy the answer).

With ``m`` answers in all, of which ``k`` equal the key (free form: ``answers.is_correct``),
``agreement = k / m``; ``verified`` is true when ``agreement >= min_agreement`` and false
otherwise (also when the structure check fails: then no solver is asked). ``None`` means
unchecked. ``consensus`` is the answer given in more than half of the ``m`` answers (None when
there is none), so a rejected item shows what the solvers thought the key was.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..banks.answers import LETTERS, MULTIPLE_CHOICE, check_gold, is_correct
from ..banks.questions import Question
from ..errors import InputError
from ..examinees import Examinee, examinee_from_spec

#: the solver checking generated items' keys by default: the embedded generator's base model
DEFAULT_SOLVER = "hf:HuggingFaceTB/SmolLM2-135M-Instruct"

#: units of the physical quantities a question may ask for (lower-case, as written in options)
QUANTITY_UNITS = {
    "magnetic field": {"t", "tesla", "mt", "µt", "ut", "gauss", "g", "nt"},
    "speed": {"m/s", "km/h", "km/s", "mph", "cm/s"},
    "velocity": {"m/s", "km/h", "km/s", "mph", "cm/s"},
    "acceleration": {"m/s^2", "m/s²", "g"},
    "force": {"n", "kn", "newton", "newtons", "dyn"},
    "energy": {"j", "kj", "mj", "ev", "kev", "mev", "cal", "kcal", "kwh", "joule", "joules"},
    "work": {"j", "kj", "joule", "joules", "ev"},
    "power": {"w", "kw", "mw", "watt", "watts", "hp"},
    "mass": {"kg", "g", "mg", "u", "amu", "tonnes", "grams"},
    "current": {"a", "ma", "µa", "amp", "amps", "ampere", "amperes"},
    "voltage": {"v", "kv", "mv", "volt", "volts"},
    "potential difference": {"v", "kv", "mv", "volt", "volts"},
    "resistance": {"ω", "ohm", "ohms", "kω", "mω"},
    "frequency": {"hz", "khz", "mhz", "ghz"},
    "pressure": {"pa", "kpa", "mpa", "atm", "bar", "mmhg", "torr"},
    "wavelength": {"m", "nm", "µm", "mm", "cm", "å"},
    "distance": {"m", "km", "cm", "mm", "miles", "ft"},
    "temperature": {"k", "°c", "°f", "c", "f"},
    "charge": {"c", "µc", "nc", "mc", "coulomb", "coulombs"},
}
_ASKED = re.compile(r"\b(?:what|find|calculate|compute|determine|estimate)\b[^?.]*?\b(?:the|its)"
                    r"\s+((?:[\w/]+\s+){0,3}[\w/]+)")
_NUMBER_WITH_UNIT = re.compile(r"^\s*[-+]?[\d.,]+(?:\s*(?:[x×]|\*)\s*10\^?[-−]?\d+)?\s*(.*?)\s*$")


def option_unit(option: str) -> str | None:
    """The unit after a leading number (``"3.2 m/s"`` -> ``"m/s"``, ``"12"`` -> ``""``); None
    when the option does not start with a number."""
    match = _NUMBER_WITH_UNIT.match(option)
    if not match or not re.match(r"\s*[-+]?[\d.]", option):
        return None
    return match.group(1).strip().lower()


def asked_quantity(question: str) -> str | None:
    """The physical quantity the question asks for (a key of ``QUANTITY_UNITS``), if any: in
    the last "what / find / calculate ... the <up to four words>" of the question, the quantity
    named first."""
    found = None
    for match in _ASKED.finditer(question.lower()):
        phrase = f" {match.group(1)} "
        named = [(phrase.find(f" {q} "), q) for q in QUANTITY_UNITS if f" {q} " in phrase]
        if named:
            found = min(named)[1]
    return found


def structure_problem(question: str, options: Sequence[str], answer: str,
                      answer_type: str = MULTIPLE_CHOICE) -> str | None:
    """Why the item is structurally broken (module docstring), or None when it is sound."""
    if not question.strip():
        return "empty question"
    if answer_type != MULTIPLE_CHOICE:
        try:
            check_gold(answer_type, answer)
        except ValueError as err:
            return str(err)
        return None
    if len(options) < 2:
        return f"{len(options)} options"
    if len({" ".join(o.casefold().split()) for o in options}) != len(options):
        return "options are not distinct"
    if len(answer) != 1 or LETTERS.find(answer) not in range(len(options)):
        return f"the key {answer!r} names no option"
    units = [option_unit(o) for o in options]
    if all(u is not None for u in units):
        named = {u for u in units if u}
        quantity = asked_quantity(question)
        if quantity and named and not named & QUANTITY_UNITS[quantity]:
            return (f"the question asks for {quantity} but the options are in "
                    f"{', '.join(sorted(named))}")
    return None


@dataclass
class Verification:
    """A verdict on one item (module docstring); ``solver_answers`` maps each solver spec to its
    answers in the item's own terms (a letter, or the extracted free-form answer; None when a
    reply named none)."""

    verified: bool | None
    agreement: float | None = None
    consensus: str | None = None
    solver_answers: dict[str, list[str | None]] = field(default_factory=dict)
    problem: str | None = None


class Verifier:
    """Solvers built from examinee ``specs`` that answer generated items (module docstring).

    The solvers share one question table: each item is added under a fresh id, answered, and
    removed, so solvers never see a key.
    """

    def __init__(self, specs: Sequence[str], repeats: int = 4, min_agreement: float = 0.75
                 ) -> None:
        if not specs:
            raise InputError("a verifier needs at least one solver spec")
        if repeats < 1 or not 0 < min_agreement <= 1:
            raise InputError(f"repeats {repeats} must be >= 1 and min_agreement {min_agreement} "
                             "in (0, 1]")
        self.specs = list(specs)
        self.repeats, self.min_agreement = int(repeats), float(min_agreement)
        self._questions: dict[str, Question] = {}
        self._count = 0
        self.solvers: list[Examinee] = [examinee_from_spec(s, questions=self._questions)
                                        for s in self.specs]

    def check(self, question: str, options: Sequence[str], answer: str,
              answer_type: str = MULTIPLE_CHOICE, category: str | None = None) -> Verification:
        """The verdict on one item: ``options`` and the key letter ``answer`` (multiple choice),
        or no options and the gold ``answer`` (free form, of ``answer_type``)."""
        problem = structure_problem(question, options, answer, answer_type)
        if problem is not None:
            return Verification(False, problem=problem)
        asked: dict[str, list[str | None]] = {}
        for spec, solver in zip(self.specs, self.solvers, strict=True):
            if answer_type == MULTIPLE_CHOICE:
                asked[spec] = [self._ask_rotated(solver, question, options, answer, k, category)
                               for k in range(self.repeats)]
            else:
                asked[spec] = [self._ask(solver, Question(
                    self._new_id(), question, [], None, category, answer_type, answer))]
        every = [a for answers in asked.values() for a in answers]
        if answer_type == MULTIPLE_CHOICE:
            hits = sum(a == answer for a in every)
        else:
            hits = sum(a is not None and is_correct(answer_type, a, answer) for a in every)
        agreement = hits / len(every)
        top = Counter(a for a in every if a is not None).most_common(1)
        consensus = top[0][0] if top and top[0][1] > len(every) / 2 else None
        return Verification(agreement >= self.min_agreement, agreement, consensus, asked)

    def _new_id(self) -> str:
        self._count += 1
        return f"verify-{self._count}"

    def _ask(self, solver: Examinee, question: Question) -> str | None:
        self._questions[question.question_id] = question
        try:
            return getattr(solver.answer(question.question_id), "extracted", None)
        finally:
            del self._questions[question.question_id]

    def _ask_rotated(self, solver: Examinee, question: str, options: Sequence[str], answer: str,
                     k: int, category: str | None) -> str | None:
        """Ask with the options rotated (module docstring); the answer as the item's letter."""
        n = len(options)
        shift = k * n // self.repeats
        order = [(j + shift) % n for j in range(n)]  # shown position j holds option order[j]
        shown = Question(self._new_id(), question, [options[i] for i in order],
                         order.index(LETTERS.index(answer)), category)
        letter = self._ask(solver, shown)
        if letter is None or LETTERS.index(letter) >= n:
            return None
        return LETTERS[order[LETTERS.index(letter)]]
