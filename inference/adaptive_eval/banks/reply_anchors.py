"""Where a free-form answer sits in a model's reply: after "answer is" / "answer:" / "final
answer is" (``ANSWER_ANCHOR``, ``FINAL_ANSWER_ANCHOR``), or inside ``\\boxed{...}``; shared by the
free-form answer types (``answers.py``, ``literal_answers.py``)."""

from __future__ import annotations

import re

# "answer is", "answer:", "answer =", "**Answer:**", "final answer is" (the anchor ends where the
# answer starts)
ANSWER_ANCHOR = re.compile(r"(?i)\banswer\b\**\s*(?:is\b|:|=)\**\s*(?::\s*)?")
FINAL_ANSWER_ANCHOR = re.compile(r"(?i)\bfinal\s+answer\b\**\s*(?:is\b|:|=)?\**\s*(?::\s*)?")


def boxed_contents(text: str) -> list[tuple[int, str]]:
    """``(position, content)`` of every ``\\boxed{...}`` / ``\\fbox{...}`` (braces balanced)."""
    out = []
    for match in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    out.append((match.start(), text[start:i]))
                    break
    return out


def rest_of_line(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start : end if end >= 0 else len(text)]


def after_last_anchor(text: str, anchor: re.Pattern[str]) -> str | None:
    """The rest of the line after the last match of ``anchor`` that is followed by something
    (the next non-empty line when the anchor ends its line: "Answer:\\n42")."""
    for match in reversed(list(anchor.finditer(text))):
        after = text[match.end() :].lstrip()
        rest = rest_of_line(after, 0).strip()
        if rest:
            return rest
    return None
