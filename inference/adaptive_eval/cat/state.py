"""The state of one bank's adaptive test: the answers so far and the posterior of the ability.

``TestState`` holds the answers (bank items and items from outside the bank), the tempered
grid log-likelihood per category (``accuracy.AnswerSums``: ``w log L``) and its sum ``loglik``,
the prior on ``GRID`` (a suite replaces it, ``set_prior``) and the estimate ``(theta, se)``: the
SE from the ``L^w`` posterior, ``theta`` from the plain ``L`` one unless ``temper_estimates``
(``adaptive.py``). The parts it is composed with come from its ``AdaptiveTest``: the item chain
(``filters.py``) and selector (``selection.py``) behind ``next_item``, the item source
(``sources.py``) behind ``ask``, the stopping rule (``stopping.py``) behind ``stop_reason``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..irt.estimation import GRID, normalise, posterior_quantile
from ..irt.model import log_likelihood, prob
from .accuracy import answer_array, answer_value
from .result import Result, Step, answer_details
from .selection import QUANTILES


class TestState:
    """Answers so far, the grid log-likelihood and the estimate (module docstring)."""

    __test__ = False  # not a pytest class

    def __init__(self, test, available: np.ndarray):
        self.test = test  # an adaptive.AdaptiveTest
        self.available = available.copy()
        self.answered = np.zeros(len(available), bool)
        self.sums = test.accuracy.new_sums(test.likelihood_weight)  # per category, L^w
        self.loglik = np.zeros_like(GRID)  # w log L, all categories
        self.items: list[int] = []
        self.answers: list[int] = []
        self.outside: list[int] = []  # answers to items from outside the bank
        self.history: list[Step] = []
        self.prior = test.prior  # log prior on GRID; set_prior replaces it (suite.py)
        self.theta, self.se = test._estimator.estimate(self.loglik, self.prior)

    @property
    def n_items(self) -> int:
        """Questions asked: bank items and items from outside the bank."""
        return len(self.items) + len(self.outside)

    def posterior(self) -> np.ndarray:
        """Weights of ``GRID`` under the tempered posterior."""
        return normalise(self.loglik + self.prior)

    def set_prior(self, prior: np.ndarray) -> None:
        """Replace the log prior on ``GRID`` (e.g. one conditioned on other banks' answers,
        ``suite.py``) and re-estimate."""
        self.prior = np.asarray(prior, float)
        self._estimate()

    def stop_reason(self) -> str | None:
        """The test's stopping rule (``stopping.py``) on this state."""
        return self.test.stopping.reason(self.n_items, [self.se], bool(self.available.any()))

    def candidates(self, pending: np.ndarray | None = None) -> np.ndarray:
        """Bank indices the next item is chosen from: the available items (less ``pending``,
        items asked whose answers have not arrived), through the test's item filters
        (``filters.py``: with content balancing, of the category furthest below its share,
        pending items counted as asked)."""
        pending = np.asarray((), int) if pending is None else np.asarray(pending, int)
        return self.test.chain.candidates(self, pending)

    def ahead(self, pending: Sequence[int] = ()) -> tuple[float, float, np.ndarray]:
        """``(theta, se, loglik)`` as they would be after the answers to bank items ``pending``:
        each adds its expected log-likelihood at the current estimate, ``p log P(theta) +
        (1 - p) log(1 - P(theta))`` with ``p = P(theta_hat)``, which narrows the posterior as an
        answer would (``theta`` and ``se`` then both from the tempered posterior). With nothing
        pending: the state's own."""
        pending = np.asarray(pending, int)
        if not len(pending):
            return self.theta, self.se, self.loglik
        t = self.test
        b, a = t._b32[pending, None].astype(float), t._a32[pending, None].astype(float)
        p = prob(self.theta, b, a)
        expected = p * log_likelihood(1, GRID, b, a) + (1 - p) * log_likelihood(0, GRID, b, a)
        loglik = self.loglik + self.sums.weight * expected.sum(0)
        theta, se = t._estimator.estimate(loglik, self.prior)
        return theta, se, loglik

    def next_item(self, pending: Sequence[int] = ()) -> int:
        """Index in the bank of the item to ask next: the test's item chain (``filters.py``)
        and selector (``selection.py``) on the candidates.

        With ``pending`` (bank items asked whose answers have not arrived) it is chosen against
        the posterior as it would be after them (``ahead``), so the questions in flight together
        are jointly informative rather than one choice asked N times."""
        t = self.test
        pending = np.asarray(pending, int)
        index = self.candidates(pending)
        rng = np.random.default_rng([t.seed, self.n_items + len(pending)])
        theta, _, loglik = self.ahead(pending)
        points = posterior_quantile(normalise(loglik + self.prior), QUANTILES)
        return t.chain.choose(self, index, theta, points, rng)

    def step(self, examinee) -> Step | None:
        """One step of ``AdaptiveTest.run``: ``ask(examinee)``, or None once ``stop_reason()``."""
        return None if self.stop_reason() is not None else self.ask(examinee)

    def ask(self, examinee, item: int | None = None) -> Step:
        """Ask ``examinee`` (``answer(id)`` -> 0/1 or an ``Answer``) the next question (from the
        test's item source, ``sources.py``), or bank ``item``, and record its answer, with the
        raw response and extracted answer if any."""
        choice = self.test.source.next(self) if item is None else item
        return self.record_choice(choice, examinee.answer(self.question_id(choice)))

    def question_id(self, choice: int | dict) -> str:
        """The question id of a bank index or of an item from outside the bank."""
        return choice["question_id"] if isinstance(choice, dict) else self.test.bank.ids[choice]

    def record_choice(self, choice: int | dict, answer) -> Step:
        """Record ``answer`` to a bank index (``record_answer``) or an outside item
        (``record_outside``)."""
        if isinstance(choice, dict):
            return self.record_outside(choice, int(answer), **answer_details(answer))
        return self.record_answer(choice, answer)

    def record_answer(self, item: int, answer) -> Step:
        """Record ``answer`` (0/1, a graded score in [0, 1] or an ``Answer``) to bank ``item``,
        with what it carries."""
        return self.record(item, answer_value(answer), **answer_details(answer))

    def record(self, item: int, correct: int, with_accuracy: bool = True, *,
               response: str | None = None, extracted: str | None = None,
               truncated: bool | None = None, tokens: dict | None = None) -> Step:
        """Add one answer; returns the step with the updated estimate (and, unless
        ``with_accuracy`` is false, the predicted bank accuracy; NaN otherwise).
        ``response``/``extracted``: a generated answer's raw text and parsed answer;
        ``truncated``/``tokens``: whether it hit the token budget, and what it cost."""
        t = self.test
        self.record_many([item], [correct])
        accuracy, interval = self.expected_accuracy() if with_accuracy else (float("nan"), None)
        step = Step(t.bank.ids[item], answer_value(correct), self.theta, self.se, accuracy,
                    None if t.bank.category is None else t.bank.category[item], interval,
                    None if response is None else str(response),
                    None if extracted is None else str(extracted), None, truncated, tokens)
        self.history.append(step)
        return step

    def record_outside(self, item: dict, correct: int, *, response: str | None = None,
                       extracted: str | None = None, truncated: bool | None = None,
                       tokens: dict | None = None) -> Step:
        """Add the answer to an item from outside the bank (``sources.py``): the tempered
        log-likelihood of that 2PL item (``a`` marginalised over ``b_se`` as for bank items,
        ``accuracy.py``), added to its category's row (the largest category when the item's is
        not the bank's); it does not count as a bank item in the predicted accuracy."""
        t = self.test
        b, a, b_se = float(item["b"]), float(item.get("a", 1.0)), float(item.get("b_se", 0.0))
        if t.use_item_se:
            a = a / np.sqrt(1 + np.pi * a**2 * b_se**2 / 8)
        names = list(t.accuracy.categories)
        row = names.index(item["category"]) if item.get("category") in names \
            else int(np.argmax(t.accuracy.category_size))
        self.sums.loglik[row] += self.sums.weight * log_likelihood(int(correct), GRID, b, a)
        self.outside.append(int(correct))
        self.loglik = self.sums.loglik.sum(0)
        self._estimate()
        accuracy, interval = self.expected_accuracy()
        step = Step(str(item["question_id"]), int(correct), self.theta, self.se, accuracy,
                    item.get("category"), interval,
                    None if response is None else str(response),
                    None if extracted is None else str(extracted), dict(item), truncated, tokens)
        self.history.append(step)
        return step

    def record_many(self, items, answers, chunk: int = 2048) -> None:
        """Add answers to bank ``items`` at once and re-estimate (no history steps: for answers
        known beforehand, such as a whole recorded benchmark run)."""
        t = self.test
        items, answers = np.asarray(items, int), answer_array(answers)
        unique, counts = np.unique(items, return_counts=True)
        repeated = np.concatenate([items[self.answered[items]], unique[counts > 1]])
        if len(repeated):
            raise ValueError(f"question {t.bank.ids[repeated[0]]!r} was already answered")
        self.answered[items] = True
        self.available[items] = False
        self.items += items.tolist()
        self.answers += answers.tolist()
        t.accuracy.add(self.sums, items, answers, chunk)
        self.loglik = self.sums.loglik.sum(0)
        self._estimate()

    def _estimate(self) -> None:
        t = self.test
        self.theta, self.se = t._estimator.estimate(self.loglik, self.prior)
        if not t.temper_estimates:
            plain = self.loglik / t.likelihood_weight
            self.theta = t._estimator.estimate(plain, self.prior)[0]

    def expected_accuracy(
        self, level: float = 0.95, category: str | None = None
    ) -> tuple[float, tuple[float, float]]:
        """Posterior mean of the accuracy on the whole bank (or on one ``category`` of it) and
        its ``level`` interval (``AccuracyModel.expected_accuracy``)."""
        t = self.test
        return t.accuracy.expected_accuracy(self.sums, self.prior, level, category,
                                            tempered_mean=t.temper_estimates)

    def result(self, reason: str) -> Result:
        mean, interval = self.expected_accuracy()
        observed = float(np.mean(self.answers)) if self.answers else None
        categories = {}
        if self.test.bank.category is not None:
            for code, name in enumerate(self.test.accuracy.categories):
                value, (lo, hi) = self.expected_accuracy(category=str(name))
                categories[str(name)] = {"expected_accuracy": value, "interval": [lo, hi],
                                         "n_items": int(self.sums.count[code])}
        return Result(self.theta, self.se, mean, interval, self.n_items, observed, reason,
                      list(self.history), categories)
