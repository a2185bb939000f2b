"""Answer-reading rules, one per benchmark, as the benchmark's own evaluation code reads answers.

A rule (``Reader``) has a name, ``extract(output) -> str | None`` (the answer in a model's raw
output; None when there is none) and ``judge(extracted, question) -> bool`` (the benchmark's own
verdict against the gold answer of a ``banks.questions.Question``). The rules copy the sources'
code, quirks included (``../shared/data/protocols/<benchmark>.json`` records each one):

- ``mmlu-pro`` (TIGER-AI-Lab/MMLU-Pro ``evaluate_from_local.py`` since 9dac3c3): the first
  ``answer is \\(?([A-J])\\)?``; else the first line match of ``.*[aA]nswer:\\s*([A-J])`` (the
  last "answer:" of that line); else the last standalone capital ``\\b[A-J]\\b`` (DOTALL). Correct
  iff the letter is the key. ``mmlu-pro-v1``: the first rule only (the runs of May 2024);
  ``mmlu-pro-v3``: the last capital A-J anywhere instead of the last standalone one (the
  re-extraction of July 2024).
- ``zeroeval-mcqa`` (MMLU-Redux), ``zeroeval-math`` (GSM8K, MATH level 5), ``zeroeval-crux``
  (CRUXEval) (WildEval/ZeroEval ``src/evaluation/*_eval.py`` at ea7dd90): the first balanced
  ``{...}`` parsed as JSON (newlines deleted; a failed parse stops there), its ``answer``; else the
  regexes of ``extract_values_from_json`` (``"answer": "..."``, then unquoted values and keys);
  else ``\\boxed{(\\w+)}`` when "boxed" is in the last 30 characters (the source tries this last
  step only for result files named Llama-3.1; here every output gets it). A JSON value that is not
  a string is read as Python's ``str`` of it, as the source does.

  - mcqa: correct iff the answer is the key letter ``L`` or contains ``"L)"``; an empty answer is
    none.
  - math: both sides lose ``$`` and ``,``; a ``/`` makes the text a number when it is arithmetic
    (``3/4`` -> ``0.75``); then only the first ``-?\\d+(\\.\\d+)?`` of each is compared as floats
    (``\\frac{3}{4}`` reads as 3).
  - crux: the strings compared after stripping quote characters at both ends; an empty one is
    never correct. ``zeroeval-crux-head`` is the later rule (newlines in the answer written
    ``\\n``, an empty answer matches an empty gold).
- ``zeroeval-zebra`` (ZebraLogic): the last balanced ``{...}`` parsed as JSON, its ``solution``
  (as JSON text); no gold answers here, so no verdict.
"""

from __future__ import annotations

import ast
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InputError, UserError
from .questions import Question


class UnknownReaderError(UserError, KeyError):
    """A reading rule name that is not in ``READERS``; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Reader:
    """One benchmark's answer-reading rule: ``extract`` an answer from raw output, ``judge`` it
    against a question's gold answer (``judge`` is None where the benchmark has no gold here)."""

    name: str
    benchmark: str
    description: str
    extract: Callable[[str], str | None]
    judge: Callable[[str, Question], bool] | None

    def read(self, output: str | None) -> str | None:
        return None if output is None else self.extract(str(output))

    def score(self, output: str | None, question: Question) -> tuple[str | None, int]:
        """``(extracted, correct)``: the answer read from ``output`` (None when none) and 1 if
        the benchmark's own rule judges it right, else 0 (no answer is 0)."""
        if self.judge is None:
            raise InputError(f"reading rule {self.name!r} ({self.benchmark}) has no gold answers "
                             "to judge against: its bank is replay only")
        extracted = self.read(output)
        return extracted, int(extracted is not None and bool(self.judge(extracted, question)))


# MMLU-Pro ---------------------------------------------------------------------------------------

_V1 = re.compile(r"answer is \(?([A-J])\)?")
_V2 = re.compile(r".*[aA]nswer:\s*([A-J])")  # the source's second rule, as written
_ANSWER_COLON = re.compile(r"(?=[aA]nswer:\s*([A-J]))")
# The source's last two rules, ``[A-J](?=[^A-J]*$)`` and ``\b[A-J]\b(?!.*\b[A-J]\b)`` (DOTALL),
# pick the last capital A-J and the last standalone one; found here without their quadratic
# look-ahead (the same letter: a standalone letter cannot follow another without a gap).
_CAPITAL = re.compile(r"[A-J]")
_STANDALONE = re.compile(r"\b[A-J]\b")


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None


