"""The stopping rule: when an adaptive test (one bank or a suite) asks no further question.

``StoppingRule(max_items, target_se, min_items).reason(n_items, ses, items_left)``, checked in
this order:

- ``"max_items"``: ``n_items >= max_items`` questions asked;
- ``"target_se"``: every SE in ``ses`` (one bank's, or each bank's of a suite) at or below
  ``target_se``, after at least ``max(min_items, 1)`` questions; ``target_se = 0`` turns it off;
- ``"bank_exhausted"``: no item left to ask (``items_left`` false);
- ``None``: ask another.

With questions in flight (``in_flight.py``), ``room`` allows another only while the questions
asked and in flight stay under ``max_items`` and the rule does not hold for the answers arrived,
with the items in flight counted as taken.

These three settings (``STOPPING``) are the only ones a resumed session may change: they decide
how long a test goes on, not which questions it asks nor how it scores them (``session.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: the settings only the stopping rule reads: a resumed session may change them
STOPPING = ("max_items", "target_se", "min_items")


@dataclass(frozen=True)
class StoppingRule:
    max_items: int = 50
    target_se: float = 0.3
    min_items: int = 1

    def reason(self, n_items: int, ses: Iterable[float], items_left: bool) -> str | None:
        """Why the test stops after ``n_items`` questions with these SEs, or None (docstring)."""
        if n_items >= self.max_items:
            return "max_items"
        if (self.target_se > 0 and n_items >= max(self.min_items, 1)
                and all(se <= self.target_se for se in ses)):
            return "target_se"
        if not items_left:
            return "bank_exhausted"
        return None

    def room(self, n_items: int, in_flight: int, ses: Iterable[float], free_left: bool) -> bool:
        """Whether one more question may be asked with ``in_flight`` unanswered ones
        (``free_left``: an item is left that is neither asked nor in flight)."""
        return (n_items + in_flight < self.max_items
                and self.reason(n_items, ses, free_left) is None)
