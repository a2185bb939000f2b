"""An adaptive test over several banks at once (a suite), with one question budget.

A suite is the bank tests' parts recombined: one ``TestState`` per bank (``state.py``), a
cross-bank selector (``gains``, below), a joint prior over the banks' abilities
(``joint_prior.py``), one stopping rule over all banks (``stopping.py``), run by the same loop
and session replay as a single bank's test (``loop.py``, ``SuiteRun``), with up to ``parallel``
questions in flight across its banks (``in_flight.py``).

Suite score: the mean over the ``K`` banks of each bank's predicted accuracy,
``S = (1/K) sum_k E[acc_k]``.

Allocation (the cross-bank selector). Each bank ``k`` proposes its own next item ``i_k`` (its
selection rule and item filters, ``filters.py``). The question goes to the bank where it most
reduces the variance of ``S``, to first order in theta:

    gain_k = slope_k^2 (Var_k - 1 / (1 / Var_k + w I_{i_k}(theta_k))) / K^2

``Var_k = SE_k^2`` (the bank's tempered posterior variance), ``w`` the likelihood weight,
``I_i(theta) = a_i^2 P_i (1 - P_i)`` the item's Fisher information and ``slope_k = d E[acc_k] /
d theta`` at ``theta_k``, taken as ``sum_{unanswered i} a_i P_i (1 - P_i) / N_k`` (the answered
items' share of the accuracy is fixed). With questions in flight, each bank's proposal, theta,
SE and unanswered items are those after its pending answers (``TestState.ahead``: their expected
log-likelihood), so a bank with questions in flight gains less from one more. The test stops
after ``max_items`` questions, when every bank's SE is at or below ``target_se`` (after
``min_items``; 0 turns the rule off), or when no bank has an item left.

Joint prior (``joint_prior.py``): the banks' standardised abilities ``z_k = (theta_k - mu_k) /
sd_k`` are ``N(0, R)``, ``R`` from the calibration models the banks share; each bank's prior is
that conditioned on the other banks' answers (Gaussian messages), updated after every answer. A
bank with no question asked still gets a prediction, from the other banks through ``R``.

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
from ..irt.model import information, prob
from .accuracy import answer_value
from .adaptive import TAIL_SD, AdaptiveTest, Result, Step, TestState, recorded_details
from .joint_prior import JointPrior, ability_correlation, likelihood_message
from .loop import run_test
from .session import answerable
from .stopping import StoppingRule

__all__ = ["SuiteResult", "SuiteRun", "SuiteTest", "ability_correlation", "likelihood_message"]


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
        self.joint = JointPrior(self.correlation, self.population,
                                {name: t.prior_tail for name, t in self.tests.items()}, TAIL_SD)

    @property
    def stopping(self) -> StoppingRule:
        """The suite's stopping rule (``stopping.py``), over every bank's SE."""
        return StoppingRule(self.max_items, self.target_se, self.min_items)

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
        """Each bank's Gaussian message ``(m, p)`` in standardised units (``joint_prior.py``)."""
        return self.joint.messages(states)

    def update_priors(self, states: dict[str, TestState]) -> None:
        """Set each bank's prior to ``N(0, R)`` (standardised) conditioned on the other banks'
        messages, in the bank's own theta units (``JointPrior.update``)."""
        self.joint.update(states)

    def posterior_correlation(self, states: dict[str, TestState]) -> np.ndarray:
        """Correlation matrix of ``(R^-1 + diag(p))^-1``, the Gaussian joint posterior of the
        banks' abilities (``joint_prior.py``)."""
        return self.joint.posterior_correlation(states)

    def gains(self, states: dict[str, TestState], pending: list[tuple[str, int]] = ()
              ) -> dict[str, tuple[float, int]]:
        """Per bank with an item left (not asked, not ``pending``: ``(bank, item)`` in flight):
        (variance reduction of the suite score, its best item), after the pending answers
        (module docstring)."""
        out = {}
        k = len(self.names)
        for name in self.names:
            state, test = states[name], self.tests[name]
            mine = [item for bank, item in pending if bank == name]
            free = state.available.copy()
            free[mine] = False
            if not free.any():
                continue
            item = state.next_item(mine)
            theta, se, _ = state.ahead(mine)
            a, b = test.accuracy.a, test.accuracy.b
            unanswered = ~state.answered
            unanswered[mine] = False
            p = prob(theta, b[unanswered], a[unanswered])
            slope = float((a[unanswered] * p * (1 - p)).sum()) / len(test.bank)
            var = se**2
            info = float(information(theta, test._b32[item], test._a32[item]))
            reduction = var - 1 / (1 / max(var, 1e-12) + test.likelihood_weight * info)
            out[name] = (slope**2 * reduction / k**2, item)
        return out

    def stop_reason(self, states: dict[str, TestState], n: int) -> str | None:
        """The stopping rule after ``n`` questions (``stopping.py``): every bank's SE counts."""
        return self.stopping.reason(n, [s.se for s in states.values()],
                                    any(s.available.any() for s in states.values()))

    def run(self, examinee, session: str | Path | None = None,
            on_step: Callable[[str, Step], None] | None = None, *,
            parallel: int = 1) -> SuiteResult:
        """Test ``examinee`` until the stopping rule; with ``session``, answers recorded there
        are replayed first and each new one is appended durably before the next question.
        ``on_step(bank, step)`` is called after each new answer. ``parallel`` questions are in
        flight at once, across the banks (``in_flight.py``)."""
        states = self.start(examinee)
        self.update_priors(states)
        plan = SuiteRun(self, states)
        done = None if on_step is None else (lambda choice, step: on_step(choice[0], step))
        reason = run_test(plan, examinee, session=session, on_answer=done, parallel=parallel)
        return self.result(states, plan.history, reason)

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


