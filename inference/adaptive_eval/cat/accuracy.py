"""The accuracy model: a bank's predicted accuracy for a model, from the answers it gave so far.

A multi-subject benchmark is not one-dimensional, so the score uses a hierarchical model:
category ``c`` has ability ``theta_c = theta + delta_c``, ``delta_c ~ N(0, category_sd^2)``. On
the ability grid, with ``K`` the ``N(0, category_sd^2)`` kernel and ``L_c`` the likelihood of the
answers in category ``c``:

    p(theta | answers)       ~ prior(theta) prod_c (K * L_c)(theta)
    E[A_c(theta_c) | theta]  = (K * (L_c A_c))(theta) / (K * L_c)(theta)
    A_c(theta_c)             = max(sum_{unanswered i in c} P_i(theta_c) + r(theta_c) (N_c - n_c),
                                   chance (N_c - n_c))
    acc                      = (sum_{answered} y_i + sum_c A_c) / N                 (score="hybrid")

``score="irt"`` counts every item by its model probability, answered or not:
``A_c = max(sum_{i in c} P_i + r N_c, chance N_c)`` and ``acc = sum_c A_c / N``. The same sums over
one category's items give its accuracy.

``r(theta)`` (``accuracy_residual``) corrects the IRT curve: the residual
``accuracy_j - sum_{i in S_j} P_i(theta_j) / |S_j|`` of the bank's calibration models at their
in-sample abilities, ``S_j`` the items model ``j`` answered (its observed accuracy against the
curve over the *same* items: the bank records that mean as ``curve_accuracy``), interpolated in
theta (flat beyond the ends); zero when the bank records fewer than 3 models' accuracies.

``chance`` is the accuracy of guessing (the mean of ``1 / n_options``; a bank calibrated with its
question file records it as ``chance_accuracy``): a multiple-choice model does not score below
it, and a 2PL has no guessing floor.

The interval maps the ``(1 - level) / 2`` and ``(1 + level) / 2`` posterior quantiles of theta
through ``E[acc | theta]`` (monotone), widened in quadrature around the mean by
``z sqrt(within + bernoulli + misfit^2)``: ``within`` the posterior mean of the category terms'
variance given theta over ``N^2``, ``bernoulli = sum_{unanswered} P_i (1 - P_i) / N^2``, and
``misfit = misfit_sd (N - n) / N``; ``misfit_sd`` is the SD of the curve's error for a model the
bank was not fitted to, at its exact ability (default: the bank's ``heldout_misfit_sd``,
``misfit.py``; else the leave-one-model-out error of ``r``).

Graded answers (scores in [0, 1], a bank calibrated with ``"score": "graded"``) need no other
model: the likelihood is the fractional-Bernoulli quasi-likelihood ``y log P + (1 - y) log(1 - P)``
(``irt.model.log_likelihood``), ``P_i(theta)`` is item ``i``'s expected score, the observed part
sums the scores, ``accuracy`` is the mean score, and ``P (1 - P)`` bounds a score's variance
(``Var y <= E y (1 - E y)`` for ``y`` in [0, 1]), so the ``bernoulli`` term stays conservative.

Answers enter as sums per category (``AnswerSums``). Their log-likelihood is tempered,
``w log L`` (``AdaptiveTest.likelihood_weight``): the interval comes from the ``L^w`` posterior,
the mean from the ``L`` posterior unless ``tempered_mean``.

With ``use_item_se`` every probability is marginalised over the difficulty's calibration
uncertainty,

    E_b[sigmoid(a (theta - b))] ~= sigmoid(a (theta - b) / sqrt(1 + pi a^2 se_b^2 / 8)):

``a`` is replaced by ``a / sqrt(1 + pi a^2 se_b^2 / 8)``, so poorly calibrated items count for less
in selection, estimation and scoring.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.stats import norm

from ..banks.bank import ItemBank
from ..irt.estimation import GRID, normalise, posterior_quantile
from ..irt.model import log_likelihood, marginal_a, prob


def category_curves(
    b: np.ndarray, a: np.ndarray, code: np.ndarray, n_categories: int, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Per category, ``sum_i P_i(theta_g)`` and ``sum_i P_i (1 - P_i)`` on the grid: (C, G) each."""
    p_sum = np.zeros((n_categories, len(GRID)))
    pq_sum = np.zeros((n_categories, len(GRID)))
    for lo in range(0, len(b), chunk):
        p = prob(GRID[:, None], b[lo : lo + chunk], a[lo : lo + chunk])
        onehot = np.eye(n_categories)[code[lo : lo + chunk]]
        p_sum += (p @ onehot).T
        pq_sum += ((p * (1 - p)) @ onehot).T
    return p_sum, pq_sum


