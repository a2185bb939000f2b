"""Answer types: how a question is put to a model, how its answer is read back, how it is scored.

Five types (``ANSWER_TYPES``):

- ``multiple_choice``: the letter of an option (``A``, ``B``, ...); chance ``1 / n_options``.
- ``numeric``: a number (GSM8K). Compared as exact decimals after removing thousands separators,
  currency signs and percent signs: ``1,000`` == ``1000``, ``$540`` == ``540.0``.
- ``math``: a mathematical expression (MATH). Compared by symbolic equivalence with the
  maintained ``math-verify`` library (``math_verify.parse`` + ``math_verify.verify``):
  ``$\\frac{1}{2}$`` == ``0.5``, ``x^2+1`` == ``1+x^2``.
- ``python_literal``: a Python literal (CRUXEval). Both sides go through ``ast.literal_eval``
  (never ``eval``) and are compared with Python's ``==``, like the benchmark's own check
  (``assert gold == prediction``), so ``False`` equals ``0`` and ``1.0`` equals ``1`` there too.
- ``exact``: a string, compared after collapsing runs of whitespace and stripping the ends.

Free-form types have chance level 0.

Extraction (``extract``) reads the final answer from a model's raw reply:

- ``multiple_choice``: an explicit "answer is (X)" / "Answer: X" (also "answer: x" in lowercase),
  else the first standalone option letter (skipping "A" and "I" used as words: "Answer: I
  think it's B" is B), see ``parse_letter``.
- ``numeric``: numbers *flagged* as the answer are those right after "answer is" / "answer:" /
  "answer =" (on the same line; the result of a calculation there: "Answer: 48 / 2 = 24" is 24),
  after ``####``, or inside ``\\boxed{...}``. With any flagged
  number, the **last flagged** one counts ("... is 5. So the answer is 6" gives 6, and so does
  "The answer is 6. Check: 6 - 1 = 5"); with none, the **last number** in the reply.
- ``math``: the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), else the text after the
  last "final answer is" / "answer is" / "answer:" (up to the end of the line; a ``$...$``,
  ``\\(...\\)`` or ``\\[...\\]`` right after it is taken whole).
- ``python_literal``: the literal after the last "answer:" / "answer is", else the last fenced
  code block (if it holds ``assert ... == X``: the ``X``), else the text after the last ``==``;
  the longest prefix of that text that ``ast.literal_eval`` accepts (None if none does).
- ``exact``: the text after the last "answer:" / "answer is", else the last non-empty line
  (markdown emphasis and a final full stop dropped: "**Alice**." is Alice).

A reply with no answer extracts to ``None``, and ``is_correct(type, None, gold)`` is False.

Note: math-verify bounds its work with ``signal.alarm``, which only works in the main thread;
elsewhere (e.g. a web server's worker thread) the comparison runs without a time limit.
"""

from __future__ import annotations

import functools
import logging
import re
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .literal_answers import extract_literal, literal_is_correct, parse_literal
from .reply_anchors import (
    ANSWER_ANCHOR,
    FINAL_ANSWER_ANCHOR,
    after_last_anchor,
    boxed_contents,
    rest_of_line,
)

LETTERS = string.ascii_uppercase

MULTIPLE_CHOICE = "multiple_choice"
NUMERIC = "numeric"
MATH = "math"
PYTHON_LITERAL = "python_literal"
EXACT = "exact"
#: Graded scores in [0, 1] (a judge's preference, a share of unit tests passed): the answer type
#: of a replay bank, with no reading rule here; ``check_answer_type`` refuses it as a way to score
#: replies (``GRADED_REASON``), banks record it in their metadata.
GRADED = "graded"
GRADED_REASON = ("its answers are graded scores in [0, 1]: scoring a live model's replies needs "
                 "the benchmark's judge or code sandbox, which this package does not run")

#: Answer types of the named benchmarks (zebralogic has no gold answers here: replay only).
BENCHMARK_ANSWER_TYPES = {
    "mmlu-pro": MULTIPLE_CHOICE,
    "mmlu-redux": MULTIPLE_CHOICE,
    "gsm8k": NUMERIC,
    "math-l5": MATH,
    "cruxeval": PYTHON_LITERAL,
    "zebralogic": EXACT,
}

MATH_TIMEOUT_S = 5


class AnswerTypeError(ValueError):
    """An answer type that is not one of ``ANSWER_TYPES``."""


