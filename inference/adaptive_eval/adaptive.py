"""Computerised adaptive testing (CAT) of a language model on an item bank.

Each step: pick the most useful unanswered item for the current ability estimate (selection
rule, with optional exposure control and content balancing), ask the examinee, add the answer's
log-likelihood to the grid posterior, re-estimate, and stop when the stopping rule says so.

The report: ability ``theta`` (the chosen estimator on the one-dimensional model) with SE,
and the predicted accuracy on the whole bank. A multi-subject benchmark is not one-dimensional,
so the score uses a hierarchical model: category ``c`` has ability ``theta_c = theta + delta_c``,
``delta_c ~ N(0, category_sd^2)``. On the grid, with ``K`` the ``N(0, category_sd^2)`` kernel and
``L_c`` the likelihood of the answers in category ``c``:

    p(theta | answers)       ~ prior(theta) prod_c (K * L_c)(theta)
    E[A_c(theta_c) | theta]  = (K * (L_c A_c))(theta) / (K * L_c)(theta)
    A_c(theta_c)             = max(sum_{unanswered i in c} P_i(theta_c) + r(theta_c) (N_c - n_c),
                                   chance_accuracy (N_c - n_c))
    acc                      = (sum_{answered} y_i + sum_c A_c) / N                 (score="hybrid")

(``score="irt"`` counts every item by its model probability, answered or not.) The same sums over
one category's items give its accuracy (``expected_accuracy(category=...)``,
``Result.category_accuracy``). ``r(theta)`` corrects the curve by the calibration models'
residuals (``misfit.py``), when the bank records their observed accuracies.

The 95% interval maps the 2.5% and 97.5% posterior quantiles of theta through
``E[acc | theta]`` (monotone), widened in quadrature by the spread of the category terms given
theta, the Bernoulli spread of the unanswered items ``sqrt(sum P_i (1 - P_i)) / N``, and
``misfit_sd``: the SD of the error of the accuracy curve for a model the bank was not fitted to,
even at its exact ability (default: the bank's ``heldout_misfit_sd``, measured by leaving each
model out, ``misfit.py``; else the leave-one-model-out error of ``r``).

The prior of theta is ``N(prior_mean, prior_sd^2)`` (the calibration scale) mixed with a wide
``N(prior_mean, 3^2)`` of weight ``prior_tail``: within the calibration models' range it changes
nothing measurable, and a model far outside it (SmolLM2-135M on MMLU-Pro, near chance, below the
weakest calibration model) is no longer held near the middle for dozens of questions
(``benchmarks/results/real_model.md``).

``likelihood_weight`` ``w <= 1`` tempers every answer's likelihood (a power likelihood,
``L^w``): answers to adaptively chosen items are not independent given one ability, so a posterior
from ``L`` is overconfident; ``w`` is chosen by the coverage measured in ``benchmarks/adaptive.py``
(with twins discounted, ``w = 1`` covered the truth in 88-100% of runs, ``w = 0.5`` in 97-100%).
As with a quasi-likelihood, only the uncertainty is tempered: the SE, the stopping rule and the
interval come from the ``L^w`` posterior, while the point estimates (``theta``, the predicted
accuracy) are posterior means under ``L`` (``temper_estimates=True`` takes them from ``L^w``).

A multiple-choice model does not score below chance: each category's unanswered items are
credited at least ``chance_accuracy`` (the mean of ``1 / n_options``; a bank calibrated with its
question file records it) per item. Within the calibration models' range the curve is far above
it; a near-chance model (SmolLM2-135M on MMLU-Pro) would otherwise be predicted below chance,
since a 2PL has no guessing floor.

Twins: in a 2PL bank, items with identical ``(b, a)`` had identical answers from every
calibration model (on MMLU-Pro 4,603 of 12,032 items fall in 764 such groups; in the largest, 733
items, every calibration model was wrong, in the next, 291 items, every one was right), so the
bank cannot tell them apart and a new model's answers to them are not independent given its
ability. With ``discount_twins`` the selection score of an item is divided by ``1 + n_t``,
``n_t`` the number of its twins already asked: the mean error falls from 0.019 to 0.017 after 100
questions and from 0.016 to 0.012 after 200, about what the same test reaches on answers simulated
from the bank's own model; up to 50 questions it is about equal (``benchmarks/results/
adaptive.md``). In a Rasch bank ``b`` depends only on how many calibration models got an item
right, so equal ``b`` says little: no discount there.

With ``use_item_se`` every probability is marginalised over the difficulty's calibration
uncertainty:
``E_b[sigmoid(a (theta - b))] ~= sigmoid(a (theta - b) / sqrt(1 + pi a^2 se_b^2 / 8))``,
so poorly calibrated items count for less in selection and scoring.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.stats import norm

from .bank import ItemBank, ItemBankError
from .estimation import ESTIMATORS, GRID, log_prior, normalise, posterior_quantile
from .irt import log_likelihood, prob
from .selection import QUANTILES, SELECTORS


@dataclass(frozen=True)
class Step:
    """One answered question and the estimate after it."""

    question_id: str
    correct: int
    theta: float
    se: float
    expected_accuracy: float
    category: str | None = None
    expected_accuracy_interval: tuple[float, float] | None = None


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

    def to_dict(self) -> dict:
        out = asdict(self)
        out["expected_accuracy_interval"] = list(self.expected_accuracy_interval)
        return out

    def plot(self, path: str | Path, title: str | None = None) -> Path:
        """Save the trajectory: ability +/- SE and predicted accuracy against questions asked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        k = np.arange(1, len(self.history) + 1)
        theta = np.array([s.theta for s in self.history])
        se = np.array([s.se for s in self.history])
        acc = np.array([s.expected_accuracy for s in self.history])
        band = np.array([s.expected_accuracy_interval or (np.nan, np.nan) for s in self.history])
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
        top.plot(k, theta, color="C0", label="ability estimate")
        top.fill_between(k, theta - se, theta + se, color="C0", alpha=0.25, label="+/- SE")
        right = [s.correct for s in self.history]
        top.scatter(k, theta, c=["C2" if r else "C3" for r in right], s=10, zorder=3)
        top.set_ylabel("theta")
        top.legend(loc="best")
        bottom.plot(k, acc, color="C1", label="predicted bank accuracy")
        bottom.fill_between(k, band[:, 0], band[:, 1], color="C1", alpha=0.2,
                            label="95% interval")
        bottom.xaxis.get_major_locator().set_params(integer=True)
        lo, hi = self.expected_accuracy_interval
        bottom.set_xlabel("questions asked")
        bottom.set_ylabel("accuracy")
        bottom.legend(loc="best")
        fig.suptitle(title or f"theta {self.theta:.2f} +/- {self.se:.2f}, "
                     f"accuracy {self.expected_accuracy:.3f} [{lo:.3f}, {hi:.3f}]")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return Path(path)


