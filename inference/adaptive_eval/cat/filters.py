"""The chain that narrows a bank's items down to the one asked next (``TestState.next_item``).

Each link is a small rule; ``FilterChain`` composes them in this order:

1. ``available``: the items the examinee can answer that are neither answered nor in flight
   (``pending``: asked, answer not yet arrived).
2. ``ContentBalancing`` (``content_balancing``): only the category furthest below its share of
   the bank, deficit ``share_c (n + 1) - n_c`` with ``n`` the questions asked or in flight and
   ``n_c`` those of category ``c`` (a category with no candidate left is skipped).
3. the selector's score of each remaining item (``selection.py``: Fisher, KL or random).
4. ``TwinDiscount`` (``discount_twins``, not with random selection): in a 2PL bank, items with
   identical ``(b, a)`` had identical answers from every calibration model, so the bank cannot
   tell them apart and a new model's answers to them are not independent given its ability. A
   twin's score is divided by ``1 + n_t``, ``n_t`` the number of its twins already answered. In a
   Rasch bank ``b`` depends only on how many calibration models got an item right, so equal ``b``
   says little: no twins there.
5. ``Randomesque`` (exposure control): a random pick among the ``k`` best scores.

Every draw (the random selector's scores, then the randomesque pick) comes from one generator
seeded by the test's ``seed`` and the number of questions asked or in flight, so a choice depends
only on the answers so far, never on how many choices were made before (a resumed test, or a
suite that asks each bank for its choice every step, draws the same items).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..banks.bank import ItemBank


def available(state, pending: np.ndarray) -> np.ndarray:
    """Mask of the items the examinee can answer, not answered and not ``pending``."""
    candidates = state.available.copy()
    if len(pending):
        candidates[pending] = False
    return candidates


class ContentBalancing:
    """Candidates restricted to the category furthest below its share (module docstring)."""

    def __init__(self, code: np.ndarray, share: np.ndarray) -> None:
        self.code, self.share = code, share  # category code per item, share per category

    def __call__(self, state, candidates: np.ndarray, pending: np.ndarray) -> np.ndarray:
        count = state.sums.count
        if len(pending):
            count = count + np.bincount(self.code[pending], minlength=len(count))
        deficit = self.share * (state.n_items + len(pending) + 1) - count
        present = np.bincount(self.code[candidates], minlength=len(deficit)) > 0
        deficit[~present] = -np.inf
        return candidates & (self.code == int(np.argmax(deficit)))


def twin_groups(bank: ItemBank) -> np.ndarray:
    """Per item, the number of its group of twins (module docstring), or -1 if it has none."""
    group = np.full(len(bank), -1, np.int32)
    if bank.model == "2pl":
        params = np.column_stack([bank.b, bank.a])
        _, inverse, counts = np.unique(params, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
        twinned = counts[inverse] > 1
        group[twinned] = np.unique(inverse[twinned], return_inverse=True)[1].ravel()
    return group


class TwinDiscount:
    """A twin's score divided by ``1 + n_t``, its twins answered so far (module docstring)."""

    def __init__(self, bank: ItemBank) -> None:
        self.group = twin_groups(bank)
        self.n_groups = int(self.group.max()) + 1

    def asked(self, items: Sequence[int]) -> np.ndarray:
        """Per twin group, how many of ``items`` (bank indices) belong to it."""
        group = self.group[np.asarray(items, int)]
        return np.bincount(group[group >= 0], minlength=self.n_groups)

    def __call__(self, state, index: np.ndarray, scores: np.ndarray) -> np.ndarray:
        asked = self.asked(state.items)
        if not asked.any():
            return scores
        # per group 1 / (1 + n_t), and 1 at the end for the items with no twin (group -1)
        factor = np.append(1 / (1 + asked), 1.0).astype(np.float32)
        return scores * factor[self.group[index]]


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Positions of the ``k`` largest scores (k argmax passes: for the small k of randomesque
    selection, several times faster than ``argpartition`` on a large bank)."""
    if k == 1:
        return [int(np.argmax(scores))]
    scores = scores.copy()
    top = []
    for _ in range(k):
        top.append(int(np.argmax(scores)))
        scores[top[-1]] = -np.inf
    return top


class Randomesque:
    """A random pick among the ``k`` best-scoring candidates (exposure control)."""

    def __init__(self, k: int) -> None:
        self.k = int(k)

    def __call__(self, scores: np.ndarray, rng: np.random.Generator) -> int:
        top = top_k(scores, min(self.k, len(scores)))
        return top[rng.integers(len(top))]


class FilterChain:
    """``available``, the candidate filters, the ``selector``'s scores (on the items' float32
    ``b``, ``a``), the score filters, then ``pick`` (module docstring)."""

    def __init__(self, selector, b32: np.ndarray, a32: np.ndarray, candidate_filters=(),
                 score_filters=(), pick: Randomesque | None = None) -> None:
        self.selector, self.b32, self.a32 = selector, b32, a32
        self.candidate_filters = list(candidate_filters)
        self.score_filters = list(score_filters)
        self.pick = pick or Randomesque(1)

    def candidates(self, state, pending: np.ndarray) -> np.ndarray:
        """Bank indices the next item is chosen from."""
        mask = available(state, pending)
        for keep in self.candidate_filters:
            mask = keep(state, mask, pending)
        return np.flatnonzero(mask)

    def choose(self, state, index: np.ndarray, theta: float, points: np.ndarray,
               rng: np.random.Generator) -> int:
        """The bank index picked among ``index``, scored at ``theta`` (and at the posterior's
        quantile ``points``, for KL)."""
        scores = self.selector.scores(theta, points, self.b32[index], self.a32[index], rng)
        for rescore in self.score_filters:
            scores = rescore(state, index, scores)
        return int(index[self.pick(scores, rng)])