def accuracy_residual(bank: ItemBank, curve: np.ndarray, use_item_se: bool = True
                      ) -> tuple[np.ndarray, float]:
    """``r(theta)`` on ``GRID`` (module docstring; why in-sample: ``misfit.py``) and its
    leave-one-model-out SD.

    Each calibration model's residual is its ``accuracy`` minus its ``curve_accuracy`` (the
    curve's mean over the items it answered; ``curve_accuracy_item_se`` when ``use_item_se``).
    A model recorded without it (a bank saved before it existed) is compared with ``curve``, the
    IRT accuracy over the whole bank on ``GRID``, when it answered the whole bank
    (``n_answered``), and left out with a warning when it answered part of it. Needs at least 3
    such models; otherwise ``r = 0`` and SD 0.
    """
    key = "curve_accuracy_item_se" if use_item_se else "curve_accuracy"
    known, partial = [], 0
    for m in bank.abilities.values():
        if "accuracy" not in m:
            continue
        if key in m:
            known.append((m["theta"], m["accuracy"] - m[key]))
        elif m.get("n_answered", len(bank)) >= len(bank):
            known.append((m["theta"], m["accuracy"] - float(np.interp(m["theta"], GRID, curve))))
        else:
            partial += 1
    if partial:
        warnings.warn(f"{partial} calibration models of this bank answered part of it and have "
                      f"no recorded curve_accuracy (a bank saved before it existed): the curve "
                      f"correction leaves them out; recalibrate the bank", stacklevel=3)
    if len(known) < 3:
        return np.zeros_like(GRID), 0.0
    theta, residual = np.array(sorted(known)).T
    loo = [residual[j] - np.interp(theta[j], np.delete(theta, j), np.delete(residual, j))
           for j in range(len(theta))]
    return np.interp(GRID, theta, residual), float(np.sqrt(np.mean(np.square(loo))))


def answer_array(answers) -> np.ndarray:
    """``answers`` as an array: int for 0/1 answers, float64 when any is a graded score in
    [0, 1] (``ValueError`` naming the first outside it)."""
    values = np.asarray([float(v) for v in answers] if not isinstance(answers, np.ndarray)
                        else answers, dtype=np.float64)
    outside = ~((values >= 0) & (values <= 1))
    if outside.any():
        raise ValueError(f"answer {values[outside][0]!r}: expected 0/1 or a score in [0, 1]")
    return values.astype(int) if np.isin(values, (0.0, 1.0)).all() else values


