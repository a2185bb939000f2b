"""Computerised adaptive testing (CAT) of a language model on an item bank.

Each step: pick the most useful unanswered item for the current ability estimate (a selection
rule of ``selection.py``, with exposure control and content balancing), ask the examinee, add the
answer's log-likelihood to the grid posterior, re-estimate (``estimation.py``), and stop when the
stopping rule says so: ``max_items`` questions, the SE at or below ``target_se`` (after
``min_items``), or no item left.

The report (``Result``): ability ``theta`` with SE, and the predicted accuracy on the whole bank
and on each category, with intervals, from the accuracy model (``accuracy.py``).

The prior of theta is ``(1 - prior_tail) N(prior_mean, prior_sd^2) + prior_tail
N(prior_mean, (3 prior_sd)^2)`` (``estimation.log_prior``), by default the bank's calibration
population: ``prior_mean, prior_sd = bank.population()`` (its models' measured ability mean and SD;
the calibration does not put them on ``N(0, 1)``, ``calibration.py``). The wide tail keeps a model
far outside the calibration models' range from being held near the middle. In standardised units
``z = (theta - prior_mean) / prior_sd`` the prior is the same for every bank.

``likelihood_weight`` ``w <= 1`` tempers every answer's likelihood (a power likelihood, ``L^w``):
answers to adaptively chosen items are not independent given one ability, so a posterior from
``L`` is overconfident. As with a quasi-likelihood, only the uncertainty is tempered: the SE, the
stopping rule and the interval come from the ``L^w`` posterior, while the point estimates
(``theta``, the predicted accuracy) come from ``L`` (``temper_estimates=True`` takes them from
``L^w`` too).

Exposure control (``randomesque``): a random pick among the ``k`` best-scoring items. Content
balancing: candidates are restricted to the category furthest below its share of the bank,
``share_c (n + 1) - n_c``.

Twins: in a 2PL bank, items with identical ``(b, a)`` had identical answers from every
calibration model, so the bank cannot tell them apart and a new model's answers to them are not
independent given its ability. With ``discount_twins`` the selection score of an item is divided by
``1 + n_t``, ``n_t`` the number of its twins already asked. In a Rasch bank ``b`` depends only on
how many calibration models got an item right, so equal ``b`` says little: no discount there.

Items from outside the bank (``item_source``, off by default): when the best available item's
Fisher information at the current ``theta`` is below ``thin_information`` (the bank is thin
there), ``item_source(theta, category, asked=IDS)`` is asked for a new item (e.g. generated at
``theta`` and verified, ``thin_bank.py``), with ``category`` the one content balancing would pick
and ``IDS`` the question ids asked so far (replayed ones included). It returns ``None`` (then the
bank's best item is asked) or a dict with ``question_id`` (which the examinee can answer, and not
one of ``IDS``: a repeat is refused), ``b``, ``a``, ``b_se`` and ``category``. Its answer adds the
tempered log-likelihood of that 2PL item (``a`` marginalised over ``b_se`` as for bank items) to the
category's row (the largest category when the item's is not the bank's); it does not count as a
bank item in the predicted accuracy. The step carries the dict as ``item``, so a resumed session
replays it without asking ``item_source`` again.

What each of these choices measurably does: ``benchmarks/results/adaptive.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..banks.bank import ItemBank, ItemBankError
from ..errors import InputError
from ..irt.estimation import ESTIMATORS, GRID, log_prior, normalise, posterior_quantile
from ..irt.model import information, log_likelihood, prob
from .accuracy import AccuracyModel, answer_array, answer_value
from .in_flight import keep_in_flight
from .selection import QUANTILES, SELECTORS
from .session import Session, answerable, asked_under

TAIL_SD = 3.0  # the prior's wide tail: N(prior_mean, (TAIL_SD prior_sd)^2)


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
    item: dict | None = None  # an item from outside the bank (module docstring), as asked
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


#: the settings only the stopping rule reads: a resumed session may change them
STOPPING = ("max_items", "target_se", "min_items")


@dataclass
class AdaptiveTest:
    """A CAT on ``bank``; ``run(examinee)`` gives a ``Result`` (module docstring)."""

    bank: ItemBank
    max_items: int = 50
    target_se: float = 0.3  # 0 turns the SE rule off: exactly max_items questions
    min_items: int = 1
    selection: str = "fisher"  # fisher | kl | random
    estimator: str = "eap"  # eap | map | mle
    randomesque: int = 5  # pick at random among the top k (exposure control)
    content_balancing: bool = True  # keep category shares close to the bank's
    score: str = "hybrid"  # hybrid | irt (accuracy.py)
    use_item_se: bool = True  # marginalise P over the difficulties' SEs (accuracy.py)
    discount_twins: bool = True  # divide a twin's selection score by 1 + twins asked (docstring)
    correct_accuracy: bool = True  # add r(theta) (accuracy.py) when the bank has it
    category_sd: float = 0.5  # SD of category abilities around theta; 0: one-dimensional
    misfit_sd: float | None = None  # None: from the bank (accuracy.py)
    likelihood_weight: float = 0.5  # w in L^w (module docstring)
    temper_estimates: bool = False  # point estimates from L^w too, not only the uncertainty
    chance_accuracy: float | None = None  # floor of unanswered items' accuracy; None: the bank's
    prior_mean: float | None = None  # None: the bank's population mean (bank.population)
    prior_sd: float | None = None  # None: the bank's population SD
    prior_tail: float = 0.1  # weight of a wide N(prior_mean, (3 prior_sd)^2) in the prior
    seed: int = 0
    # items from outside the bank where it is thin (module docstring); None: off
    item_source: Callable[..., dict | None] | None = field(default=None, repr=False)
    thin_information: float = 0.1
    accuracy: AccuracyModel = field(init=False, repr=False)  # from the settings above
    prior: np.ndarray = field(init=False, repr=False)  # log prior on GRID

    def __post_init__(self) -> None:
        if len(self.bank) == 0:
            raise ItemBankError("the item bank is empty")
        if self.selection not in SELECTORS:
            raise InputError(f"selection={self.selection!r}: expected one of {list(SELECTORS)}")
        if self.estimator not in ESTIMATORS:
            raise InputError(f"estimator={self.estimator!r}: expected one of {list(ESTIMATORS)}")
        if self.max_items < 1 or self.min_items < 0 or self.target_se < 0 or self.randomesque < 1:
            raise InputError("max_items and randomesque must be >= 1; min_items, target_se >= 0")
        if not 0 < self.likelihood_weight <= 1:
            raise InputError("likelihood_weight must be in (0, 1]")
        mean, sd = self.bank.population()
        self.prior_mean = mean if self.prior_mean is None else float(self.prior_mean)
        self.prior_sd = sd if self.prior_sd is None else float(self.prior_sd)
        if not 0 <= self.prior_tail < 1 or self.prior_sd <= 0:
            raise InputError("prior_tail must be in [0, 1) and prior_sd > 0")
        self.accuracy = AccuracyModel(
            self.bank, score=self.score, use_item_se=self.use_item_se,
            correct_accuracy=self.correct_accuracy, category_sd=self.category_sd,
            misfit_sd=self.misfit_sd, chance=self.chance_accuracy,
        )
        self.prior = log_prior(self.prior_mean, self.prior_sd, self.prior_tail,
                               TAIL_SD * self.prior_sd)
        self._b32 = self.accuracy.b.astype(np.float32)  # for selection
        self._a32 = self.accuracy.a.astype(np.float32)
        self._category_share = self.accuracy.category_size / len(self.bank)
        self._twin = twin_groups(self.bank)
        # the items of twin group g: _twin_order[_twin_start[g] : _twin_start[g + 1]]
        self._twin_order = np.argsort(self._twin, kind="stable")
        self._twin_start = np.searchsorted(self._twin[self._twin_order],
                                           np.arange(self._twin.max() + 2))
        self._selector = SELECTORS[self.selection]()
        self._estimator = ESTIMATORS[self.estimator]()

    def settings(self) -> dict:
        """The settings a session header records (``session.py``): every field but the bank,
        the stopping rule (``STOPPING``: a resume may change it) and the item source, recorded
        by its kind. Another value in any of them makes another test."""
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.init and f.name not in ("bank", "item_source", *STOPPING)}
        out["item_source"] = None if self.item_source is None else \
            type(self.item_source).__name__
        return out

    # the state of one test ------------------------------------------------------------------

    def start(self, available: np.ndarray | None = None) -> TestState:
        """A fresh state; ``available`` masks the items the examinee can answer."""
        return TestState(self, np.ones(len(self.bank), bool) if available is None else available)

    def run(
        self,
        examinee,
        *,
        session: str | Path | None = None,
        on_step: Callable[[Step], None] | None = None,
        parallel: int = 1,
    ) -> Result:
        """Test ``examinee`` (``answerable(ids)``, ``answer(id)``) until the stopping rule.

        With ``session`` (``session.py``), answers recorded there are replayed first (never asked
        again) and each new answer is appended durably before the next question. ``parallel``
        questions are in flight at once (``in_flight.py``).
        """
        if parallel > 1 and self.item_source is not None:
            raise InputError("parallel questions and generated items (item_source) do not go "
                             "together: ask one question at a time to generate where the bank "
                             "is thin")
        state = self.start(np.asarray(examinee.answerable(self.bank.ids), bool))
        record = None
        if session is not None:
            record = Session(session, getattr(examinee, "name", None), self.bank,
                             self.settings() | {"answerable": answerable(self.bank.ids,
                                                                         state.available),
                                                "protocol": asked_under(examinee)})
            for line in record.records:
                if line.get("item") is not None:
                    state.record_outside(line["item"], int(line["correct"]),
                                         **recorded_details(line))
                    continue
                state.record(int(self.bank.index([line["question_id"]])[0]),
                             answer_value(line["correct"]), **recorded_details(line))

        def answered(step: Step) -> None:
            if record is not None:
                record.append(asdict(step))
            if on_step is not None:
                on_step(step)

        if parallel > 1:
            return state.result(keep_in_flight(state, examinee, parallel, answered))
        while (step := state.step(examinee)) is not None:
            answered(step)
        return state.result(state.stop_reason())


def _top_k(scores: np.ndarray, k: int) -> list[int]:
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


class TestState:
    """Answers so far, the grid log-likelihood and the estimate (see ``AdaptiveTest``)."""

    __test__ = False  # not a pytest class

    def __init__(self, test: AdaptiveTest, available: np.ndarray):
        self.test = test
        self.available = available.copy()
        self.answered = np.zeros(len(available), bool)
        self.sums = test.accuracy.new_sums(test.likelihood_weight)  # per category, L^w
        self.loglik = np.zeros_like(GRID)  # w log L, all categories
        self.items: list[int] = []
        self.answers: list[int] = []
        self.outside: list[int] = []  # answers to items from outside the bank
        self.history: list[Step] = []
        self.prior = test.prior  # log prior on GRID; set_prior replaces it (suite.py)
        self.twins_asked = np.zeros(test._twin.max() + 1)  # per twin group
        self.twin_factor = np.ones(len(available), np.float32)  # 1 / (1 + its twins asked)
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
        t = self.test
        if self.n_items >= t.max_items:
            return "max_items"
        if t.target_se > 0 and self.n_items >= max(t.min_items, 1) and self.se <= t.target_se:
            return "target_se"
        if not self.available.any():
            return "bank_exhausted"
        return None

    def candidates(self, pending: np.ndarray | None = None) -> np.ndarray:
        """Bank indices the next item is chosen from: the available items (less ``pending``,
        items asked whose answers have not arrived), of the category furthest below its share
        with content balancing (pending items counted as asked)."""
        t = self.test
        code = t.accuracy.category_code
        candidates = self.available.copy()
        count = self.sums.count
        if pending is not None and len(pending):
            candidates[pending] = False
            count = count + np.bincount(code[pending], minlength=len(count))
        if t.content_balancing:
            asked = self.n_items + (0 if pending is None else len(pending))
            deficit = t._category_share * (asked + 1) - count
            present = np.bincount(code[candidates], minlength=len(deficit)) > 0
            deficit[~present] = -np.inf
            candidates &= code == int(np.argmax(deficit))
        return np.flatnonzero(candidates)

    def next_item(self, pending: Sequence[int] = ()) -> int:
        """Index in the bank of the item to ask next.

        With ``pending`` (bank items asked whose answers have not arrived) it is chosen against
        the posterior as it would be after them: each adds its expected log-likelihood at the
        current estimate, ``p log P(theta) + (1 - p) log(1 - P(theta))`` with
        ``p = P(theta_hat)``, which narrows the posterior as an answer would, so the questions
        in flight together are jointly informative rather than one choice asked N times."""
        t = self.test
        pending = np.asarray(pending, int)
        index = self.candidates(pending)
        rng = np.random.default_rng([t.seed, self.n_items + len(pending)])
        theta, loglik = self.theta, self.loglik
        if len(pending):
            b, a = t._b32[pending, None].astype(float), t._a32[pending, None].astype(float)
            p = prob(self.theta, b, a)
            expected = p * log_likelihood(1, GRID, b, a) + (1 - p) * log_likelihood(0, GRID, b, a)
            loglik = loglik + self.sums.weight * expected.sum(0)
            theta = t._estimator.estimate(loglik, self.prior)[0]
        points = posterior_quantile(normalise(loglik + self.prior), QUANTILES)
        scores = t._selector.scores(theta, points, t._b32[index], t._a32[index], rng)
        if t.discount_twins and t.selection != "random" and self.twins_asked.any():
            scores = scores * self.twin_factor[index]
        top = _top_k(scores, min(t.randomesque, len(index)))
        return int(index[top[rng.integers(len(top))]])

    def step(self, examinee) -> Step | None:
        """One step of ``AdaptiveTest.run``: ``ask(examinee)``, or None once ``stop_reason()``."""
        return None if self.stop_reason() is not None else self.ask(examinee)

    def ask(self, examinee, item: int | None = None) -> Step:
        """Ask ``examinee`` (``answer(id)`` -> 0/1 or an ``Answer``) the next item (or bank
        ``item``) and record its answer, with the raw response and extracted answer if any."""
        t = self.test
        if item is None and t.item_source is not None:
            index = self.candidates()
            best = float(information(self.theta, t._b32[index], t._a32[index]).max())
            if best < t.thin_information:
                category = None if t.bank.category is None else t.bank.category[index[0]]
                asked = {step.question_id for step in self.history}
                outside = t.item_source(self.theta, category, asked=asked)
                if outside is not None:
                    if str(outside["question_id"]) in asked:
                        raise ValueError(f"the item source returned question "
                                         f"{outside['question_id']!r}, which was already asked")
                    answer = examinee.answer(outside["question_id"])
                    return self.record_outside(outside, int(answer), **_details(answer))
        item = self.next_item() if item is None else item
        return self.record_answer(item, examinee.answer(self.test.bank.ids[item]))

    def record_answer(self, item: int, answer) -> Step:
        """Record ``answer`` (0/1, a graded score in [0, 1] or an ``Answer``) to bank ``item``,
        with what it carries."""
        return self.record(item, answer_value(answer), **_details(answer))

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
        """Add the answer to an item from outside the bank (module docstring)."""
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
        group = t._twin[items]
        np.add.at(self.twins_asked, group[group >= 0], 1)
        for g in np.unique(group[group >= 0]):
            members = t._twin_order[t._twin_start[g] : t._twin_start[g + 1]]
            self.twin_factor[members] = 1 / (1 + self.twins_asked[g])
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


DETAILS = ("response", "extracted", "truncated", "tokens")


def _details(answer) -> dict:
    """What a step records of an answer beside ``correct`` (nothing for a bare 0/1)."""
    return {key: getattr(answer, key, None) for key in DETAILS}


def recorded_details(line: dict) -> dict:
    """The same, from a session line."""
    return {key: line.get(key) for key in DETAILS}
