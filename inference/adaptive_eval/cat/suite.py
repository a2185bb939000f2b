"""An adaptive test over several banks at once (a suite), with one question budget.

Suite score: the mean over the ``K`` banks of each bank's predicted accuracy,
``S = (1/K) sum_k E[acc_k]``.

Allocation. Each bank ``k`` keeps its own ``TestState`` (``adaptive.py``) and proposes its own
next item ``i_k`` (its selection rule, exposure control and content balancing). The question goes
to the bank where it most reduces the variance of ``S``, to first order in theta:

    gain_k = slope_k^2 (Var_k - 1 / (1 / Var_k + w I_{i_k}(theta_k))) / K^2

``Var_k = SE_k^2`` (the bank's tempered posterior variance), ``w`` the likelihood weight,
``I_i(theta) = a_i^2 P_i (1 - P_i)`` the item's Fisher information and ``slope_k = d E[acc_k] /
d theta`` at ``theta_k``, taken as ``sum_{unanswered i} a_i P_i (1 - P_i) / N_k`` (the answered
items' share of the accuracy is fixed). The test stops after ``max_items`` questions, when every
bank's SE is at or below ``target_se`` (after ``min_items``; 0 turns the rule off), or when no
bank has an item left.

Joint prior, in standardised units. Each bank's calibration puts its models wherever its priors
and data do (mean theta from about -1.9 to +2.4 on the shipped banks, ``calibration.py``), so the
suite works with ``z_k = (theta_k - mu_k) / sd_k``, ``(mu_k, sd_k)`` bank ``k``'s test prior
(by default its calibration population, ``ItemBank.population``). The standardised abilities
``z = (z_1..z_K)`` are ``N(0, R)``: unit variances and correlations ``R_jk`` estimated from the
calibration models present in both banks (``bank.abilities``, matched by identical model
name): the Pearson correlation of their thetas when at least ``min_shared`` (5) models are
shared, else 0. ``R`` is clipped to positive definite (eigenvalues at least ``min_eigenvalue``,
then rescaled to a unit diagonal).

It is used through Gaussian messages. Each bank ``j`` summarises its tempered log-likelihood
``w log L_j`` on the grid by a Gaussian pseudo-observation ``m_j ~ N(z_j, 1 / p_j)``: the
moments ``(mu_j, s_j^2)`` in ``z_j`` of ``L_j^w N(0, 1)`` (``N(mu_j, sd_j^2)`` in theta) on the
grid, divided by the N(0, 1) prior, ``p_j = max(1 / s_j^2 - 1, 0)``, ``m_j = mu_j / (s_j^2 p_j)``
(no answers: ``p_j = 0``, no message). Bank ``k``'s prior is then ``N(0, R)`` conditioned on the
others' messages,

    mean_k = R_kO (R_OO + diag(1 / p_O))^-1 m_O,   var_k = 1 - R_kO (R_OO + diag(1 / p_O))^-1 R_Ok

(``O`` the other banks with ``p > 0``), back in theta ``N(mu_k + sd_k mean_k, sd_k^2 var_k)``,
used as ``(1 - tail) N(., .) + tail N(., (3 sd_k)^2)`` (``estimation.log_prior``, the bank test's
``prior_tail``), and combined with bank ``k``'s own exact grid likelihood. A bank with no
question asked still gets a prediction, from the other banks through ``R``.

Interval of ``S``: the banks' 95% intervals combined with the correlation of their errors,
half-width ``sqrt(h^T C h) / K`` with ``h_k`` half of bank ``k``'s interval width, around ``S``,
clipped to [0, 1]. ``C`` is the correlation matrix of the Gaussian joint posterior of ``theta``,
covariance ``(R^-1 + diag(p))^-1`` with ``p`` the banks' message precisions: a bank with few
answers leans on the others through ``R``, so its error moves with theirs and the suite interval
widens accordingly; with many answers per bank ``C`` tends to the identity (independence).

Session: one JSONL file (``session.py``) whose header lists each bank's fingerprint and the test's
settings (``settings``: a resume with other settings is refused); every answer line names its
``"bank"``; resuming replays them in order (priors updated after each, as live) and never asks a
question twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..banks.bank import ItemBank
from ..errors import InputError
from ..irt.estimation import GRID, log_prior, normalise
from ..irt.model import information, prob
from .accuracy import answer_value
from .adaptive import TAIL_SD, AdaptiveTest, Result, Step, TestState, recorded_details
from .session import Session, answerable, asked_under


def ability_correlation(banks: dict[str, ItemBank], min_shared: int = 5,
                        min_eigenvalue: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """The correlation matrix ``R`` of the banks' abilities (module docstring) and the number of
    calibration models each pair shares."""
    names = list(banks)
    k = len(names)
    corr, shared = np.eye(k), np.zeros((k, k), int)
    thetas = [{m: float(v["theta"]) for m, v in banks[n].abilities.items()} for n in names]
    for i in range(k):
        shared[i, i] = len(thetas[i])
        for j in range(i + 1, k):
            common = sorted(set(thetas[i]) & set(thetas[j]))
            shared[i, j] = shared[j, i] = len(common)
            if len(common) >= min_shared:
                x = np.array([thetas[i][m] for m in common])
                y = np.array([thetas[j][m] for m in common])
                if x.std() > 0 and y.std() > 0:
                    corr[i, j] = corr[j, i] = float(np.corrcoef(x, y)[0, 1])
    values, vectors = np.linalg.eigh(corr)
    if values.min() < min_eigenvalue:
        corr = (vectors * np.maximum(values, min_eigenvalue)) @ vectors.T
        d = np.sqrt(np.diag(corr))
        corr = corr / np.outer(d, d)
    return corr, shared


def likelihood_message(loglik: np.ndarray, mean: float = 0.0, sd: float = 1.0
                       ) -> tuple[float, float]:
    """Gaussian summary ``(m, p)``, in standardised units ``z = (theta - mean) / sd``, of a
    tempered grid log-likelihood in theta (module docstring)."""
    if not np.any(loglik):
        return 0.0, 0.0
    z = (GRID - mean) / sd
    w = normalise(loglik - 0.5 * z**2)
    mu = float(w @ z)
    var = float(w @ (z - mu) ** 2)
    precision = max(1 / max(var, 1e-12) - 1, 0.0)
    if precision <= 1e-9:
        return 0.0, 0.0
    return mu / (var * precision), precision


@dataclass
class SuiteResult:
    banks: dict[str, Result]
    suite_accuracy: float
    suite_accuracy_interval: tuple[float, float]
    n_items: int
    stop_reason: str
    history: list[tuple[str, Step]] = field(default_factory=list)
    correlation: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "banks": {name: r.to_dict() for name, r in self.banks.items()},
            "suite_accuracy": self.suite_accuracy,
            "suite_accuracy_interval": list(self.suite_accuracy_interval),
            "n_items": self.n_items,
            "stop_reason": self.stop_reason,
            "n_truncated": sum(r.n_truncated for r in self.banks.values()),
            "correlation": self.correlation,
            "history": [{"bank": bank} | asdict(step) for bank, step in self.history],
        }


class SuiteTest:
    """A CAT over ``banks`` (name -> bank) with one budget (module docstring). ``options`` are
    ``AdaptiveTest`` settings shared by every bank (selection, estimator, randomesque, seed...)."""

    def __init__(self, banks: dict[str, ItemBank], max_items: int = 50, target_se: float = 0.3,
                 min_items: int = 1, min_shared: int = 5, **options):
        if not banks:
            raise InputError("a suite needs at least one bank")
        if max_items < 1 or target_se < 0 or min_items < 0:
            raise InputError("max_items must be >= 1; target_se, min_items >= 0")
        self.banks = dict(banks)
        self.names = list(self.banks)
        self.max_items, self.target_se, self.min_items = max_items, target_se, min_items
        self.tests = {name: AdaptiveTest(bank, max_items=max_items, target_se=0.0, **options)
                      for name, bank in self.banks.items()}
        self.min_shared = min_shared
        self.correlation, self.shared = ability_correlation(self.banks, min_shared)
        # (mu_k, sd_k): each bank test's prior, the unit of its standardised ability
        self.population = {name: (t.prior_mean, t.prior_sd) for name, t in self.tests.items()}

    def settings(self, states: dict[str, TestState] | None = None) -> dict:
        """What a session header records (``session.py``): the bank tests' settings
        (``AdaptiveTest.settings``; one value, or ``{bank: value}`` where the banks differ, as
        in a prior from each bank's population), ``min_shared`` and, given ``states``, which
        questions of each bank the examinee can answer."""
        each = {name: test.settings() for name, test in self.tests.items()}
        out = {}
        for key in each[self.names[0]]:
            values = {name: each[name][key] for name in self.names}
            same = all(v == values[self.names[0]] for v in values.values())
            out[key] = values[self.names[0]] if same else values
        out["min_shared"] = self.min_shared
        if states is not None:
            out["answerable"] = {name: answerable(self.tests[name].bank.ids, s.available)
                                 for name, s in states.items()}
        return out

    # -----------------------------------------------------------------------------------------

    def start(self, examinee=None) -> dict[str, TestState]:
        states = {}
        for name, test in self.tests.items():
            available = None
            if examinee is not None:
                available = np.asarray(examinee.answerable(test.bank.ids), bool)
            states[name] = test.start(available)
        return states

    def messages(self, states: dict[str, TestState]) -> list[tuple[float, float]]:
        """Each bank's Gaussian message ``(m, p)`` in standardised units (module docstring)."""
        return [likelihood_message(states[n].loglik, *self.population[n]) for n in self.names]

    def update_priors(self, states: dict[str, TestState]) -> None:
        """Set each bank's prior to ``N(0, R)`` (standardised) conditioned on the other banks'
        messages, in the bank's own theta units."""
        messages = self.messages(states)
        m = np.array([x[0] for x in messages])
        p = np.array([x[1] for x in messages])
        for k, name in enumerate(self.names):
            others = [j for j in range(len(self.names)) if j != k and p[j] > 0]
            mean, var = 0.0, 1.0
            if others:
                r_ko = self.correlation[k, others]
                cov = self.correlation[np.ix_(others, others)] + np.diag(1 / p[others])
                solved = np.linalg.solve(cov, r_ko)
                mean = float(solved @ m[others])
                var = float(max(1 - solved @ r_ko, 1e-4))
            test = self.tests[name]
            mu, sd = self.population[name]
            states[name].set_prior(log_prior(mu + sd * mean, sd * np.sqrt(var), test.prior_tail,
                                             TAIL_SD * sd))

    def posterior_correlation(self, states: dict[str, TestState]) -> np.ndarray:
        """Correlation matrix of ``(R^-1 + diag(p))^-1``, the Gaussian joint posterior of the
        banks' abilities (module docstring)."""
        p = np.array([message[1] for message in self.messages(states)])
        cov = np.linalg.inv(np.linalg.inv(self.correlation) + np.diag(p))
        d = np.sqrt(np.diag(cov))
        return cov / np.outer(d, d)

    def gains(self, states: dict[str, TestState]) -> dict[str, tuple[float, int]]:
        """Per bank with an item left: (variance reduction of the suite score, its best item)."""
        out = {}
        k = len(self.names)
        for name in self.names:
            state, test = states[name], self.tests[name]
            if not state.available.any():
                continue
            item = state.next_item()
            theta = state.theta
            a, b = test.accuracy.a, test.accuracy.b
            unanswered = ~state.answered
            p = prob(theta, b[unanswered], a[unanswered])
            slope = float((a[unanswered] * p * (1 - p)).sum()) / len(test.bank)
            var = state.se**2
            info = float(information(theta, test._b32[item], test._a32[item]))
            reduction = var - 1 / (1 / max(var, 1e-12) + test.likelihood_weight * info)
            out[name] = (slope**2 * reduction / k**2, item)
        return out

    def stop_reason(self, states: dict[str, TestState], n: int) -> str | None:
        if n >= self.max_items:
            return "max_items"
        if (self.target_se > 0 and n >= max(self.min_items, 1)
                and all(s.se <= self.target_se for s in states.values())):
            return "target_se"
        if not any(s.available.any() for s in states.values()):
            return "bank_exhausted"
        return None

    def run(self, examinee, session: str | Path | None = None,
            on_step: Callable[[str, Step], None] | None = None) -> SuiteResult:
        """Test ``examinee`` until the stopping rule; with ``session``, answers recorded there
        are replayed first and each new one is appended durably before the next question.
        ``on_step(bank, step)`` is called after each new answer."""
        states = self.start(examinee)
        history: list[tuple[str, Step]] = []
        self.update_priors(states)
        record = None
        if session is not None:
            record = Session(session, getattr(examinee, "name", None), self.banks,
                             self.settings(states) | {"protocol": asked_under(examinee)})
            for line in record.records:
                name = line["bank"]
                state = states[name]
                item = int(self.tests[name].bank.index([line["question_id"]])[0])
                step = state.record(item, answer_value(line["correct"]),
                                    **recorded_details(line))
                history.append((name, step))
                self.update_priors(states)
        while (reason := self.stop_reason(states, len(history))) is None:
            gains = self.gains(states)
            name = max(gains, key=lambda n: gains[n][0])
            step = states[name].ask(examinee, gains[name][1])
            self.update_priors(states)
            history.append((name, step))
            if record is not None:
                record.append({"bank": name} | asdict(step))
            if on_step is not None:
                on_step(name, step)
        return self.result(states, history, reason)

    def result(self, states: dict[str, TestState], history: list[tuple[str, Step]],
               reason: str) -> SuiteResult:
        results = {name: states[name].result(reason) for name in self.names}
        k = len(results)
        mean = float(np.mean([r.expected_accuracy for r in results.values()]))
        h = np.array([(hi - lo) / 2 for lo, hi in
                      (r.expected_accuracy_interval for r in results.values())])
        c = self.posterior_correlation(states)
        half = float(np.sqrt(max(h @ c @ h, 0.0))) / k
        correlation = {a: {b: float(self.correlation[i, j]) for j, b in enumerate(self.names)}
                       for i, a in enumerate(self.names)}
        return SuiteResult(results, mean, (max(mean - half, 0.0), min(mean + half, 1.0)),
                           len(history), reason, history, correlation)
