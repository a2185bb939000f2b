"""Banks' calibration protocols (banks/protocol.py): what the shipped banks carry, the exact
requests they build, and the score / prompt commands end to end."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from adaptive_eval.banks.catalog import CATALOG
from adaptive_eval.banks.protocol import Protocol, ProtocolError, load_protocol
from adaptive_eval.banks.questions import Question
from test_cli import cli

WITH_PROTOCOL = ["mmlu-pro", "mmlu-redux", "gsm8k", "math-l5", "cruxeval", "zebralogic"]

# the second exemplar-less category name is made up: the request must refuse it
PHYSICS = Question("p1", "A {weird} braced {question} text?",
                   ["1 m", "N/A", "2 m", "3 m", "4 m"], 2, "physics")


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_bank_with_a_benchmark_protocol_carries_it(name):
    protocol = load_protocol(name)
    if name.startswith("metabench-") or CATALOG[name].answer_type == "graded":
        assert protocol is None  # replay banks with no benchmark protocol here
        return
    assert protocol.benchmark == name
    assert protocol.live is (name != "zebralogic")
    assert protocol.source["commit"]
    assert protocol.generation["temperature"] == 0


def test_mmlu_pro_request_is_the_sources_5shot_completion_prompt():
    protocol = load_protocol("mmlu-pro")
    request = protocol.request(PHYSICS)
    assert set(request) == {"prompt", "max_new_tokens", "temperature", "top_p", "stop"}
    assert (request["max_new_tokens"], request["stop"]) == (2048, ["Question:"])
    prompt = request["prompt"]
    assert prompt.startswith("The following are multiple choice questions (with answers) about "
                             "physics. Think step by step")
    assert prompt.count("Question:\n") == 6  # 5 exemplars + the question
    assert prompt.count("Answer: Let's think step by step.") == 6
    assert "A: Let's think step by step" not in prompt
    first = protocol.exemplars["physics"][0]
    assert first["question"] in prompt and protocol.exemplars["physics"][4]["question"] in prompt
    # N/A is dropped and the letters follow the kept options; braces in the text stay as they are
    assert prompt.endswith("Question:\nA {weird} braced {question} text?\nOptions:\nA. 1 m\n"
                           "B. 2 m\nC. 3 m\nD. 4 m\nAnswer: Let's think step by step.")
    assert protocol.request(PHYSICS, k=1)["prompt"].count("Question:\n") == 2
    with pytest.raises(ValueError, match="no exemplars"):
        protocol.request(Question("x", "?", ["a", "b"], 0, "astrology"))


def test_zeroeval_requests_are_one_user_message():
    question = Question("mmlu-redux-x-#0", "Which?", ["w", "x", "y", "z"], 2)
    request = load_protocol("mmlu-redux").request(question)
    assert [m["role"] for m in request["messages"]] == ["user"]
    assert "## Choices:\n\n- (A) w\n- (B) x\n- (C) y\n- (D) z\n\n" in request["messages"][0][
        "content"]
    assert request["max_new_tokens"] == 4096
    gsm = Question("g", "How many?", [], None, None, "numeric", "3")
    assert "\n## Question: \n\nHow many?\n" in load_protocol("gsm8k").request(gsm)["messages"][0][
        "content"]


def test_protocol_round_trip_and_bad_files(tmp_path):
    protocol = load_protocol("gsm8k")
    protocol.save(tmp_path)
    assert Protocol.load(tmp_path / "protocol.json") == protocol
    data = protocol.to_dict() | {"mode": "telepathy"}
    with pytest.raises(ProtocolError, match="telepathy"):
        Protocol.from_dict(data)
    (tmp_path / "protocol.json").write_text("{")
    with pytest.raises(ProtocolError, match="not a readable protocol"):
        Protocol.load(tmp_path / "protocol.json")


@pytest.fixture
def redux_files(tmp_path):
    """An MMLU-Redux items file shaped like the shared one (one item keyed by the annotators'
    corrected answer) and raw outputs in ZeroEval's JSON format, one of them cut off."""
    items = pd.DataFrame([
        {"question_id": "mmlu-redux-anatomy-#0", "benchmark": "mmlu-redux", "category": "anatomy",
         "question": "Which disorder?", "options": json.dumps(["a", "b", "c", "Narcolepsy"]),
         "answer": "D", "answer_index": 3, "error_type": "ok", "corrected_answer": ""},
        {"question_id": "mmlu-redux-anatomy-#7", "benchmark": "mmlu-redux", "category": "anatomy",
         "question": "Which bone?", "options": json.dumps(["w", "x", "y", "z"]),
         "answer": "A", "answer_index": 0, "error_type": "wrong_groundtruth",
         "corrected_answer": "C"},
        {"question_id": "gsm8k-main-test-#0", "benchmark": "gsm8k", "category": "",
         "question": "How many?", "options": "", "answer": "18", "answer_index": "",
         "error_type": "", "corrected_answer": ""},
    ])
    outputs = pd.DataFrame([
        {"model": "m", "question_id": "mmlu-redux-anatomy-#0",
         "output": '{\n  "reasoning": "sleep",\n  "answer": "D"\n}'},
        {"model": "m", "question_id": "mmlu-redux-anatomy-#7",
         "output": '```json\n{"reasoning": "the key is wrong", "answer": "C) y"}\n```'},
        {"model": "m", "question_id": "mmlu-redux-anatomy-#0",
         "output": '{\n  "reasoning": "Let me think about each option. A: dyslexia is'},
    ])
    items.to_csv(tmp_path / "items.csv", index=False)
    outputs.to_csv(tmp_path / "outputs.csv", index=False)
    return tmp_path