def _last(pattern: re.Pattern[str], text: str) -> str | None:
    last = None
    for match in pattern.finditer(text):
        last = match
    return last.group(0) if last else None


def mmlu_pro_v2(text: str) -> str | None:
    """``re.search(r".*[aA]nswer:\\s*([A-J])", text)`` without its quadratic backtracking: the
    first line holding an "answer:" followed (across whitespace, newlines too) by a letter A-J
    gives its last such "answer:"'s letter."""
    line, letter = -1, None
    for match in _ANSWER_COLON.finditer(text):
        this_line = text.count("\n", 0, match.start())
        if letter is not None and this_line != line:
            break
        line, letter = this_line, match.group(1)
    return letter


def mmlu_pro_v1(text: str) -> str | None:
    """'answer is (X)' / 'answer is X' (case-sensitive), the first one."""
    return _first(_V1, text)


def mmlu_pro_chain(text: str) -> str | None:
    """The source's current chain: 'answer is (X)', else '...answer: X', else the last
    standalone capital A-J."""
    return _first(_V1, text) or mmlu_pro_v2(text) or _last(_STANDALONE, text)


def mmlu_pro_v3(text: str) -> str | None:
    """The chain of July 2024: 'answer is (X)', else '...answer: X', else the last capital
    A-J anywhere (also inside a word)."""
    return _first(_V1, text) or mmlu_pro_v2(text) or _last(_CAPITAL, text)


def _letter_judge(extracted: str, question: Question) -> bool:
    return extracted == question.answer_letter


# ZeroEval: extraction ---------------------------------------------------------------------------


def _balanced_objects(text: str):
    """The top-level balanced ``{...}`` spans of ``text``, in order (braces in strings count)."""
    depth, start = 0, None
    for i, char in enumerate(text):
        if char == "{":
            if start is None:
                start = i
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                yield text[start : i + 1]
                start = None


def _loads(span: str | None) -> object | None:
    """``json.loads`` after deleting every newline, as ZeroEval does; None when that fails."""
    if span is None:
        return None
    try:
        return json.loads(span.replace("\n", ""))
    except json.JSONDecodeError:
        return None


def first_complete_json(text: str) -> object | None:
    """ZeroEval's ``extract_first_complete_json``: the first balanced ``{...}`` (braces in
    strings count too), ``json.loads`` after deleting every newline; None when that fails."""
    return _loads(next(_balanced_objects(text), None))


def last_complete_json(text: str) -> object | None:
    """ZeroEval's ``extract_last_complete_json``: the last balanced ``{...}``, parsed alike."""
    spans = list(_balanced_objects(text))
    return _loads(spans[-1] if spans else None)


_VALUE_PATTERNS = (
    re.compile(r'"answer"\s*:\s*"([^"]*?)"'),
    re.compile(r'"answer"\s*:\s*"(.*?)"', re.DOTALL),
    re.compile(r'"answer"\s*:\s*([^,\s]*)'),
    re.compile(r"answer\s*:\s*([^,\s]*)"),
)
_BOXED = re.compile(r"\\boxed{([\w\d]+)}")
_MISSING = object()


def _json_answer(text: str) -> object:
    """The ``answer`` of ZeroEval's first two extraction steps, or ``_MISSING``."""
    parsed = first_complete_json(text)
    if isinstance(parsed, dict) and "answer" in parsed:
        return parsed["answer"]
    for pattern in _VALUE_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return _MISSING


def _boxed_answer(text: str) -> str | None:
    """ZeroEval's ``model_specific_extraction`` (``\\boxed{...}`` near the end), or None."""
    if "boxed" in text[-30:]:
        match = _BOXED.search(text)
        if match and match.group(1):
            return match.group(1)
    return None


def zeroeval_answer(text: str) -> str | None:
    """The answer as the math and crux evaluations read it (a JSON ``null`` is ``"None"``)."""
    value = _json_answer(text)
    if value is _MISSING:
        return _boxed_answer(text)
    return str(value)


def zeroeval_literal(text: str) -> str | None:
    """The answer as the crux evaluation compares it: quote characters stripped at both ends."""
    answer = zeroeval_answer(text)
    return None if answer is None else answer.strip("'\"")


def zeroeval_choice(text: str) -> str | None:
    """The answer as the mcqa evaluation reads it: a null or empty answer counts as none."""
    value = _json_answer(text)
    if value is _MISSING or value is None or value == "":
        return _boxed_answer(text)
    return str(value)


