"""The text format of a generated item, written and read strictly.

Multiple choice (``format_item`` writes it, ``parse_item`` reads it)::

    Question: <question text, one or more lines>
    A. <option>
    B. <option>
    ...
    Answer: <one letter>

Free form: ``Question: ...`` then ``Answer: <gold>`` (``parse_free_item``). A text that is not a
well-formed item raises ``ItemFormatError`` saying why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..banks.answers import MULTIPLE_CHOICE, check_gold

LETTERS = "ABCDEFGHIJ"  # at most 10 options
MIN_OPTIONS, MAX_OPTIONS = 4, 10


class ItemFormatError(ValueError):
    """A generated text is not a well-formed item; the message says why."""


@dataclass(frozen=True)
class ParsedItem:
    """A well-formed item. Multiple choice: ``options[answer_index]`` is the key. Free form: no
    options, ``gold`` is the answer (a string of the item's answer type)."""

    question: str
    options: list[str]
    answer_index: int | None
    gold: str | None = None

    @property
    def answer(self) -> str:
        """The key's letter (multiple choice) or the gold answer (free form)."""
        return LETTERS[self.answer_index] if self.answer_index is not None else str(self.gold)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def format_item(question: str, options: Sequence[str], answer_index: int) -> str:
    """The completion text of one item (see the module docstring); options become one line each.

    Raises ``ItemFormatError`` if the result would not parse back (``parse_item``) to the same item.
    """
    lines = ["Question: " + str(question).strip()]
    lines += [f"{LETTERS[i]}. {_one_line(o)}" for i, o in enumerate(options[:MAX_OPTIONS])]
    if not 0 <= answer_index < min(len(options), MAX_OPTIONS):
        raise ItemFormatError(f"answer index {answer_index} out of range")
    lines.append(f"Answer: {LETTERS[answer_index]}")
    text = "\n".join(lines)
    parsed = parse_item(text)
    if parsed.options != [_one_line(o) for o in options] or parsed.answer_index != answer_index:
        raise ItemFormatError("item does not survive a format/parse round trip")
    return text


#: one option line of an item: ``"A. text"`` (group 1 the letter, group 2 the text)
OPTION_LINE = re.compile(r"^([A-J])\. (.*)$")
_ANSWER = re.compile(r"^Answer: ([A-J])$")


def parse_item(text: str) -> ParsedItem:
    """Parse one item strictly; raise ``ItemFormatError`` unless it is well-formed.

    Well-formed: after stripping surrounding whitespace, the text starts with ``"Question: "``;
    the question text (one or more lines) is non-empty; then 4-10 option lines ``"A. ..."``,
    ``"B. ..."`` in order with no gaps, each non-empty and distinct (case- and space-insensitive);
    then exactly one line ``"Answer: X"`` whose letter names one of the options; nothing after it.
    """
    if not isinstance(text, str):
        raise ItemFormatError("not a string")
    lines = text.strip().split("\n")
    if not lines or not lines[0].startswith("Question: "):
        raise ItemFormatError("does not start with 'Question: '")
    first_option = next((i for i, line in enumerate(lines) if line.startswith("A. ")), None)
    if first_option is None:
        raise ItemFormatError("no option 'A. '")
    question = "\n".join([lines[0][len("Question: "):]] + lines[1:first_option]).strip()
    if not question:
        raise ItemFormatError("empty question")
    options: list[str] = []
    k = first_option
    while k < len(lines):
        match = OPTION_LINE.match(lines[k])
        if not match:
            break
        if match.group(1) != LETTERS[len(options)]:
            raise ItemFormatError(f"option {match.group(1)} out of order")
        option = match.group(2).strip()
        if not option:
            raise ItemFormatError(f"option {match.group(1)} is empty")
        options.append(option)
        k += 1
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise ItemFormatError(f"{len(options)} options; need {MIN_OPTIONS}-{MAX_OPTIONS}")
    if len({o.casefold() for o in map(_one_line, options)}) != len(options):
        raise ItemFormatError("options are not distinct")
    rest = [line for line in lines[k:]]
    if len(rest) != 1:
        raise ItemFormatError("expected exactly one 'Answer: X' line right after the options")
    match = _ANSWER.match(rest[0].strip())
    if not match:
        raise ItemFormatError(f"bad answer line {rest[0][:40]!r}")
    answer_index = LETTERS.index(match.group(1))
    if answer_index >= len(options):
        raise ItemFormatError(f"answer {match.group(1)} names no option")
    return ParsedItem(question, options, answer_index)


def parse_free_item(text: str, answer_type: str) -> ParsedItem:
    """Parse one free-form item, ``"Question: <text>"`` (one or more lines) then a last line
    ``"Answer: <gold>"``; raise ``ItemFormatError`` unless the question is non-empty, no line
    looks like an option, and the gold is usable for ``answer_type`` (``answers.check_gold``)."""
    if not isinstance(text, str):
        raise ItemFormatError("not a string")
    lines = text.strip().split("\n")
    if not lines[0].startswith("Question: "):
        raise ItemFormatError("does not start with 'Question: '")
    if len(lines) < 2 or not lines[-1].startswith("Answer: "):
        raise ItemFormatError("the last line is not 'Answer: ...'")
    if any(OPTION_LINE.match(line) for line in lines[1:-1]):
        raise ItemFormatError("a free-form item has no options")
    question = "\n".join([lines[0][len("Question: "):]] + lines[1:-1]).strip()
    if not question:
        raise ItemFormatError("empty question")
    gold = lines[-1][len("Answer: "):].strip()
    try:
        check_gold(answer_type, gold)
    except ValueError as err:
        raise ItemFormatError(str(err)) from None
    return ParsedItem(question, [], None, gold)


def parse_candidate(text: str, answer_type: str = MULTIPLE_CHOICE) -> ParsedItem:
    """``parse_item`` for multiple choice, ``parse_free_item`` for any other answer type."""
    if answer_type == MULTIPLE_CHOICE:
        return parse_item(text)
    return parse_free_item(text, answer_type)


def format_example(question: str, options: Sequence[str], answer: str) -> str:
    """An item as a generator writes it: ``format_item`` (multiple choice, ``answer`` the key's
    letter) or ``"Question: ...\nAnswer: <gold>"`` (free form, no options)."""
    if options:
        return format_item(question, options, LETTERS.index(answer))
    return f"Question: {str(question).strip()}\nAnswer: {_one_line(answer)}"


def is_well_formed(text: str) -> bool:
    """True when ``parse_item(text)`` succeeds."""
    try:
        parse_item(text)
    except ItemFormatError:
        return False
    return True
