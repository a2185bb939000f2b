"""Adaptive testing: maths against closed forms, stopping rules, sessions, replay on real data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
from adaptive_eval.banks.bank import ItemBank, ItemBankError
from adaptive_eval.cat.adaptive import AdaptiveTest, twin_groups
from adaptive_eval.cat.plotting import save_result_plot
from adaptive_eval.cat.selection import KL, MaxInfo
from adaptive_eval.cat.session import SessionError
from adaptive_eval.irt.estimation import EAP, GRID, MAP, MLE, log_prior
from adaptive_eval.irt.model import information, log_likelihood
from scipy.special import expit


class Simulated:
    """An examinee answering by the 2PL model at a true ability (seeded)."""

    def __init__(self, bank, theta, seed=0):
        self.name, self.bank, self.theta = f"sim{theta}", bank, theta
        self.rng = np.random.default_rng(seed)
        self.asked: list[str] = []

    def answerable(self, ids):
        return np.ones(len(ids), bool)

    def answer(self, question_id):
        self.asked.append(question_id)
        k = self.bank.index([question_id])[0]
        return int(self.rng.random() < expit(self.bank.a[k] * (self.theta - self.bank.b[k])))


def make_bank(n=2000, seed=0, categories=("math", "law", "physics")):
    rng = np.random.default_rng(seed)
    return ItemBank(ids=[f"q{k}" for k in range(n)], b=rng.normal(0, 1.5, n),
                    a=np.exp(rng.normal(0, 0.3, n)),
                    category=[categories[k % len(categories)] for k in range(n)])


def test_information_closed_form():
    p = expit(1.5 * (0.3 - -0.2))
    assert information(0.3, -0.2, 1.5) == pytest.approx(1.5**2 * p * (1 - p))
    assert log_likelihood(1, 0.3, -0.2, 1.5) == pytest.approx(np.log(p))
    assert log_likelihood(0, 0.3, -0.2, 1.5) == pytest.approx(np.log(1 - p))
    assert np.isfinite(log_likelihood(0, 50.0, -50.0, 3.0))  # no overflow
    b32, a32 = np.float32([-0.2, 60.0]), np.float32([1.5, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cosh overflows for z = -180: information 0, silently
        info32 = information(0.3, b32, a32)
    assert info32.dtype == np.float32
    assert info32 == pytest.approx([1.5**2 * p * (1 - p), 0.0], rel=1e-6)


def test_estimators_match_closed_forms():
    # one Rasch item at b = 0 answered right, N(0, 1) prior
    loglik = log_likelihood(1, GRID, 0.0, 1.0)
    prior = log_prior(0, 1)
    w = np.exp(loglik + prior)
    w /= w.sum()
    theta, se = EAP().estimate(loglik, prior)
    assert theta == pytest.approx(float(w @ GRID), abs=1e-9) and theta > 0
    # MAP solves theta = 1 - sigmoid(theta) (gradient of log posterior is zero)
    theta_map, se_map = MAP().estimate(loglik, prior)
    assert theta_map == pytest.approx(1 - expit(theta_map), abs=2e-3)
    p = expit(theta_map)
    assert se_map == pytest.approx(1 / np.sqrt(p * (1 - p) + 1), rel=1e-3)
    # MLE with all answers right stays finite (grid bound), mixed answers: the Rasch MLE
    theta_mle, se_mle = MLE().estimate(loglik, prior)
    assert theta_mle == GRID[-1] and np.isfinite(se_mle)
    mixed = log_likelihood(1, GRID, -1.0, 1.0) + log_likelihood(0, GRID, 1.0, 1.0)
    theta_mle, se_mle = MLE().estimate(mixed, prior)
    assert theta_mle == pytest.approx(0.0, abs=1e-3)
    assert se_mle == pytest.approx(1 / np.sqrt(2 * expit(1.0) * expit(-1.0)), rel=1e-3)


def test_selection_rules():
    b = np.array([-2.0, 0.1, 3.0])
    a = np.ones(3)
    rng = np.random.default_rng(0)
    assert np.argmax(MaxInfo().scores(0.0, None, b, a, rng)) == 1
    assert np.argmax(KL().scores(0.0, np.linspace(-1, 1, 9), b, a, rng)) == 1


def test_maximum_information_recovers_ability_and_stops_on_se():
    bank = make_bank()
    plain = dict(content_balancing=False, randomesque=1, likelihood_weight=1.0)
    for true in (-1.5, 0.0, 1.5):
        result = AdaptiveTest(bank, max_items=200, target_se=0.3, **plain).run(
            Simulated(bank, true))
        assert result.stop_reason == "target_se" and result.se <= 0.3
        assert abs(result.theta - true) < 3 * result.se + 0.1
        assert result.n_items == len(result.history) < 40
        # a tempered likelihood (the default, w = 0.5) needs about 1/w times the questions
        tempered = AdaptiveTest(bank, max_items=200, target_se=0.3).run(Simulated(bank, true))
        assert 1.5 * result.n_items < tempered.n_items < 5 * result.n_items
        lo, hi = result.expected_accuracy_interval
        assert lo <= result.expected_accuracy <= hi


def test_target_se_zero_asks_exactly_max_items_without_repeats():
    bank = make_bank()
    examinee = Simulated(bank, 0.5)
    result = AdaptiveTest(bank, max_items=37, target_se=0).run(examinee)
    assert result.n_items == 37 and result.stop_reason == "max_items"
    assert len(set(examinee.asked)) == 37


def test_twins_are_found_and_discounted_in_selection():
    # items 0-2: three twins, the most informative at theta = 0; item 3 next; the rest far off
    b = np.array([0.0, 0.0, 0.0, 0.1, 3.0, -3.0, 4.0])
    a = np.array([2.0, 2.0, 2.0, 1.9, 1.0, 1.0, 1.0])
    bank = ItemBank(ids=[f"q{k}" for k in range(7)], b=b, a=a)
    assert twin_groups(bank).tolist() == [0, 0, 0, -1, -1, -1, -1]
    assert (twin_groups(ItemBank(ids=["x", "y"], b=[0.0, 0.0])) == -1).all()  # Rasch: none
    settings = dict(max_items=3, target_se=0, randomesque=1, content_balancing=False)

    def asked(**extra):
        state = AdaptiveTest(bank, **settings, **extra).start()
        for _ in range(3):
            state.record(state.next_item(), 1, with_accuracy=False)
            state.theta = 0.0  # hold the estimate: selection alone is tested
        return sorted(state.items)

    assert asked() == [0, 1, 3]  # the second twin scores I / 2 < item 3's I, the third I / 3
    assert asked(discount_twins=False) == [0, 1, 2]


def test_content_balancing_and_randomesque():
    bank = make_bank()
    result = AdaptiveTest(bank, max_items=30, target_se=0, content_balancing=True,
                          randomesque=5, seed=3).run(Simulated(bank, 0.0))
    counts = {c: sum(s.category == c for s in result.history) for c in ("math", "law", "physics")}
    assert set(counts.values()) == {10}
    other = AdaptiveTest(bank, max_items=30, target_se=0, content_balancing=True,
                         randomesque=5, seed=4).run(Simulated(bank, 0.0))
    assert [s.question_id for s in other.history] != [s.question_id for s in result.history]


def test_bank_exhausted_and_bad_settings():
    bank = make_bank(n=5)
    assert AdaptiveTest(bank, max_items=50, target_se=0).run(Simulated(bank, 0)).stop_reason \
        == "bank_exhausted"
    with pytest.raises(ValueError, match="selection='best'"):
        AdaptiveTest(bank, selection="best")
    with pytest.raises(ValueError, match="max_items"):
        AdaptiveTest(bank, max_items=0)
    with pytest.raises(ItemBankError):
        ItemBank(ids=[], b=[])


def test_expected_accuracy_tracks_the_truth_and_full_bank_is_exact():
    bank = make_bank(n=300)
    test = AdaptiveTest(bank, max_items=300, target_se=0)
    examinee = Simulated(bank, 0.7, seed=1)
    result = test.run(examinee)
    observed = np.mean([s.correct for s in result.history])
    # every item answered: the hybrid score is the observed accuracy, with a tight interval
    assert result.expected_accuracy == pytest.approx(observed, abs=1e-6)
    lo, hi = result.expected_accuracy_interval
    assert hi - lo < 0.01


def test_session_resumes_without_asking_twice(tmp_path):
    bank = make_bank()
    path = tmp_path / "run.jsonl"
    first = Simulated(bank, 0.2)
    AdaptiveTest(bank, max_items=10, target_se=0).run(first, session=path)
    second = Simulated(bank, 0.2, seed=1)
    result = AdaptiveTest(bank, max_items=25, target_se=0).run(second, session=path)
    assert result.n_items == 25 and len(second.asked) == 15
    assert not set(first.asked) & set(second.asked)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["type"] == "header" and len(lines) == 26


def test_malformed_and_mismatched_sessions(tmp_path):
    bank = make_bank()
    path = tmp_path / "bad.jsonl"
    AdaptiveTest(bank, max_items=1).run(Simulated(bank, 0), session=path)  # a real header
    header = json.loads(path.read_text().splitlines()[0])
    path.write_text(json.dumps(header) + '\nnot json\n{}\n')
    with pytest.raises(SessionError, match="line 2 is not JSON"):
        AdaptiveTest(bank).run(Simulated(bank, 0), session=path)
    path.write_text(json.dumps(header | {"examinee": "someone-else"}) + "\n")
    with pytest.raises(SessionError, match="examinee 'someone-else'"):
        AdaptiveTest(bank).run(Simulated(bank, 0), session=path)
    path.write_text('{"type": "header", "examinee": "sim0", "bank": 2000}\n')  # no fingerprint
    with pytest.raises(SessionError, match="no bank fingerprint"):
        AdaptiveTest(bank).run(Simulated(bank, 0), session=path)


def test_a_line_cut_by_a_kill_is_dropped(tmp_path):
    bank = make_bank()
    path = tmp_path / "cut.jsonl"
    AdaptiveTest(bank, max_items=5, target_se=0).run(Simulated(bank, 0), session=path)
    with open(path, "a") as handle:
        handle.write('{"question_id": "q1", "corr')  # killed mid-write
    result = AdaptiveTest(bank, max_items=8, target_se=0).run(Simulated(bank, 0), session=path)
    assert result.n_items == 8


SLOW_EXAMINEE = """
import sys, time, numpy as np
sys.path.insert(0, {tests!r})
from test_adaptive import Simulated, make_bank
from adaptive_eval.cat.adaptive import AdaptiveTest
bank = make_bank()
class Slow(Simulated):
    def answer(self, qid):
        print("asked", qid, flush=True)
        time.sleep(0.2)
        return super().answer(qid)
