"""Several questions in flight at once (``AdaptiveTest.run(parallel=N)``,
``SuiteTest.run(parallel=N)``, ``cat/in_flight.py``), on the shipped MMLU-Pro bank and a suite of
four zeroeval banks with real recorded answers."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.cat.suite import SuiteTest
from adaptive_eval.examinees import ReplayExaminee
from conftest import BANK

ZERO_RESPONSES = Path(__file__).resolve().parents[2] / "shared" / "data" / "zeroeval" / \
    "responses.csv.gz"
SUITE = ("mmlu-redux", "gsm8k", "math-l5", "cruxeval")


class SlowConcurrentExaminee:
    """Recorded answers, each after ``delay`` seconds, from several threads at once (as a
    serving engine answers); counts the requests in flight and every question asked."""

    concurrent = True

    def __init__(self, replay: ReplayExaminee, delay: float, fail_after: int | None = None):
        self.replay, self.delay, self.fail_after = replay, delay, fail_after
        self.name = replay.name
        self.asked: list[str] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()

    def answerable(self, ids):
        return self.replay.answerable(ids)

    def answer(self, question_id: str) -> int:
        with self._lock:
            self.asked.append(question_id)
            if self.fail_after is not None and len(self.asked) > self.fail_after:
                raise ConnectionError("server went away")
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)
        with self._lock:
            self.in_flight -= 1
        return self.replay.answer(question_id)


@pytest.fixture(scope="module")
def bank() -> ItemBank:
    return ItemBank.load(BANK)


@pytest.fixture(scope="module")
def replay(mmlu_responses) -> ReplayExaminee:
    model = sorted(mmlu_responses.models)[5]
    return ReplayExaminee(mmlu_responses, model)


def test_concurrent_examinee_keeps_n_in_flight(bank, replay):
    """(Wall time is measured in benchmarks/in_flight.py, not here.)"""
    one = SlowConcurrentExaminee(replay, 0.05)
    alone = AdaptiveTest(bank, max_items=24, target_se=0).run(one)
    eight = SlowConcurrentExaminee(replay, 0.05)
    together = AdaptiveTest(bank, max_items=24, target_se=0).run(eight, parallel=8)
    assert one.max_in_flight == 1 and eight.max_in_flight == 8
    assert together.n_items == 24 and len(set(eight.asked)) == 24 == len(eight.asked)
    assert [s.question_id for s in together.history] != [s.question_id for s in alone.history]
    assert abs(together.expected_accuracy - alone.expected_accuracy) < 0.1


def test_items_in_flight_are_not_the_same_choice_n_times(bank, replay):
    """Selected against the posterior after the pending answers, a round of 8 spreads over
    difficulty more than the 8 best items for the current estimate would."""
    test = AdaptiveTest(bank, max_items=50, target_se=0, randomesque=1,
                        content_balancing=False)
    state = test.start(np.asarray(replay.answerable(bank.ids), bool))
    for _ in range(5):
        state.ask(replay)
    pending: list[int] = []
    for _ in range(8):
        pending.append(state.next_item(pending))
    assert len(set(pending)) == 8 and not state.answered[pending].any()
    b = bank.b[pending]
    greedy = np.argsort(-test._selector.scores(
        state.theta, np.array([state.theta]), test._b32, test._a32,
        np.random.default_rng(0)) * state.available)[:8]
    assert np.ptp(b) > np.ptp(bank.b[greedy])


def test_batch_examinee_answers_rounds(bank, replay):
    class Batch:
        name = replay.name
        rounds: list[int] = []

        def answerable(self, ids):
            return replay.answerable(ids)

        def answers(self, ids):
            self.rounds.append(len(ids))
            return [replay.answer(q) for q in ids]

    batch = Batch()
    result = AdaptiveTest(bank, max_items=20, target_se=0).run(batch, parallel=8)
    assert batch.rounds == [8, 8, 4] and result.n_items == 20


def test_kill_with_questions_in_flight_then_resume_asks_none_twice(bank, replay, tmp_path):
    session = tmp_path / "session.jsonl"
    failing = SlowConcurrentExaminee(replay, 0.02, fail_after=10)
    with pytest.raises(ConnectionError):
        AdaptiveTest(bank, max_items=30, target_se=0).run(failing, session=session, parallel=4)
    recorded = [line for line in session.read_text().splitlines()[1:]]
    assert 4 <= len(recorded) <= 10  # what had arrived was kept
    resumed = SlowConcurrentExaminee(replay, 0.02)
    result = AdaptiveTest(bank, max_items=30, target_se=0).run(resumed, session=session,
                                                               parallel=4)
    done = {step.question_id for step in result.history[:len(recorded)]}
    assert result.n_items == 30 and not done & set(resumed.asked)
    assert len({s.question_id for s in result.history}) == 30


def test_parallel_with_generated_items_is_refused(bank, replay):
    test = AdaptiveTest(bank, max_items=5, item_source=lambda *a, **k: None)
    with pytest.raises(ValueError, match="parallel questions and generated items"):
        test.run(replay, parallel=2)


class Batch:
    """Recorded answers in rounds (one ``answers(ids)`` call each), as a batched backend."""

    def __init__(self, replay: ReplayExaminee) -> None:
        self.replay, self.name = replay, replay.name
        self.rounds: list[int] = []

    def answerable(self, ids):
        return self.replay.answerable(ids)

    def answers(self, ids):
        self.rounds.append(len(ids))
        return [self.replay.answer(q) for q in ids]


@pytest.fixture(scope="module")
def suite() -> SuiteTest:
    return SuiteTest({name: ItemBank.load(name) for name in SUITE}, max_items=24, target_se=0)


@pytest.fixture(scope="module")
def zero_replay() -> ReplayExaminee:
    if not ZERO_RESPONSES.exists():
        pytest.skip(f"zeroeval response data not found at {ZERO_RESPONSES} (shared data absent)")
    return ReplayExaminee(ResponseData.from_file(ZERO_RESPONSES), "Qwen2-72B-Instruct")


def test_a_suite_keeps_n_in_flight_across_its_banks(suite, zero_replay):
    one = SlowConcurrentExaminee(zero_replay, 0.03)
    alone = suite.run(one)
    eight = SlowConcurrentExaminee(zero_replay, 0.03)
    together = suite.run(eight, parallel=8)
    assert one.max_in_flight == 1 and eight.max_in_flight == 8
    assert together.n_items == 24 == len(together.history)
    assert len(set(eight.asked)) == 24 == len(eight.asked)
    assert sum(r.n_items for r in together.banks.values()) == 24
    assert len(Counter(bank for bank, _ in together.history)) >= 3
    assert [s.question_id for _, s in together.history] != \
        [s.question_id for _, s in alone.history]
    assert abs(together.suite_accuracy - alone.suite_accuracy) < 0.1


def test_a_suite_answers_a_batch_examinee_in_rounds(suite, zero_replay):
    batch = Batch(zero_replay)
    result = SuiteTest(suite.banks, max_items=20, target_se=0).run(batch, parallel=8)
    assert batch.rounds == [8, 8, 4] and result.n_items == 20
    ids = [(bank, s.question_id) for bank, s in result.history]
    assert len(set(ids)) == 20


def test_pending_answers_lower_their_banks_gain(suite, zero_replay):
    """A bank's gain after its pending answers (their expected log-likelihood) is lower, and its
    proposal is none of the pending items: N slots do not all go to one choice."""
    states = suite.start(zero_replay)
    suite.update_priors(states)
    for name in SUITE:
        for _ in range(2):
            states[name].ask(zero_replay)
    suite.update_priors(states)
    gains = suite.gains(states)
    best = max(gains, key=lambda n: gains[n][0])
    pending: list[tuple[str, int]] = []
    for _ in range(3):
        pending.append((best, states[best].next_item([i for _, i in pending])))
    assert len({i for _, i in pending}) == 3
    after = suite.gains(states, pending)
    assert after[best][0] < gains[best][0]
    assert after[best][1] not in {i for _, i in pending}
    assert all(after[n] == gains[n] for n in SUITE if n != best)  # the others are untouched


def test_a_suite_killed_with_questions_in_flight_resumes_asking_none_twice(suite, zero_replay,
                                                                          tmp_path):
    session = tmp_path / "suite.jsonl"
    failing = SlowConcurrentExaminee(zero_replay, 0.02, fail_after=10)
    with pytest.raises(ConnectionError):
        suite.run(failing, session=session, parallel=4)
    recorded = [json.loads(line) for line in session.read_text().splitlines()[1:]]
    assert 4 <= len(recorded) <= 10 and all(line["bank"] in SUITE for line in recorded)
    resumed = SlowConcurrentExaminee(zero_replay, 0.02)
    result = suite.run(resumed, session=session, parallel=4)
    assert result.n_items == 24 and not {r["question_id"] for r in recorded} & set(resumed.asked)
    assert [(b, s.question_id) for b, s in result.history[:len(recorded)]] == \
        [(r["bank"], r["question_id"]) for r in recorded]
    assert len({s.question_id for _, s in result.history}) == 24
