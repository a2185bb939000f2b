"""Python-literal answers (CRUXEval): read with ``ast.literal_eval`` (never ``eval``), compared
with Python's ``==`` like the benchmark's own ``assert gold == prediction``."""

from __future__ import annotations

import ast
import re

from .reply_anchors import after_last_anchor

_LITERAL_MAX_CHARS = 1000  # bounds the prefix search of python_literal extraction


_CODE_BLOCK = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)```", re.S)
_LITERAL_ANCHOR = re.compile(r"(?i)\banswer\b\**\s*(?:is\b|:)\**\s*(?::\s*)?")


def parse_literal(text: str) -> tuple[bool, object]:
    """``(True, value)`` when ``text`` is a Python literal (``ast.literal_eval``), else
    ``(False, None)``."""
    try:
        return True, ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _literal_prefix(text: str) -> str | None:
    """The longest prefix of ``text`` that is a Python literal, or None."""
    text = text.strip()
    if text.startswith("`"):  # an inline code span: what is inside it
        text = text.lstrip("`").split("`", 1)[0]
    text = re.sub(r"\s*\[/PYTHON\]\s*$", "", text.strip())
    text = text[:_LITERAL_MAX_CHARS]
    if text and parse_literal(text)[0]:
        return text
    for end in range(len(text) - 1, 0, -1):
        # a literal ends before a space or punctuation ("[1, 2] is", "'abc'.", "42, since")
        if text[end] in " \t.,;:!?" and text[end - 1] not in " \t":
            candidate = text[:end].strip()
            if not candidate.endswith(",") and parse_literal(candidate)[0]:  # not "42," (a tuple)
                return candidate
    return None


def _after_double_equals(text: str) -> str | None:
    """What follows the last ``==`` of the last line holding one."""
    for line in reversed(text.splitlines()):
        if "==" in line:
            return line.rsplit("==", 1)[1].strip() or None
    return None


def extract_literal(response: str) -> str | None:
    """The Python literal of a reply: after the last "answer:" / "answer is", else the last
    fenced code block (its ``assert ... == X``'s ``X`` if it has one), else after the last ``==``;
    the longest prefix that ``ast.literal_eval`` accepts. None when there is none of these, or
    when what is there is no literal (``f(3)``, ``??``)."""
    rest = after_last_anchor(response, _LITERAL_ANCHOR)
    if rest is not None:
        found = _literal_prefix(rest)
        if found is None and "==" in rest:  # "Answer: assert f(1) == 2"
            found = _literal_prefix(rest.rsplit("==", 1)[1])
        if found is not None:
            return found
    blocks = [b.strip() for b in _CODE_BLOCK.findall(response) if b.strip()]
    if blocks:
        block = blocks[-1]
        if parse_literal(block)[0]:
            return block
        after = _after_double_equals(block)
        if after is not None and (found := _literal_prefix(after)) is not None:
            return found
    after = _after_double_equals(response)
    return None if after is None else _literal_prefix(after)


def literal_is_correct(extracted: str, gold: str) -> bool:
    ok, truth = parse_literal(gold.strip())
    if not ok:
        raise ValueError(f"python_literal gold answer {gold!r} is not a Python literal")
    ok, value = parse_literal(extracted.strip())
    if not ok:
        return False
    try:
        return bool(value == truth)
    except Exception:  # an exotic __eq__ cannot come from literal_eval, but stay safe
        return False