class SessionError(ValueError):
    """A session file that cannot be resumed; the message names the file and line."""


class Session:
    """Append-only JSONL record of a test: a header line, then one line per answered question.

    Each answer is flushed and fsynced before the next question is asked, so killing the
    process loses at most the question in flight. Reopening the file resumes the test.
    """

    def __init__(self, path: str | Path, header: dict):
        self.path = Path(path)
        self.answers: list[tuple[str, int]] = []
        if self.path.exists() and self.path.stat().st_size > 0:
            self._read(header)
        else:
            self._write(dict(header, type="header"))

    def _read(self, header: dict) -> None:
        lines = self.path.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # a line cut by a kill mid-write: drop it
                    self._truncate_last_line(lines[:-1])
                    break
                raise SessionError(f"{self.path}: line {number} is not JSON") from None
            if number == 1:
                if record.get("type") != "header":
                    raise SessionError(f"{self.path}: line 1 is not a session header")
                for key in ("examinee", "bank"):
                    if record.get(key) != header.get(key):
                        raise SessionError(
                            f"{self.path}: the session was for {key} {record.get(key)!r}, "
                            f"not {header.get(key)!r}; use another --session file"
                        )
            elif "question_id" not in record or record.get("correct") not in (0, 1):
                raise SessionError(f"{self.path}: line {number} lacks question_id/correct 0|1")
            else:
                self.answers.append((str(record["question_id"]), int(record["correct"])))

    def _truncate_last_line(self, keep: list[str]) -> None:
        self.path.write_text("".join(line + "\n" for line in keep))

    def _write(self, record: dict) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, step: Step) -> None:
        self._write(asdict(step))


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
    score: str = "hybrid"  # hybrid | irt (module docstring)
    use_item_se: bool = True
    discount_twins: bool = True  # divide a twin's selection score by 1 + twins asked (docstring)
    correct_accuracy: bool = True  # add r(theta) (module docstring) when the bank has it
    category_sd: float = 0.5  # SD of category abilities around theta; 0: one-dimensional
    misfit_sd: float | None = None  # None: from the bank (module docstring)
    likelihood_weight: float = 0.5  # w in L^w (module docstring)
    temper_estimates: bool = False  # point estimates from L^w too, not only the uncertainty
    chance_accuracy: float | None = None  # floor of unanswered items' accuracy; None: the bank's
    prior_mean: float = 0.0
    prior_sd: float = 1.0
    prior_tail: float = 0.1  # weight of a wide N(prior_mean, 3^2) in the prior (log_prior)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.bank) == 0:
            raise ItemBankError("the item bank is empty")
        if self.selection not in SELECTORS:
            raise ValueError(f"selection={self.selection!r}: expected one of {list(SELECTORS)}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator={self.estimator!r}: expected one of {list(ESTIMATORS)}")
        if self.score not in ("hybrid", "irt"):
            raise ValueError(f"score={self.score!r}: expected 'hybrid' or 'irt'")
        if self.max_items < 1 or self.min_items < 0 or self.target_se < 0 or self.randomesque < 1:
            raise ValueError("max_items and randomesque must be >= 1; min_items, target_se >= 0")
        if not 0 < self.likelihood_weight <= 1:
            raise ValueError("likelihood_weight must be in (0, 1]")
        if not 0 <= self.prior_tail < 1 or self.prior_sd <= 0:
            raise ValueError("prior_tail must be in [0, 1) and prior_sd > 0")
        chance = self.chance_accuracy
        self._chance = self.bank.metadata.get("chance_accuracy", 0.0) if chance is None else chance
        if not 0 <= self._chance < 1:
            raise ValueError(f"chance_accuracy={self._chance}: expected a share in [0, 1)")
        b, a = self.bank.b, self.bank.a
        if self.use_item_se:
            a = a / np.sqrt(1 + np.pi * a**2 * self.bank.b_se**2 / 8)
        self._b, self._a = b, a
        self._b32, self._a32 = b.astype(np.float32), a.astype(np.float32)  # for selection
        self._twin = twin_groups(self.bank)
        # the items of twin group g: _twin_order[_twin_start[g] : _twin_start[g + 1]]
        self._twin_order = np.argsort(self._twin, kind="stable")
        self._twin_start = np.searchsorted(self._twin[self._twin_order],
                                           np.arange(self._twin.max() + 2))
        self._selector = SELECTORS[self.selection]()
        self._estimator = ESTIMATORS[self.estimator]()
        self._prior = log_prior(self.prior_mean, self.prior_sd, self.prior_tail)
        categories = self.bank.category or ["all"] * len(self.bank)
        self._categories, self._category_code = np.unique(categories, return_inverse=True)
        self._category_share = np.bincount(self._category_code) / len(self.bank)
        self._category_size = np.bincount(self._category_code)
        self._p_cat, self._pq_cat = category_curves(b, a, self._category_code,
                                                    len(self._categories))
        residual, loo_sd = accuracy_residual(self.bank, self._p_cat.sum(0) / len(self.bank))
        self._residual = residual if self.correct_accuracy else np.zeros_like(GRID)
        if self.misfit_sd is not None:
            self._misfit_sd = self.misfit_sd
        else:
            self._misfit_sd = self.bank.metadata.get("heldout_misfit_sd", loo_sd)

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
    ) -> Result:
        """Test ``examinee`` (``answerable(ids)``, ``answer(id)``) until the stopping rule.

        With ``session``, answers recorded there are replayed first (never asked again) and
        each new answer is appended durably before the next question.
        """
        state = self.start(np.asarray(examinee.answerable(self.bank.ids), bool))
        record = None
        if session is not None:
            header = {"examinee": getattr(examinee, "name", None),
                      "bank": self.bank.metadata.get("name", len(self.bank))}
            record = Session(session, header)
            for question_id, correct in record.answers:
                state.record(int(self.bank.index([question_id])[0]), correct)
        while (reason := state.stop_reason()) is None:
            item = state.next_item()
            correct = int(examinee.answer(self.bank.ids[item]))
            step = state.record(item, correct)
            if record is not None:
                record.append(step)
            if on_step is not None:
                on_step(step)
        return state.result(reason)


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


