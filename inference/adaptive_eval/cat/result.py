"""What an adaptive test reports: a ``Step`` per answered question and the ``Result``.

A step records the answer (``correct``; for a free-form item also the raw reply ``response``, the
answer read from it ``extracted``, whether it hit the token budget ``truncated`` and its
``tokens``) and the estimate after it. ``answer_details`` takes those from an examinee's answer
(nothing but ``correct`` from a bare 0/1), ``recorded_details`` from a session line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Step:
    """One answered question and the estimate after it."""

    question_id: str
    correct: int | float  # 0/1; a graded bank's answer: its score in [0, 1]
    theta: float
    se: float
    expected_accuracy: float
    category: str | None = None
    expected_accuracy_interval: tuple[float, float] | None = None
    response: str | None = None  # a free-form item: the examinee's raw reply (Answer.response)
    extracted: str | None = None  # and the answer parsed from it (None when there is none)
    item: dict | None = None  # an item from outside the bank (sources.py), as asked
    truncated: bool | None = None  # a generated reply stopped at the token budget
    tokens: dict | None = None  # {"prompt": .., "completion": ..} where the server reported them


@dataclass
class Result:
    theta: float
    se: float
    expected_accuracy: float
    expected_accuracy_interval: tuple[float, float]
    n_items: int
    observed_accuracy: float | None
    stop_reason: str
    history: list[Step] = field(default_factory=list)
    # per category of the bank: {"expected_accuracy": .., "interval": [lo, hi], "n_items": ..}
    category_accuracy: dict[str, dict] = field(default_factory=dict)

    @property
    def n_truncated(self) -> int:
        """How many generated replies stopped at the token budget."""
        return sum(bool(step.truncated) for step in self.history)

    @property
    def tokens(self) -> dict[str, int] | None:
        """Prompt and completion tokens summed over the steps whose server reported them."""
        counted = [step.tokens for step in self.history if step.tokens]
        if not counted:
            return None
        return {key: sum(int(c.get(key, 0)) for c in counted) for key in ("prompt", "completion")}

    def to_dict(self) -> dict:
        out = asdict(self)
        out["expected_accuracy_interval"] = list(self.expected_accuracy_interval)
        out["n_truncated"], out["tokens"] = self.n_truncated, self.tokens
        return out


DETAILS = ("response", "extracted", "truncated", "tokens")


def answer_details(answer) -> dict:
    """What a step records of an answer beside ``correct`` (nothing for a bare 0/1)."""
    return {key: getattr(answer, key, None) for key in DETAILS}


def recorded_details(line: dict) -> dict:
    """The same, from a session line."""
    return {key: line.get(key) for key in DETAILS}
