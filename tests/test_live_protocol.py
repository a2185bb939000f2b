"""Live examinees ask the way the bank was calibrated (its ``protocol.json``) and read the answer
by the bank's rule: the real llama.cpp server (SmolLM2) on MMLU-Pro (5-shot chain of thought,
a completion prompt) and GSM8K (ZeroEval's zero-shot chat template), and a tiny transformers
model; truncation and tokens recorded in the steps, the session and the result."""

from __future__ import annotations

import json

import pytest
from adaptive_eval.banks.protocol import load_protocol
from adaptive_eval.banks.questions import format_prompt, load_questions
from adaptive_eval.examinees import OpenAIExaminee
from adaptive_eval.examinees.hf import HFExaminee
from llama_server import start_llama_server, stop_server
from test_cli import cli
from test_examinees import ITEMS, ZEROEVAL, tiny_lm  # noqa: F401

BUDGET = 16


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process, base_url = start_llama_server(tmp_path_factory.mktemp("llama") / "server.log")
    yield base_url
    stop_server(process)


@pytest.fixture(scope="module")
def asked():
    """The shortest MMLU-Pro question under its 5-shot prompt and the shortest GSM8K one."""
    if not ITEMS.exists() or not ZEROEVAL.exists():
        pytest.skip("the shared MMLU-Pro and ZeroEval items are absent")
    out = {}
    for bank, path, kw in (("mmlu-pro", ITEMS, {}), ("gsm8k", ZEROEVAL, {"benchmark": "gsm8k"})):
        protocol = load_protocol(bank)
        questions = load_questions(path, answer_type=None if bank == "mmlu-pro" else "numeric",
                                   **kw)
        qid = min(questions, key=lambda q: len(str(protocol.request(questions[q]))))
        out[bank] = (protocol, questions[qid])
    return out


@pytest.mark.server
def test_openai_asks_and_reads_under_each_banks_protocol(server, asked):
    for bank, (protocol, question) in asked.items():
        examinee = OpenAIExaminee(server, "smollm2", {question.question_id: question},
                                  max_new_tokens=BUDGET, protocol=protocol)
        answer = examinee.answer(question.question_id)
        assert answer.response and answer.response == examinee.last_reply
        assert answer.extracted == protocol.read(answer.response)
        assert answer.correct == protocol.score(answer.response, question)[1]
        assert answer.truncated == (answer.tokens["completion"] >= BUDGET)
        quick = len(format_prompt(question)) // 4
        assert answer.tokens["prompt"] > quick, bank  # the protocol's prompt, not the package's
    assert asked["mmlu-pro"][0].mode == "completion" and asked["gsm8k"][0].mode == "chat"


@pytest.mark.server
def test_cli_live_run_records_protocol_truncation_and_tokens(server, tmp_path):
    if not ZEROEVAL.exists():
        pytest.skip(f"{ZEROEVAL} absent")
    session = tmp_path / "run.jsonl"
    args = ["evaluate", "--bank", "gsm8k", "--items", ZEROEVAL, "--examinee",
            f"openai:{server}:smollm2", "--max-items", "2", "--target-se", "0",
            "--max-new-tokens", BUDGET, "--session", session, "--json"]
    run = cli(*args)
    result = json.loads(run.stdout)
    assert result["protocol"] == {"name": "zeroeval-math-cot", "bank": True}
    assert "protocol: zeroeval-math-cot" in run.stderr
    steps = result["history"]
    assert len(steps) == 2 and all(isinstance(s["truncated"], bool) for s in steps)
    assert result["n_truncated"] == sum(s["truncated"] for s in steps)
    assert result["tokens"]["completion"] == sum(s["tokens"]["completion"] for s in steps)
    assert all(s["response"] and "extracted" in s for s in steps)
    assert result["tokens_whole_benchmark"]["prompt"] > result["tokens"]["prompt"] * 100
    lines = [json.loads(line) for line in session.read_text().splitlines()[1:]]
    assert [line["truncated"] for line in lines] == [s["truncated"] for s in steps]
    assert [line["tokens"] for line in lines] == [s["tokens"] for s in steps]
    refused = cli(*args[:-1], "--protocol", "letter", "--json", check=False)
    assert refused.returncode == 2 and "protocol" in refused.stderr
    quick = cli(*[a for a in args if a not in ("--session", session)], "--protocol", "letter")
    said = json.loads(quick.stdout)["protocol"]
    assert said == {"name": "letter", "bank": False}
    assert "differs from how gsm8k was calibrated" in quick.stderr


def test_hf_asks_under_the_protocol_and_cuts_at_its_stop(tiny_lm, asked):  # noqa: F811
    """The tiny random model generates under the bank's protocol (a completion prompt for
    MMLU-Pro, ZeroEval's chat template for GSM8K); every reply is read by the bank's rule."""
    questions = {q.question_id: q for _, q in asked.values()}
    protocols = {q.question_id: p for p, q in asked.values()}
    examinee = HFExaminee(str(tiny_lm), questions, max_new_tokens=BUDGET, protocol=protocols)
    answers = examinee.answers(list(questions))
    for (protocol, _), answer in zip(asked.values(), answers, strict=True):
        assert answer.response is not None and answer.tokens["completion"] <= BUDGET
        assert answer.extracted == protocol.read(answer.response)
        assert answer.truncated == (answer.tokens["completion"] == BUDGET)
        assert not any(stop in answer.response for stop in protocol.generation["stop"])
    plain = HFExaminee(str(tiny_lm), questions).answers([asked["mmlu-pro"][1].question_id])[0]
    assert plain.response is None  # without a protocol: the letter by log-likelihood