def category_curves(b, a, code, n_categories, chunk: int = 4096):
    """Per category, ``sum_i P_i(theta_g)`` and ``sum_i P_i (1 - P_i)`` on the grid: (C, G) each."""
    p_sum = np.zeros((n_categories, len(GRID)))
    pq_sum = np.zeros((n_categories, len(GRID)))
    for lo in range(0, len(b), chunk):
        p = prob(GRID[:, None], b[lo : lo + chunk], a[lo : lo + chunk])
        onehot = np.eye(n_categories)[code[lo : lo + chunk]]
        p_sum += (p @ onehot).T
        pq_sum += ((p * (1 - p)) @ onehot).T
    return p_sum, pq_sum


def accuracy_residual(bank: ItemBank, curve: np.ndarray) -> tuple[np.ndarray, float]:
    """``r(theta)`` on ``GRID`` (module docstring; why in-sample: ``misfit.py``) and its
    leave-one-model-out SD.

    ``curve`` is the IRT bank accuracy on ``GRID``. Needs at least 3 calibration models with
    a recorded ``accuracy``; otherwise ``r = 0`` and SD 0.
    """
    known = [(m["theta"], m["accuracy"]) for m in bank.abilities.values() if "accuracy" in m]
    if len(known) < 3:
        return np.zeros_like(GRID), 0.0
    theta, accuracy = np.array(sorted(known)).T
    residual = accuracy - np.interp(theta, GRID, curve)
    loo = [residual[j] - np.interp(theta[j], np.delete(theta, j), np.delete(residual, j))
           for j in range(len(theta))]
    return np.interp(GRID, theta, residual), float(np.sqrt(np.mean(np.square(loo))))


