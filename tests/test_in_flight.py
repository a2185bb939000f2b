"""Several questions in flight at once (``AdaptiveTest.run(parallel=N)``, ``cat/in_flight.py``),
on the shipped MMLU-Pro bank with real recorded answers."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.examinees import ReplayExaminee
from conftest import BANK


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