class SuiteRun:
    """The plan of a suite's test for the loop (``loop.py``): the banks' ``states`` and the
    ``history`` of ``(bank, step)``; a choice is ``(bank, item)``."""

    def __init__(self, suite: SuiteTest, states: dict[str, TestState]) -> None:
        self.suite, self.states = suite, states
        self.history: list[tuple[str, Step]] = []

    def header(self) -> tuple[dict[str, ItemBank], dict]:
        return self.suite.banks, self.suite.settings(self.states)

    def replay(self, line: dict) -> None:
        name = line["bank"]
        item = int(self.suite.tests[name].bank.index([line["question_id"]])[0])
        step = self.states[name].record(item, answer_value(line["correct"]),
                                        **recorded_details(line))
        self.history.append((name, step))
        self.suite.update_priors(self.states)

    def room(self, pending: list[tuple[str, int]], n: int = 1) -> bool:
        if len(pending) >= n:
            return False
        free_left = False
        for name, state in self.states.items():
            free = state.available.copy()
            free[[item for bank, item in pending if bank == name]] = False
            free_left = free_left or bool(free.any())
        return self.suite.stopping.room(len(self.history), len(pending),
                                        [s.se for s in self.states.values()], free_left)

    def choose(self, pending: list[tuple[str, int]]) -> tuple[str, int]:
        gains = self.suite.gains(self.states, pending)
        name = max(gains, key=lambda n: gains[n][0])
        return name, gains[name][1]

    def question(self, choice: tuple[str, int]) -> str:
        name, item = choice
        return self.suite.tests[name].bank.ids[item]

    def record(self, choice: tuple[str, int], answer) -> Step:
        name, item = choice
        step = self.states[name].record_answer(item, answer)
        self.suite.update_priors(self.states)
        self.history.append((name, step))
        return step

    def line(self, choice: tuple[str, int], step: Step) -> dict:
        return {"bank": choice[0]} | asdict(step)

    def stop_reason(self) -> str | None:
        return self.suite.stop_reason(self.states, len(self.history))
