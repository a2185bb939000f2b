"""Session files: the header records the test's settings and a resume that changes one is refused
(the stopping rule may change, to continue a finished test); a kill during the header write or
between an answer and its newline leaves a file that resumes; suites use the same checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.cat.session import SessionError
from adaptive_eval.cat.suite import SuiteTest
from test_adaptive import Simulated, make_bank


def _ids(path) -> list[str]:
    return [json.loads(line)["question_id"] for line in path.read_text().splitlines()[1:]]


@pytest.mark.parametrize("changed, message", [
    ({"seed": 1}, "seed = 0, not 1"),
    ({"selection": "kl"}, "selection = 'fisher', not 'kl'"),
    ({"estimator": "map"}, "estimator = 'eap', not 'map'"),
    ({"prior_sd": 2.0}, "prior_sd"),
    ({"randomesque": 1}, "randomesque = 5, not 1"),
    ({"content_balancing": False}, "content_balancing = True, not False"),
])
def test_a_resume_with_other_settings_is_refused(tmp_path, changed, message):
    bank = make_bank(n=300)
    path = tmp_path / "run.jsonl"
    AdaptiveTest(bank, max_items=5, target_se=0).run(Simulated(bank, 0.3), session=path)
    before = path.read_text()
    with pytest.raises(SessionError, match="the session was run with ") as err:
        AdaptiveTest(bank, max_items=10, target_se=0, **changed).run(Simulated(bank, 0.3),
                                                                      session=path)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert path.read_text() == before  # nothing asked, nothing written


def test_other_answerable_questions_are_refused(tmp_path):
    bank = make_bank(n=300)
    path = tmp_path / "run.jsonl"
    AdaptiveTest(bank, max_items=5, target_se=0).run(Simulated(bank, 0.3), session=path)

    class Fewer(Simulated):
        def answerable(self, ids):
            return np.arange(len(ids)) < 200

    with pytest.raises(SessionError, match="answerable = '300 of 300 .*', not '200 of 300"):
        AdaptiveTest(bank, max_items=10, target_se=0).run(Fewer(bank, 0.3), session=path)


def test_a_finished_test_continues_with_more_items_or_a_smaller_target_se(tmp_path):
    bank = make_bank(n=300)
    path = tmp_path / "run.jsonl"
    first = AdaptiveTest(bank, max_items=40, target_se=0.6).run(Simulated(bank, 0.3),
                                                                session=path)
    assert first.stop_reason == "target_se" and first.n_items < 40
    finer = AdaptiveTest(bank, max_items=40, target_se=0.4).run(Simulated(bank, 0.3),
                                                                session=path)
    assert finer.n_items > first.n_items and (finer.se <= 0.4 or finer.n_items == 40)
    longer = AdaptiveTest(bank, max_items=finer.n_items + 5, target_se=0).run(
        Simulated(bank, 0.3), session=path)
    assert longer.n_items == finer.n_items + 5
    ids = _ids(path)
    assert len(ids) == len(set(ids)) == longer.n_items
    assert [s.question_id for s in longer.history] == ids


def test_an_older_header_without_settings_is_refused(tmp_path):
    bank = make_bank(n=300)
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"type": "header", "examinee": "sim0.3",
                                "bank": bank.fingerprint(), "n_items": 300}) + "\n")
    with pytest.raises(SessionError, match="records no test settings"):
        AdaptiveTest(bank).run(Simulated(bank, 0.3), session=path)


def test_a_header_cut_by_a_kill_starts_over(tmp_path):
    """Killed while writing the header (an older writer, or a disk that lost the rename): the
    file holds part of line 1 and nothing else; the test starts again and stays resumable."""
    bank = make_bank(n=300)
    path = tmp_path / "cut.jsonl"
    path.write_text('{"type": "header", "examinee": "sim0.3", "ba')
    first = AdaptiveTest(bank, max_items=5, target_se=0).run(Simulated(bank, 0.3), session=path)
    assert first.n_items == 5 and json.loads(path.read_text().splitlines()[0])["settings"]
    again = AdaptiveTest(bank, max_items=8, target_se=0).run(Simulated(bank, 0.3), session=path)
    assert again.n_items == 8 and _ids(path)[:5] == [s.question_id for s in first.history]
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_an_answer_killed_before_its_newline_is_kept(tmp_path):
    bank = make_bank(n=300)
    path = tmp_path / "run.jsonl"
    AdaptiveTest(bank, max_items=5, target_se=0).run(Simulated(bank, 0.3), session=path)
    path.write_text(path.read_text().rstrip("\n"))  # the last answer's newline never written
    result = AdaptiveTest(bank, max_items=8, target_se=0).run(Simulated(bank, 0.3), session=path)
    ids = _ids(path)
    assert result.n_items == 8 and len(ids) == len(set(ids)) == 8


def test_a_suite_resume_with_other_settings_is_refused(tmp_path):
    banks = {"one": make_bank(n=200, seed=1), "two": make_bank(n=200, seed=2)}
    path = tmp_path / "suite.jsonl"
    examinee = Simulated(banks["one"], 0.3)
    examinee.answer = lambda qid: 1
    SuiteTest(banks, max_items=6, target_se=0).run(examinee, session=path)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["settings"]["seed"] == 0 and set(header["settings"]["answerable"]) == set(banks)
    with pytest.raises(SessionError, match="seed = 0, not 3"):
        SuiteTest(banks, max_items=8, target_se=0, seed=3).run(examinee, session=path)
    with pytest.raises(SessionError, match="min_shared = 5, not 2"):
        SuiteTest(banks, max_items=8, target_se=0, min_shared=2).run(examinee, session=path)
    more = SuiteTest(banks, max_items=8, target_se=0).run(examinee, session=path)
    assert more.n_items == 8 and len(_ids(path)) == 8