def answer_value(answer) -> int | float:
    """One answer as ``answer_array`` reads it: 0/1 as an int, a graded score as a float."""
    return answer_array([answer])[0].item()


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson interval of a plain proportion ``correct / n`` (the usual report of a random subset):
    ``(p + z^2 / 2n -/+ z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)``."""
    p = correct / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return float(centre - half), float(centre + half)


@dataclass
class AnswerSums:
    """Per category ``c`` (rows) the sums over the answered items that the score needs."""

    weight: float  # w: ``loglik`` is w log L_c
    loglik: np.ndarray  # (C, G): w sum_i log P(y_i | theta_g)
    p: np.ndarray  # (C, G): sum_i P_i(theta_g)
    pq: np.ndarray  # (C, G): sum_i P_i (1 - P_i)
    count: np.ndarray  # (C,): items answered
    correct: np.ndarray  # (C,): of them right


@dataclass
class AccuracyModel:
    """Predicted accuracy on ``bank`` (module docstring) from ``AnswerSums`` and a log prior."""

    bank: ItemBank
    score: str = "hybrid"  # hybrid | irt
    use_item_se: bool = True
    correct_accuracy: bool = True  # add r(theta) when the bank has it
    category_sd: float = 0.5  # SD of category abilities around theta; 0: one-dimensional
    misfit_sd: float | None = None  # None: the bank's heldout_misfit_sd, else the SD of r
    chance: float | None = None  # floor per unanswered item; None: the bank's chance_accuracy
    residual_override: np.ndarray | None = None  # r on GRID; None: accuracy_residual(bank)
    b: np.ndarray = field(init=False, repr=False)  # the items' b and a (a marginalised)
    a: np.ndarray = field(init=False, repr=False)
    categories: np.ndarray = field(init=False, repr=False)  # names, sorted
    category_code: np.ndarray = field(init=False, repr=False)  # per item, its row in categories
    category_size: np.ndarray = field(init=False, repr=False)  # N_c
    p_cat: np.ndarray = field(init=False, repr=False)  # (C, G): sum_{i in c} P_i(theta_g)
    pq_cat: np.ndarray = field(init=False, repr=False)  # (C, G): sum_{i in c} P_i (1 - P_i)
    residual: np.ndarray = field(init=False, repr=False)  # r on GRID (zeros if not corrected)

    def __post_init__(self) -> None:
        if self.score not in ("hybrid", "irt"):
            raise ValueError(f"score={self.score!r}: expected 'hybrid' or 'irt'")
        if self.chance is None:
            self.chance = self.bank.metadata.get("chance_accuracy", 0.0)
        if not 0 <= self.chance < 1:
            raise ValueError(f"chance_accuracy={self.chance}: expected a share in [0, 1)")
        b, a = self.bank.b, self.bank.a
        if self.use_item_se:
            a = marginal_a(a, self.bank.b_se)
        self.b, self.a = b, a
        categories = self.bank.category or ["all"] * len(self.bank)
        self.categories, self.category_code = np.unique(categories, return_inverse=True)
        self.category_size = np.bincount(self.category_code)
        self.p_cat, self.pq_cat = category_curves(b, a, self.category_code, len(self.categories))
        residual, loo_sd = accuracy_residual(self.bank, self.p_cat.sum(0) / len(self.bank),
                                             self.use_item_se)
        if self.residual_override is not None:
            residual = np.asarray(self.residual_override, np.float64)
        self.residual = residual if self.correct_accuracy else np.zeros_like(GRID)
        if self.misfit_sd is None:
            self.misfit_sd = self.bank.metadata.get("heldout_misfit_sd", loo_sd)

    def new_sums(self, weight: float = 1.0) -> AnswerSums:
        """Sums of no answers, for a likelihood tempered by ``weight``."""
        shape = (len(self.categories), len(GRID))
        return AnswerSums(weight, np.zeros(shape), np.zeros(shape), np.zeros(shape),
                          np.zeros(len(self.categories)), np.zeros(len(self.categories)))

    def add(self, sums: AnswerSums, items: np.ndarray, answers: np.ndarray,
            chunk: int = 2048) -> None:
        """Add the answers ``answers`` (0/1, or graded scores in [0, 1]) to bank ``items`` to
        ``sums``."""
        items, answers = np.asarray(items, int), answer_array(answers)
        for lo in range(0, len(items), chunk):
            i, y = items[lo : lo + chunk], answers[lo : lo + chunk]
            b, a, codes = self.b[i, None], self.a[i, None], self.category_code[i]
            loglik = sums.weight * log_likelihood(y[:, None], GRID, b, a)
            p = prob(GRID, b, a)
            for c in np.unique(codes):
                rows = codes == c
                sums.loglik[c] += loglik[rows].sum(0)
                sums.p[c] += p[rows].sum(0)
                sums.pq[c] += (p[rows] * (1 - p[rows])).sum(0)
                sums.count[c] += rows.sum()
                sums.correct[c] += y[rows].sum()

    def score_grid(self, sums: AnswerSums, prior: np.ndarray, tempered: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior weights of theta and, per category, ``E[A_c | theta]``, ``Var[A_c | theta]``
        on the grid (module docstring); from ``L`` instead of ``L^w`` unless ``tempered``."""
        loglik = sums.loglik if tempered else sums.loglik / sums.weight
        unanswered = (self.category_size - sums.count)[:, None]
        if self.score == "hybrid":
            total = self.p_cat - sums.p + unanswered * self.residual  # A_c, (C, G)
            total = np.clip(total, self.chance * unanswered, unanswered)
        else:
            size = self.category_size[:, None]
            total = np.clip(self.p_cat + size * self.residual, self.chance * size, size)
        shift = loglik.max(axis=1, keepdims=True)
        lik = np.exp(loglik - shift)  # L_c, scaled
        smoothed = np.concatenate([lik, lik * total, lik * total**2])
        if self.category_sd > 0:  # K * f: a Gaussian filter along theta
            smoothed = gaussian_filter1d(smoothed, self.category_sd / (GRID[1] - GRID[0]), axis=1,
                                         mode="nearest", truncate=4.0)
        k = len(lik)
        norm_c = np.maximum(smoothed[:k], 1e-300)
        mean_c = smoothed[k : 2 * k] / norm_c
        var_c = np.maximum(smoothed[2 * k :] / norm_c - mean_c**2, 0.0)
        w = normalise(prior + (np.log(norm_c) + shift).sum(axis=0))
        return w, mean_c, var_c

    def expected_accuracy(
        self,
        sums: AnswerSums,
        prior: np.ndarray,
        level: float = 0.95,
        category: str | None = None,
        tempered_mean: bool = False,
    ) -> tuple[float, tuple[float, float]]:
        """Posterior mean of the accuracy on the whole bank (or on one ``category`` of it) and
        its ``level`` interval (module docstring); ``prior`` is the log prior on ``GRID``."""
        rows = np.ones(len(self.categories), bool)
        if category is not None:
            if category not in self.categories:
                raise ValueError(f"category {category!r} is not in the bank")
            rows = self.categories == category
        w, mean_c, var_c = self.score_grid(sums, prior)
        n = int(self.category_size[rows].sum())
        answered = int(sums.count[rows].sum())
        base = sums.correct[rows].sum() if self.score == "hybrid" else 0.0
        curve = (base + mean_c[rows].sum(axis=0)) / n  # E[acc | theta], monotone in theta
        if tempered_mean:
            mean = float(w @ curve)
        else:
            w_plain, mean_plain, _ = self.score_grid(sums, prior, tempered=False)
            mean = float(w_plain @ ((base + mean_plain[rows].sum(axis=0)) / n))
        lo_q, hi_q = posterior_quantile(w, [(1 - level) / 2, (1 + level) / 2])
        lo, hi = np.interp([lo_q, hi_q], GRID, curve)
        within = float(w @ var_c[rows].sum(axis=0)) / n**2
        pq_unanswered = float(w @ (self.pq_cat - sums.pq)[rows].sum(axis=0))
        bernoulli = max(pq_unanswered, 0.0) / n**2
        misfit = self.misfit_sd * (n - answered) / n
        extra = norm.ppf((1 + level) / 2) * np.sqrt(within + bernoulli + misfit**2)
        lo = mean - np.hypot(mean - lo, extra)
        hi = mean + np.hypot(hi - mean, extra)
        return mean, (float(max(lo, 0.0)), float(min(hi, 1.0)))