class TestState:
    """Answers so far, the grid log-likelihood and the estimate (see ``AdaptiveTest``)."""

    __test__ = False  # not a pytest class

    def __init__(self, test: AdaptiveTest, available: np.ndarray):
        self.test = test
        self.available = available.copy()
        self.answered = np.zeros(len(available), bool)
        self.loglik = np.zeros_like(GRID)
        self.items: list[int] = []
        self.answers: list[int] = []
        self.history: list[Step] = []
        self.category_count = np.zeros(len(test._categories))
        shape = (len(test._categories), len(GRID))
        self.category_loglik = np.zeros(shape)  # log L_c
        self.p_answered = np.zeros(shape)  # sum of P_i(theta) over answered items, per category
        self.pq_answered = np.zeros(shape)  # sum of P_i (1 - P_i) over answered items
        self.category_correct = np.zeros(len(test._categories))
        self.twins_asked = np.zeros(test._twin.max() + 1)  # per twin group
        self.twin_factor = np.ones(len(available), np.float32)  # 1 / (1 + its twins asked)
        self.theta, self.se = test._estimator.estimate(
            self.loglik, test._prior, test._b[:0], test._a[:0]
        )

    @property
    def n_items(self) -> int:
        return len(self.items)

    def posterior(self) -> np.ndarray:
        return normalise(self.loglik + self.test._prior)

    def stop_reason(self) -> str | None:
        t = self.test
        if self.n_items >= t.max_items:
            return "max_items"
        if t.target_se > 0 and self.n_items >= max(t.min_items, 1) and self.se <= t.target_se:
            return "target_se"
        if not self.available.any():
            return "bank_exhausted"
        return None

    def next_item(self) -> int:
        """Index in the bank of the item to ask next."""
        t = self.test
        candidates = self.available.copy()
        if t.content_balancing:
            deficit = t._category_share * (self.n_items + 1) - self.category_count
            present = np.bincount(t._category_code[candidates], minlength=len(deficit)) > 0
            deficit[~present] = -np.inf
            candidates &= t._category_code == int(np.argmax(deficit))
        index = np.flatnonzero(candidates)
        rng = np.random.default_rng([t.seed, self.n_items])
        points = posterior_quantile(self.posterior(), QUANTILES)
        scores = t._selector.scores(self.theta, points, t._b32[index], t._a32[index], rng)
        if t.discount_twins and t.selection != "random" and self.twins_asked.any():
            scores = scores * self.twin_factor[index]
        top = _top_k(scores, min(t.randomesque, len(index)))
        return int(index[top[rng.integers(len(top))]])

    def record(self, item: int, correct: int, with_accuracy: bool = True) -> Step:
        """Add one answer; returns the step with the updated estimate (and, unless
        ``with_accuracy`` is false, the predicted bank accuracy; NaN otherwise)."""
        t = self.test
        self.record_many([item], [correct])
        accuracy, interval = self.expected_accuracy() if with_accuracy else (float("nan"), None)
        step = Step(t.bank.ids[item], int(correct), self.theta, self.se, accuracy,
                    None if t.bank.category is None else t.bank.category[item], interval)
        self.history.append(step)
        return step

    def record_many(self, items, answers, chunk: int = 2048) -> None:
        """Add answers to bank ``items`` at once and re-estimate (no history steps: for answers
        known beforehand, such as a whole recorded benchmark run)."""
        t = self.test
        items, answers = np.asarray(items, int), np.asarray(answers, int)
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
        for lo in range(0, len(items), chunk):
            i, y = items[lo : lo + chunk], answers[lo : lo + chunk]
            b, a, codes = t._b[i, None], t._a[i, None], t._category_code[i]
            loglik = t.likelihood_weight * log_likelihood(y[:, None], GRID, b, a)
            p = prob(GRID, b, a)
            for c in np.unique(codes):
                rows = codes == c
                self.category_loglik[c] += loglik[rows].sum(0)
                self.p_answered[c] += p[rows].sum(0)
                self.pq_answered[c] += (p[rows] * (1 - p[rows])).sum(0)
                self.category_count[c] += rows.sum()
                self.category_correct[c] += y[rows].sum()
        self.loglik = self.category_loglik.sum(0)
        idx = np.array(self.items)
        self.theta, self.se = t._estimator.estimate(self.loglik, t._prior, t._b[idx], t._a[idx])
        if not t.temper_estimates:
            plain = self.loglik / t.likelihood_weight
            self.theta = t._estimator.estimate(plain, t._prior, t._b[idx], t._a[idx])[0]

    def _score_grid(self, tempered: bool = True):
        """Posterior weights of theta and, per category, ``E[A_c | theta]``, ``Var[A_c | theta]``
        on the grid (module docstring); from ``L`` instead of ``L^w`` unless ``tempered``."""
        t = self.test
        loglik = self.category_loglik if tempered else self.category_loglik / t.likelihood_weight
        unanswered = (t._category_size - self.category_count)[:, None]
        if t.score == "hybrid":
            total = t._p_cat - self.p_answered + unanswered * t._residual  # A_c, (C, G)
            total = np.maximum(total, t._chance * unanswered)
        else:
            total = t._p_cat + t._category_size[:, None] * t._residual
            total = np.maximum(total, t._chance * t._category_size[:, None])
        shift = loglik.max(axis=1, keepdims=True)
        lik = np.exp(loglik - shift)  # L_c, scaled
        smoothed = np.concatenate([lik, lik * total, lik * total**2])
        if t.category_sd > 0:  # K * f: a Gaussian filter along theta
            smoothed = gaussian_filter1d(smoothed, t.category_sd / (GRID[1] - GRID[0]), axis=1,
                                         mode="nearest", truncate=4.0)
        k = len(lik)
        norm_c = np.maximum(smoothed[:k], 1e-300)
        mean_c = smoothed[k : 2 * k] / norm_c
        var_c = np.maximum(smoothed[2 * k :] / norm_c - mean_c**2, 0.0)
        w = normalise(t._prior + (np.log(norm_c) + shift).sum(axis=0))
        return w, mean_c, var_c

    def expected_accuracy(
        self, level: float = 0.95, category: str | None = None
    ) -> tuple[float, tuple[float, float]]:
        """Posterior mean of the accuracy on the whole bank (or on one ``category`` of it) and
        its ``level`` interval (module docstring)."""
        t = self.test
        rows = np.ones(len(t._categories), bool)
        if category is not None:
            if category not in t._categories:
                raise ValueError(f"category {category!r} is not in the bank")
            rows = t._categories == category
        w, mean_c, var_c = self._score_grid()
        n = int(t._category_size[rows].sum())
        answered = int(self.category_count[rows].sum())
        base = self.category_correct[rows].sum() if t.score == "hybrid" else 0.0
        curve = (base + mean_c[rows].sum(axis=0)) / n  # E[acc | theta], monotone in theta
        if t.temper_estimates:
            mean = float(w @ curve)
        else:
            w_plain, mean_plain, _ = self._score_grid(tempered=False)
            mean = float(w_plain @ ((base + mean_plain[rows].sum(axis=0)) / n))
        lo_q, hi_q = posterior_quantile(w, [(1 - level) / 2, (1 + level) / 2])
        lo, hi = np.interp([lo_q, hi_q], GRID, curve)
        within = float(w @ var_c[rows].sum(axis=0)) / n**2
        pq_unanswered = float(w @ (t._pq_cat - self.pq_answered)[rows].sum(axis=0))
        bernoulli = max(pq_unanswered, 0.0) / n**2
        misfit = t._misfit_sd * (n - answered) / n
        extra = norm.ppf((1 + level) / 2) * np.sqrt(within + bernoulli + misfit**2)
        lo = mean - np.hypot(mean - lo, extra)
        hi = mean + np.hypot(hi - mean, extra)
        return mean, (float(max(lo, 0.0)), float(min(hi, 1.0)))

    def result(self, reason: str) -> Result:
        mean, interval = self.expected_accuracy()
        observed = float(np.mean(self.answers)) if self.answers else None
        categories = {}
        if self.test.bank.category is not None:
            for code, name in enumerate(self.test._categories):
                value, (lo, hi) = self.expected_accuracy(category=str(name))
                categories[str(name)] = {"expected_accuracy": value, "interval": [lo, hi],
                                         "n_items": int(self.category_count[code])}
        return Result(self.theta, self.se, mean, interval, self.n_items, observed, reason,
                      list(self.history), categories)
