"""Where a bank test's next question comes from: the bank, or outside it where it is thin.

``BankItems`` (the default): the bank's next item by the selection (``TestState.next_item``).

``ThinBankSource`` (``AdaptiveTest.item_source`` set): when the best candidate's Fisher
information at the current ``theta`` is below ``thin_information`` (the bank is thin there),
``item_source(theta, category, asked=IDS)`` is asked for a new item (e.g. generated at ``theta``
and verified, ``thin_bank.py``), with ``category`` the one content balancing would pick and
``IDS`` the question ids asked so far (replayed ones included). It returns ``None`` (then the
bank's best item is asked) or a dict with ``question_id`` (which the examinee can answer, and not
one of ``IDS``: items are deduplicated by question id, and a repeat is refused), ``b``, ``a``,
``b_se`` and ``category``. Its answer is recorded by ``TestState.record_outside``; the step
carries the dict as ``item``, so a resumed session replays it without asking ``item_source``
again. Only with no question in flight: generation is one question at a time.

A source's ``next(state, pending)`` returns a bank index (``int``) or an outside item (``dict``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..irt.model import information


class BankItems:
    """The bank's own items (module docstring)."""

    def next(self, state, pending: Sequence[int] = ()) -> int | dict:
        return state.next_item(pending)


class ThinBankSource(BankItems):
    """The bank's items and, where it is thin, ``item_source``'s (module docstring)."""

    def __init__(self, item_source: Callable[..., dict | None], thin_information: float,
                 b32: np.ndarray, a32: np.ndarray, category: Sequence[str] | None) -> None:
        self.item_source, self.thin_information = item_source, thin_information
        self.b32, self.a32, self.category = b32, a32, category

    def outside(self, state) -> dict | None:
        """An item from ``item_source`` when the bank is thin at ``state.theta``, else None."""
        index = state.candidates()
        best = float(information(state.theta, self.b32[index], self.a32[index]).max())
        if not best < self.thin_information:
            return None
        category = None if self.category is None else self.category[index[0]]
        asked = {step.question_id for step in state.history}
        item = self.item_source(state.theta, category, asked=asked)
        if item is not None and str(item["question_id"]) in asked:
            raise ValueError(f"the item source returned question {item['question_id']!r}, "
                             "which was already asked")
        return item

    def next(self, state, pending: Sequence[int] = ()) -> int | dict:
        if not len(pending):
            item = self.outside(state)
            if item is not None:
                return item
        return state.next_item(pending)