@dataclass(frozen=True)
class AnswerType:
    """One answer type: its name, the instruction shown to a model, and how replies are read
    (``extract``) and scored (``is_correct``)."""

    name: str
    instruction: str
    extract: Callable[[str], str | None]
    is_correct: Callable[[str, str], bool]
    free_form: bool = True


def check_answer_type(name: str) -> str:
    """``name`` if it is a known answer type, else ``AnswerTypeError`` listing the known ones
    (``GRADED``: one saying why a graded bank cannot score replies)."""
    if name == GRADED:
        raise AnswerTypeError(f"answer type {GRADED!r}: {GRADED_REASON}; a graded bank is a "
                              "replay bank: use a replay:RESPONSES:MODEL examinee")
    if name not in ANSWER_TYPES:
        raise AnswerTypeError(
            f"unknown answer type {name!r}; known: {', '.join(ANSWER_TYPES)}"
        )
    return name


def answer_type(name: str) -> AnswerType:
    """The ``AnswerType`` called ``name`` (``AnswerTypeError`` listing the known ones if none)."""
    return ANSWER_TYPES[check_answer_type(name)]


def instruction(name: str) -> str:
    """The instruction a prompt of this answer type opens with."""
    return answer_type(name).instruction


def extract(name: str, response: str | None, n_options: int | None = None) -> str | None:
    """The final answer in a model's raw ``response`` (see the module docstring for the rules
    per type), or ``None`` when it gives none. ``n_options`` limits the letters a
    multiple-choice reply may name (default: any of A-Z)."""
    kind = answer_type(name)
    if response is None:
        return None
    if kind.name == MULTIPLE_CHOICE:
        return _extract_letter(response, n_options or len(LETTERS))
    return kind.extract(response)


def is_correct(name: str, extracted: str | None, gold: str) -> bool:
    """Whether the ``extracted`` answer equals ``gold`` under this answer type (``None``, i.e.
    no answer, is wrong). ``gold`` must be a valid answer of the type (``ValueError`` if not)."""
    kind = answer_type(name)
    if extracted is None:
        return False
    return bool(kind.is_correct(extracted, gold))


def check_gold(name: str, gold: str) -> str:
    """``gold`` if it is a usable gold answer of this type (``ValueError`` saying why not):
    a letter, a number, a Python literal, or any non-empty text for ``math`` and ``exact``
    (math-verify reads almost any text, so a math gold is first parsed when it is scored)."""
    kind = answer_type(name)
    text = str(gold).strip()
    if not text:
        raise ValueError(f"empty gold answer ({kind.name})")
    if kind.name == MULTIPLE_CHOICE and (len(text) != 1 or text.upper() not in LETTERS):
        raise ValueError(f"multiple_choice gold answer {text!r} is not a letter A-Z")
    if kind.name == NUMERIC and _to_decimal(text) is None:
        raise ValueError(f"numeric gold answer {text!r} is not a number")
    if kind.name == PYTHON_LITERAL and not parse_literal(text)[0]:
        raise ValueError(f"python_literal gold answer {text!r} is not a Python literal")
    return gold


def answer_type_of(benchmark: str | None) -> str | None:
    """The answer type of a named benchmark (``BENCHMARK_ANSWER_TYPES``), or None."""
    return BENCHMARK_ANSWER_TYPES.get(benchmark) if benchmark else None


def chance(name: str, n_options: int | None = None) -> float:
    """Accuracy of answering at random: ``1 / n_options`` for multiple choice, 0 for free form."""
    kind = answer_type(name)
    if not kind.free_form:
        if n_options is None or n_options < 2:
            raise ValueError(f"chance of {name}: needs n_options >= 2, got {n_options!r}")
        return 1.0 / n_options
    return 0.0


# multiple choice --------------------------------------------------------------------------------

_ANSWER_IS_LETTER = re.compile(
    r"(?i:answer)\s*(?:(?i:is)\s*)?[:\-]?\s*(?:(?i:option)\s*)?[\(\[*]*([A-Za-z])(?![A-Za-z0-9'])"
)
_STANDALONE = re.compile(r"(?<![A-Za-z0-9'])([A-Z])(?![A-Za-z0-9'])")
_WORD_LETTERS = ("A", "I")  # also English words: "A cat", "I think"