# ZeroEval: judging ------------------------------------------------------------------------------


def _choice_judge(extracted: str, question: Question) -> bool:
    letter = question.answer_letter
    return extracted == letter or f"{letter})" in extracted


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
              ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def _arithmetic(node: ast.AST) -> float:
    """The value of an arithmetic expression of numbers (what the source's ``eval`` computes
    for such text); ``ValueError`` for anything else, or a power too large to compute."""
    if isinstance(node, ast.Expression):
        return _arithmetic(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_arithmetic(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _arithmetic(node.left), _arithmetic(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError("power too large")
        return _OPERATORS[type(node.op)](left, right)
    raise ValueError("not arithmetic")


def sanitize_math(answer: str) -> str:
    """ZeroEval's ``sanitize_math_answers``: drop ``$``, strip, drop ``,``; text holding ``/``
    becomes ``str(float(value))`` when it is an arithmetic expression."""
    answer = answer.replace("$", "").strip().replace(",", "")
    if "/" in answer:
        try:
            answer = str(float(_arithmetic(ast.parse(answer, mode="eval"))))
        except (ValueError, TypeError, SyntaxError, ZeroDivisionError, OverflowError,
                MemoryError, RecursionError):
            pass
    return answer


_FIRST_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _first_number(text: str) -> float | None:
    match = _FIRST_NUMBER.search(sanitize_math(text))
    return float(match.group()) if match else None


def _math_judge(extracted: str, question: Question) -> bool:
    mine, gold = _first_number(extracted), _first_number(str(question.answer).replace("#", ""))
    return mine is not None and gold is not None and mine == gold


def _crux_judge(extracted: str, question: Question) -> bool:
    mine, gold = extracted.strip("'\""), str(question.answer).strip("'\"")
    return bool(mine) and bool(gold) and mine == gold


def _crux_head_judge(extracted: str, question: Question) -> bool:
    mine = extracted.strip("'\"").replace("\n", "\\n")
    gold = str(question.answer).strip("'\"")
    return mine == gold if (mine and gold) else (mine == "" and gold == "")


def zebra_solution(text: str) -> str | None:
    """ZebraLogic's reading: the last JSON object's non-null ``solution``, as JSON text."""
    parsed = last_complete_json(text)
    if not isinstance(parsed, dict) or parsed.get("solution") is None:
        return None
    return json.dumps(parsed["solution"])


# the registry -----------------------------------------------------------------------------------

READERS: dict[str, Reader] = {
    reader.name: reader
    for reader in [
        Reader("mmlu-pro", "mmlu-pro", "MMLU-Pro's chain: 'answer is (X)', else '.*answer: X', "
               "else the last standalone capital A-J; correct iff it is the key",
               mmlu_pro_chain, _letter_judge),
        Reader("mmlu-pro-v1", "mmlu-pro", "MMLU-Pro's first rule only: 'answer is (X)'",
               mmlu_pro_v1, _letter_judge),
        Reader("mmlu-pro-v3", "mmlu-pro", "MMLU-Pro's July 2024 chain: 'answer is (X)', else "
               "'.*answer: X', else the last capital A-J anywhere", mmlu_pro_v3, _letter_judge),
        Reader("zeroeval-mcqa", "mmlu-redux", "ZeroEval's JSON 'answer'; correct iff it is the "
               "key letter L or contains 'L)'", zeroeval_choice, _choice_judge),
        Reader("zeroeval-math", "gsm8k, math-l5", "ZeroEval's JSON 'answer'; the first number of "
               "each side after removing $ and , (fractions evaluated) compared as floats",
               zeroeval_answer, _math_judge),
        Reader("zeroeval-crux", "cruxeval", "ZeroEval's JSON 'answer'; equal strings after "
               "stripping quote characters, both non-empty", zeroeval_literal, _crux_judge),
        Reader("zeroeval-crux-head", "cruxeval", "ZeroEval's later CRUXEval rule: newlines in "
               "the answer written \\n, and an empty answer matches an empty gold",
               zeroeval_literal, _crux_head_judge),
        Reader("zeroeval-zebra", "zebralogic", "ZeroEval's last JSON object's 'solution' (no "
               "gold answers here: no verdict)", zebra_solution, None),
    ]
}


def reader(name: str) -> Reader:
    """The rule called ``name`` (``UnknownReaderError`` listing the known ones if none)."""
    try:
        return READERS[name]
    except KeyError:
        raise UnknownReaderError(
            f"unknown answer-reading rule {name!r}; known: {', '.join(READERS)}") from None