AdaptiveTest(bank, max_items=30, target_se=0).run(Slow(bank, 0.0), session={path!r})
"""


def test_sigkill_mid_session_then_resume(tmp_path):
    path = tmp_path / "killed.jsonl"
    code = SLOW_EXAMINEE.format(tests=os.path.dirname(__file__), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    asked = [proc.stdout.readline() for _ in range(6)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    recorded = [json.loads(x)["question_id"] for x in path.read_text().splitlines()[1:]]
    asked_ids = [x.split()[1] for x in asked]
    assert 4 <= len(recorded) <= 6 and recorded == asked_ids[: len(recorded)]
    bank = make_bank()
    again = Simulated(bank, 0.0)
    result = AdaptiveTest(bank, max_items=30, target_se=0).run(again, session=path)
    assert result.n_items == 30
    assert not set(again.asked) & set(recorded)


def test_category_accuracy():
    bank = make_bank(n=300)
    result = AdaptiveTest(bank, max_items=300, target_se=0).run(Simulated(bank, 0.7, seed=1))
    assert set(result.category_accuracy) == {"math", "law", "physics"}
    for name, row in result.category_accuracy.items():
        observed = np.mean([s.correct for s in result.history if s.category == name])
        assert row["expected_accuracy"] == pytest.approx(observed, abs=1e-6)  # all answered
        assert row["n_items"] == 100
    partial = AdaptiveTest(bank, max_items=30, target_se=0).start()
    with pytest.raises(ValueError, match="'chemistry' is not in the bank"):
        partial.expected_accuracy(category="chemistry")


def test_replay_real_model_on_the_embedded_bank(mmlu_responses):
    from adaptive_eval.examinees import ReplayExaminee

    bank = ItemBank.load()
    examinee = ReplayExaminee(mmlu_responses, "Meta-Llama-3-8B")
    truth = np.mean(list(mmlu_responses.responses_of("Meta-Llama-3-8B").values()))
    result = AdaptiveTest(bank, max_items=100, target_se=0).run(examinee)
    lo, hi = result.expected_accuracy_interval
    assert lo <= truth <= hi and abs(result.expected_accuracy - truth) < 0.05


def test_plot(tmp_path):
    bank = make_bank()
    result = AdaptiveTest(bank, max_items=20, target_se=0).run(Simulated(bank, 0))
    path = save_result_plot(result, tmp_path / "trajectory.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_heavy_tailed_prior_closed_form_and_escape_from_the_middle():
    from scipy.stats import norm as normal

    mixture = log_prior(0.5, 1.0, tail=0.1, tail_sd=3.0)
    exact = np.log(0.9 * normal.pdf(GRID, 0.5, 1.0) + 0.1 * normal.pdf(GRID, 0.5, 3.0))
    assert np.allclose(mixture - mixture.max(), exact - exact.max())
    # a weak examinee far below the calibration range: the tail lets the estimate get there
    bank = make_bank(4000)
    estimates = {}
    for tail in (0.0, 0.1):
        test = AdaptiveTest(bank, max_items=40, target_se=0, prior_tail=tail, temper_estimates=True)
        estimates[tail] = np.mean([test.run(Simulated(bank, -4.0, seed=s)).theta for s in range(3)])
    assert estimates[0.1] < estimates[0.0] - 0.3
    with pytest.raises(ValueError, match="prior_tail"):
        AdaptiveTest(bank, prior_tail=1.0)


def test_point_estimates_from_the_plain_likelihood_uncertainty_from_the_tempered_one():
    bank = make_bank(500)
    state = AdaptiveTest(bank, likelihood_weight=0.5).start()
    items, answers = np.arange(0, 60, 3), np.arange(20) % 3 == 0
    state.record_many(items, answers)
    plain = sum(log_likelihood(y, GRID, bank.b[i], bank.a[i]) for i, y in zip(items, answers))
    prior = log_prior(0.0, 1.0, tail=0.1)

    def eap(loglik):
        w = np.exp(loglik + prior - (loglik + prior).max())
        w /= w.sum()
        mean = w @ GRID
        return mean, np.sqrt(w @ (GRID - mean) ** 2)

    theta, _ = eap(plain)
    _, se = eap(0.5 * plain)
    assert state.theta == pytest.approx(theta, abs=1e-9) and state.se == pytest.approx(se, abs=1e-9)
    tempered = AdaptiveTest(bank, likelihood_weight=0.5, temper_estimates=True).start()
    tempered.record_many(items, answers)
    assert tempered.theta == pytest.approx(eap(0.5 * plain)[0], abs=1e-9)
    assert abs(tempered.theta) < abs(state.theta)  # the tempered posterior is pulled to the prior


def test_a_model_at_chance_is_not_predicted_below_chance():
    bank = make_bank(3000)
    bank.metadata["chance_accuracy"] = 0.25
    predictions = {}
    for chance in (None, 0.0):  # the bank's 0.25, then no floor
        state = AdaptiveTest(bank, max_items=60, target_se=0, chance_accuracy=chance).start()
        for _ in range(60):  # wrong every time: far below the bank's range
            state.record(state.next_item(), 0, with_accuracy=False)
        predictions[chance] = state.expected_accuracy()
    floored, interval = predictions[None]
    assert floored >= 0.25 * (len(bank) - 60) / len(bank) - 1e-9
    assert interval[0] <= floored <= interval[1]
    assert predictions[0.0][0] < 0.1  # a 2PL alone goes towards 0
    with pytest.raises(ValueError, match="chance_accuracy=1.5"):
        AdaptiveTest(bank, chance_accuracy=1.5)


def test_map_and_mle_se_use_the_tests_prior_and_the_tempered_likelihood():
    bank = make_bank(500)
    items, answers = np.arange(0, 60, 3), np.arange(20) % 3 == 0

    def state(**settings):
        s = AdaptiveTest(bank, **settings).start()
        s.record_many(items, answers)
        return s

    def info(theta):
        return float(np.sum(information(theta, bank.b[items], bank.a[items])))

    # MAP: the SE is the Laplace one of the tempered posterior, with the test's own prior
    for prior_sd in (0.5, 2.0):
        for w in (0.5, 1.0):
            settings = dict(estimator="map", prior_sd=prior_sd, prior_tail=0.0, likelihood_weight=w)
            mode = state(**settings, temper_estimates=True).theta  # the tempered posterior's mode
            expected = 1 / np.sqrt(w * info(mode) + 1 / prior_sd**2)
            assert state(**settings).se == pytest.approx(expected, rel=2e-3)
    # MLE: the SE of L^w is sqrt(1 / w) times that of L
    plain, tempered = state(estimator="mle", likelihood_weight=1.0), state(estimator="mle")
    assert plain.se == pytest.approx(1 / np.sqrt(info(plain.theta)), rel=2e-3)
    assert tempered.se == pytest.approx(np.sqrt(2) * plain.se, rel=1e-6)


def test_a_session_is_refused_on_another_bank_of_the_same_size(tmp_path):
    bank, other = make_bank(), make_bank(seed=1)  # same ids and size, other parameters
    path = tmp_path / "run.jsonl"
    AdaptiveTest(bank, max_items=5, target_se=0).run(Simulated(bank, 0), session=path)
    with pytest.raises(SessionError, match="another item bank") as err:
        AdaptiveTest(other, max_items=10, target_se=0).run(Simulated(other, 0), session=path)
    assert str(path) in str(err.value)
    # the same bank, saved and loaded again: the session resumes
    again = ItemBank.load(bank.save(tmp_path / "bank"))
    assert again.fingerprint() == bank.fingerprint() != other.fingerprint()
    result = AdaptiveTest(again, max_items=10, target_se=0).run(Simulated(again, 0), session=path)
    assert result.n_items == 10 and len(path.read_text().splitlines()) == 11


def test_the_fingerprint_covers_ids_and_every_parameter():
    bank = make_bank(50)
    changed = [ItemBank(ids=[*bank.ids[:-1], "other"], b=bank.b, a=bank.a)]
    for name in ("b", "a", "b_se", "a_se"):
        params = {k: getattr(bank, k).copy() for k in ("b", "a", "b_se", "a_se")}
        params[name][7] += 1e-9
        changed.append(ItemBank(ids=bank.ids, **params))
    prints = {bank.fingerprint(), *(c.fingerprint() for c in changed)}
    assert len(prints) == 6
    assert ItemBank(ids=bank.ids, b=bank.b.copy(), a=bank.a.copy(),
                    category=["x"] * 50).fingerprint() == bank.fingerprint()


def test_a_model_that_answers_everything_right_is_predicted_at_most_one():
    """The chance floor of the unasked items comes with a ceiling: all of them right, not more
    (metabench-gsm8k's curve plus its residual went above 1 for abilities of about 4)."""
    bank = ItemBank.load("metabench-gsm8k")

    class AllRight:
        name = "all-right"

        def answerable(self, ids):
            return np.ones(len(ids), bool)

        def answer(self, question_id):
            return 1

    result = AdaptiveTest(bank, max_items=40, target_se=0).run(AllRight())
    assert result.theta > 3
    assert result.expected_accuracy <= 1 and result.expected_accuracy_interval[1] <= 1