def parse_letter(reply: str, n_options: int) -> int | None:
    """The option index a free-text reply chooses, or None when it names no valid option.

    First an explicit "answer is (X)" / "Answer: X" / "the answer is option X" (a lowercase
    letter too when it stands alone there: "answer: b"); else, from there on (or from the
    start), the first standalone capital letter among the options' letters. "A" and "I" used as
    words (followed by a lowercase word: "Answer: I think it's B") are skipped either way.
    """
    valid = LETTERS[:n_options]
    start = 0
    for match in _ANSWER_IS_LETTER.finditer(reply):
        letter, after = match.group(1), reply[match.end() :]
        if letter.upper() in _WORD_LETTERS and re.match(r"\s+[a-z]|'", after):
            start = match.start(1)  # a word, not a letter: look on from here
            break
        if letter.islower() and (letter in "ai" or not re.match(r"\s*(?:[).\]*,;]|$)", after)):
            continue  # a lowercase letter that is not the answer on its own
        letter = letter.upper()
        return valid.index(letter) if letter in valid else None
    for match in _STANDALONE.finditer(reply, start):
        letter = match.group(1)
        if letter not in valid:
            continue
        if letter in _WORD_LETTERS and re.match(r"\s+[a-z]|'", reply[match.end() :]):
            continue
        return valid.index(letter)
    return None


def _extract_letter(response: str, n_options: int) -> str | None:
    index = parse_letter(response, n_options)
    return None if index is None else LETTERS[index]


def _letter_is_correct(extracted: str, gold: str) -> bool:
    gold = gold.strip().upper()
    if len(gold) != 1 or gold not in LETTERS:
        raise ValueError(f"multiple_choice gold answer {gold!r} is not a letter A-Z")
    return extracted.strip().upper() == gold


# numeric ----------------------------------------------------------------------------------------

# An optional minus (not one between two numbers: "10-5" holds 10 and 5), digits with optional
# thousands separators, an optional decimal part; not part of a word ("x2", "5th").
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])|"
                     r"(?<![\w.\d])-?\.\d+(?![\w])")
_NUMERIC_FLAGS = re.compile(r"####\s*|" + ANSWER_ANCHOR.pattern.removeprefix("(?i)"), re.I)


def _clean_number(text: str) -> str:
    return re.sub(r"[,\s]", "", text)


def _numbers(text: str) -> list[tuple[int, str]]:
    text = text.replace("\u2212", "-")
    return [(m.start(), _clean_number(m.group())) for m in _NUMBER.finditer(text)]


def extract_number(response: str) -> str | None:
    """The numeric answer of a reply: the last number flagged by "answer is" / "answer:" /
    ``####`` / ``\\boxed{}``, else the last number (thousands separators and signs such as
    ``$`` dropped: ``"$1,000.50"`` gives ``"1000.50"``); None without any number."""
    text = response.replace("\u2212", "-")
    flagged: list[tuple[int, str]] = []
    for position, content in boxed_contents(text):
        found = _numbers(content)
        if found:
            flagged.append((position, found[0][1]))
    for match in _NUMERIC_FLAGS.finditer(text):
        rest = re.sub(r"^[\s$*\\(\[{€£]+", "", rest_of_line(text, match.end()))
        offset = len(rest_of_line(text, match.end())) - len(rest)
        found = _numbers(rest)
        # the first number after the flag, a few words at most after it ("is therefore 5"),
        # or the result of a calculation there ("Answer: 48 / 2 = 24": after the last "=" of
        # that clause, which ends at "; " or a full stop followed by a space)
        if found and re.match(r"^[^\d\n]{0,25}$", rest[: found[0][0]]):
            clause = re.split(r";|\.\s", rest[found[0][0]:], maxsplit=1)[0]
            equals = found[0][0] + clause.rfind("=") if "=" in clause else -1
            after = [f for f in found if f[0] > equals] if equals >= 0 else []
            chosen = after[0] if after else found[0]
            flagged.append((match.end() + offset + chosen[0], chosen[1]))
    if flagged:
        return max(flagged)[1]
    found = _numbers(text)
    return found[-1][1] if found else None