def test_cli_score_json_and_csv(redux_files):
    out = redux_files / "scored.csv"
    proc = cli("score", "--bank", "mmlu-redux", redux_files / "outputs.csv", "--items",
               redux_files / "items.csv", "--json", "--out", out)
    assert json.loads(proc.stdout) == [
        {"question_id": "mmlu-redux-anatomy-#0", "extracted": "D", "correct": 1},
        {"question_id": "mmlu-redux-anatomy-#7", "extracted": "C) y", "correct": 1},
        {"question_id": "mmlu-redux-anatomy-#0", "extracted": None, "correct": 0},
    ]
    scored = pd.read_csv(out, keep_default_na=False)
    assert list(scored.columns) == ["model", "question_id", "output", "extracted", "correct"]
    human = cli("score", "--bank", "mmlu-redux", redux_files / "outputs.csv", "--items",
                redux_files / "items.csv").stdout
    assert "3 outputs read with rule zeroeval-mcqa (bank mmlu-redux): 2 correct" in human
    assert "1 with no answer" in human


def test_cli_score_errors_are_one_line(redux_files):
    proc = cli("score", "--bank", "gsm8k", redux_files / "outputs.csv", "--items",
               redux_files / "items.csv", check=False)
    assert proc.returncode == 2 and "have no gold answer for gsm8k" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = cli("score", "--bank", "metabench-arc", redux_files / "outputs.csv", check=False)
    assert proc.returncode == 2 and "carries no calibration protocol" in proc.stderr
    proc = cli("score", "--bank", "zebralogic", redux_files / "outputs.csv", check=False)
    assert proc.returncode == 2 and "replay only" in proc.stderr
    proc = cli("score", "--bank", "mmlu-redux", redux_files / "items.csv", "--items",
               redux_files / "items.csv", check=False)
    assert proc.returncode == 2 and "missing column(s) output" in proc.stderr


def test_cli_prompt(redux_files):
    proc = cli("prompt", "--bank", "mmlu-redux", "--items", redux_files / "items.csv",
               "mmlu-redux-anatomy-#7", "--json")
    payload = json.loads(proc.stdout)
    assert payload["protocol"] == "zeroeval-mcqa-cot" and payload["mode"] == "chat"
    assert payload["messages"][0]["content"].startswith("\n## Question: \n\nWhich bone?")
    assert payload["max_new_tokens"] == 4096 and payload["stop"] == []
    human = cli("prompt", "--bank", "gsm8k", "--items", redux_files / "items.csv",
                "gsm8k-main-test-#0").stdout
    assert human.startswith("# protocol zeroeval-math-cot (chat)") and "How many?" in human
    proc = cli("prompt", "--bank", "gsm8k", "--items", redux_files / "items.csv", "nope",
               check=False)
    assert proc.returncode == 2 and "'nope'" in proc.stderr
