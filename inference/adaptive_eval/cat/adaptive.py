"""Computerised adaptive testing (CAT) of a language model on an item bank.

``AdaptiveTest`` holds the settings and composes the test from small parts, each a module:

- the selector (``selection.py``: Fisher information, KL, random) scores candidate items;
- the item filters (``filters.py``: available, content balancing, the twin discount, the
  randomesque pick) narrow the bank to the item asked next;
- the item source (``sources.py``): the bank, or items from outside it where it is thin;
- the stopping rule (``stopping.py``): ``max_items``, ``target_se`` after ``min_items``, or no
  item left;
- ``TestState`` (``state.py``) keeps the answers and the posterior, re-estimated after each
  answer (``irt/estimation.py``);
- the loop (``loop.py``) replays a session, then asks, one question at a time or several in
  flight (``in_flight.py``); a suite (``suite.py``) runs the same loop over several banks.

The report (``Result``, ``result.py``): ability ``theta`` with SE, and the predicted accuracy on
the whole bank and on each category, with intervals, from the accuracy model (``accuracy.py``).

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

What each of these choices measurably does: ``benchmarks/results/adaptive.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..banks.bank import ItemBank, ItemBankError
from ..errors import InputError
from ..irt.estimation import ESTIMATORS, log_prior
from .accuracy import AccuracyModel, answer_value
from .filters import ContentBalancing, FilterChain, Randomesque, TwinDiscount, twin_groups
from .loop import run_test
from .result import DETAILS, Result, Step, recorded_details
from .selection import SELECTORS
from .session import answerable
from .sources import BankItems, ThinBankSource
from .state import TestState
from .stopping import STOPPING, StoppingRule

__all__ = ["DETAILS", "STOPPING", "TAIL_SD", "AdaptiveTest", "BankRun", "Result", "Step",
           "TestState", "recorded_details", "twin_groups"]

TAIL_SD = 3.0  # the prior's wide tail: N(prior_mean, (TAIL_SD prior_sd)^2)


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
    discount_twins: bool = True  # divide a twin's selection score by 1 + twins asked (filters.py)
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
    # items from outside the bank where it is thin (sources.py); None: off
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
        self._selector = SELECTORS[self.selection]()
        self._estimator = ESTIMATORS[self.estimator]()
        # the parts the test is composed of (module docstring)
        balancing = [ContentBalancing(self.accuracy.category_code,
                                      self.accuracy.category_size / len(self.bank))]
        twins = [TwinDiscount(self.bank)] if self.discount_twins and \
            self.selection != "random" else []
        self.chain = FilterChain(self._selector, self._b32, self._a32,
                                 balancing if self.content_balancing else [], twins,
                                 Randomesque(self.randomesque))
        self.source = BankItems() if self.item_source is None else ThinBankSource(
            self.item_source, self.thin_information, self._b32, self._a32, self.bank.category)

    @property
    def stopping(self) -> StoppingRule:
        """The stopping rule of these settings (``stopping.py``)."""
        return StoppingRule(self.max_items, self.target_se, self.min_items)

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
        step_done = None if on_step is None else (lambda choice, step: on_step(step))
        reason = run_test(BankRun(self, state), examinee, session=session, on_answer=step_done,
                          parallel=parallel)
        return state.result(reason)


class BankRun:
    """The plan of one bank's test for the loop (``loop.py``): its ``state``, choices being a
    bank index or an item from outside the bank (``sources.py``)."""

    def __init__(self, test: AdaptiveTest, state: TestState) -> None:
        self.test, self.state = test, state

    def header(self) -> tuple[ItemBank, dict]:
        return self.test.bank, self.test.settings() | {
            "answerable": answerable(self.test.bank.ids, self.state.available)}

    def replay(self, line: dict) -> None:
        if line.get("item") is not None:
            self.state.record_outside(line["item"], int(line["correct"]),
                                      **recorded_details(line))
        else:
            self.state.record(int(self.test.bank.index([line["question_id"]])[0]),
                              answer_value(line["correct"]), **recorded_details(line))

    def room(self, pending: list[int], n: int = 1) -> bool:
        state = self.state
        if len(pending) >= n:
            return False
        free = state.available.copy()
        free[pending] = False
        return self.test.stopping.room(state.n_items, len(pending), [state.se], bool(free.any()))

    def choose(self, pending: list[int]) -> int | dict:
        return self.test.source.next(self.state, pending)

    def question(self, choice: int | dict) -> str:
        return self.state.question_id(choice)

    def record(self, choice: int | dict, answer) -> Step:
        return self.state.record_choice(choice, answer)

    def line(self, choice: int | dict, step: Step) -> dict:
        return asdict(step)

    def stop_reason(self) -> str | None:
        return self.state.stop_reason()