def _to_decimal(text: str) -> Decimal | None:
    text = re.sub(r"[\s,$€£%\\]", "", text.replace("\u2212", "-")).rstrip(".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _numeric_is_correct(extracted: str, gold: str) -> bool:
    truth = _to_decimal(gold)
    if truth is None:
        raise ValueError(f"numeric gold answer {gold!r} is not a number")
    value = _to_decimal(extracted)
    return value is not None and value == truth


# math -------------------------------------------------------------------------------------------

_MATH_DELIMITED = re.compile(r"^\s*(?:\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\])", re.S)


def extract_math(response: str) -> str | None:
    """The math answer of a reply: the last ``\\boxed{...}``'s content, else what follows the
    last "final answer is" / "answer is" / "answer:" (a delimited ``$...$`` taken whole, else the
    rest of the line without a trailing full stop); None when neither is there."""
    boxed = boxed_contents(response)
    if boxed:
        return boxed[-1][1].strip()
    rest = after_last_anchor(response, FINAL_ANSWER_ANCHOR) or after_last_anchor(
        response, ANSWER_ANCHOR
    )
    if rest is None:
        return None
    delimited = _MATH_DELIMITED.match(rest)
    if delimited:
        return next(g for g in delimited.groups() if g is not None).strip()
    rest = re.split(r"\.\s", rest, maxsplit=1)[0]
    return rest.strip().rstrip(".").strip().strip("$").strip() or None


def _math_timeout() -> int | None:
    # math-verify's time limit is a SIGALRM, which only the main thread may set
    return MATH_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


@functools.lru_cache(maxsize=4096)
def _parse_gold_math(text: str) -> tuple:
    return tuple(_parse_math(text))


def _parse_math(text: str) -> list:
    from math_verify import parse  # loaded on first use: it brings sympy (~0.3 s)

    text = text.strip()
    if not text:
        return []
    words = re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", text) and not re.search(r"[$\\]", text)
    if not words and not text.startswith(("$", "\\(", "\\[")):
        text = f"${text}$"  # LaTeX without delimiters; prose is left to math-verify's extraction
    return parse(text, parsing_timeout=_math_timeout())


def _math_is_correct(extracted: str, gold: str) -> bool:
    from math_verify import verify

    truth = list(_parse_gold_math(gold.strip()))
    if not truth:
        raise ValueError(f"math gold answer {gold!r} does not parse")
    value = _parse_math(extracted)
    if not value:
        return False
    return verify(truth, value, timeout_seconds=_math_timeout())


def _not_the_timeout_warning(record: logging.LogRecord) -> bool:
    return "Timeout is disabled" not in record.getMessage()


# math-verify warns when it runs without a time limit (off the main thread): expected here
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_not_the_timeout_warning)


# exact ------------------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    return " ".join(text.split())


def extract_exact(response: str) -> str | None:
    """The string answer of a reply: after the last "answer:" / "answer is" (markdown ``**``
    and a trailing full stop dropped), else the last non-empty line."""
    rest = after_last_anchor(response, ANSWER_ANCHOR)
    if rest is None:
        lines = [line for line in response.splitlines() if line.strip()]
        if not lines:
            return None
        rest = lines[-1]
    rest = _normalise(rest.strip().rstrip(".").strip().strip("*_").strip())
    return rest.rstrip(".").strip() or None


def _exact_is_correct(extracted: str, gold: str) -> bool:
    truth = _normalise(gold)
    if not truth:
        raise ValueError("exact gold answer is empty")
    return _normalise(extracted) == truth


# the registry -----------------------------------------------------------------------------------

_REASON = "Think step by step, then give your final answer on the last line"

ANSWER_TYPES: dict[str, AnswerType] = {
    MULTIPLE_CHOICE: AnswerType(
        MULTIPLE_CHOICE,
        "The following is a multiple choice question. Reply with the letter of the correct option.",
        lambda response: _extract_letter(response, len(LETTERS)),
        _letter_is_correct,
        free_form=False,
    ),
    NUMERIC: AnswerType(
        NUMERIC,
        f"Solve the following problem. {_REASON} in the form \"Answer: <number>\" "
        "(just the number, without units).",
        extract_number,
        _numeric_is_correct,
    ),
    MATH: AnswerType(
        MATH,
        f"Solve the following problem. {_REASON}, written in LaTeX inside \\boxed{{}}, "
        "e.g. \"The final answer is \\boxed{\\frac{1}{2}}\".",
        extract_math,
        _math_is_correct,
    ),
    PYTHON_LITERAL: AnswerType(
        PYTHON_LITERAL,
        f"Answer the following question. {_REASON} in the form \"Answer: <literal>\", where "
        "<literal> is a Python literal (such as 'abc', [1, 2] or {'a': 1}).",
        extract_literal,
        literal_is_correct,
    ),
    EXACT: AnswerType(
        EXACT,
        f"Answer the following question. {_REASON} in the form \"Answer: <answer>\".",
        extract_exact,
        _exact_is_correct,
    ),
}
