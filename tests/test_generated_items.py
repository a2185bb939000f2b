"""Trustworthy generated items: structural checks, a real solver (a tiny causal LM trained here to
know one fact) rejecting a wrong key, the OpenAI-compatible backend against a real llama.cpp
server, adaptive tests that generate where the bank is thin (interrupted and resumed), and the
command line's errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from adaptive_eval.amortized.base_models import MINILM, resolve_base_model
from adaptive_eval.amortized.generator import GeneratorConfig, QuestionGenerator, add_to_bank
from adaptive_eval.amortized.item_format import format_item
from adaptive_eval.amortized.predictor import DifficultyPredictor, PredictorConfig
from adaptive_eval.amortized.server_generator import Example, ServerGenerator, item_text
from adaptive_eval.amortized.verify import Verifier, asked_quantity, structure_problem
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.questions import Question, format_prompt
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.cat.thin_bank import ThinBankItems
from adaptive_eval.cli import main
from adaptive_eval.examinees import examinee_from_spec
from llama_server import start_llama_server, stop_server

FACT = "What is the capital of France?"
OPTIONS = ["Berlin", "Madrid", "Paris", "Rome"]  # the key is C
CATEGORIES = ["geography", "math"]


def rotations(options: list[str]) -> list[tuple[list[str], int]]:
    """Every rotation of ``options`` with the position of Paris in it."""
    n = len(options)
    return [([options[(j + s) % n] for j in range(n)], [(j + s) % n for j in range(n)].index(2))
            for s in range(n)]


@pytest.fixture(scope="module")
def fact_solver(tmp_path_factory) -> Path:
    """A 2-layer Llama (MiniLM tokenizer) trained (about 90 Adam steps) on the fact question under
    every rotation of its options (loss on the answer letter only), so it answers with the
    letter of "Paris" wherever it is."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(MINILM))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id))
    texts = [format_prompt(Question("x", FACT, shown, key)) + " " + "ABCD"[key]
             for shown, key in rotations(OPTIONS)]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    rows = torch.arange(len(texts))
    letter = batch["attention_mask"].sum(1) - 2  # the answer letter: the last token before [SEP]
    target = batch["input_ids"][rows, letter]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(150):
        hidden = model.model(**batch).last_hidden_state[rows, letter - 1]
        loss = torch.nn.functional.cross_entropy(model.lm_head(hidden), target)
        if loss.item() < 0.05:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05, f"the solver did not learn the fact (loss {loss.item():.3f})"
    folder = tmp_path_factory.mktemp("fact-solver")
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def predictor(tiny_encoder) -> DifficultyPredictor:
    """A predictor with the tiny random encoder (conftest) and a random head."""
    torch.manual_seed(1)
    return DifficultyPredictor(PredictorConfig(encoder=str(tiny_encoder), max_length=64,
                                               hidden_sizes=[8], categories=CATEGORIES)).eval()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_EVAL_CACHE", str(tmp_path / "cache"))


class CannedGenerator(QuestionGenerator):
    """The real filters, ranking and verification, fed with fixed completions (one new
    rotation of the fact question per call, so every call gives a new item)."""

    calls = 0

    def sample(self, targets, categories, seed=0, batch_size=16, do_sample=True):
        CannedGenerator.calls += 1
        shown, key = rotations(OPTIONS)[CannedGenerator.calls % 4]
        text = format_item(f"{FACT} (version {CannedGenerator.calls})", shown, key)
        return [text] + [None] * (len(targets) - 1)


# ---- structure -------------------------------------------------------------------------------


def test_structure_checks():
    field = "A wire carries 3 A. What is the magnetic field 2 cm from the wire?"
    assert asked_quantity(field) == "magnetic field"
    assert "m/s" in structure_problem(field, ["3 m/s", "4 m/s", "5 m/s", "6 m/s"], "A")
    assert structure_problem(field, ["3 T", "4 mT", "5 T", "6 T"], "A") is None
    assert structure_problem("Pick one.", ["x", "X ", "y", "z"], "A") == \
        "options are not distinct"
    assert "names no option" in structure_problem("Pick one.", ["w", "x", "y", "z"], "E")
    assert structure_problem("2 + 2?", [], "4", "numeric") is None
    assert "not a number" in structure_problem("2 + 2?", [], "four", "numeric")


# ---- a real solver -----------------------------------------------------------------------------


def test_wrong_key_is_rejected_and_right_key_verified(fact_solver):
    verifier = Verifier([f"hf:{fact_solver}"], repeats=4)
    wrong = verifier.check(FACT, OPTIONS, "A")  # Berlin
    assert wrong.verified is False and wrong.agreement == 0.0
    assert wrong.consensus == "C"  # the solver says Paris under every rotation
    assert wrong.solver_answers == {f"hf:{fact_solver}": ["C", "C", "C", "C"]}
    right = verifier.check(FACT, OPTIONS, "C")
    assert right.verified is True and right.agreement == 1.0
    broken = verifier.check(FACT, OPTIONS, "E")
    assert broken.verified is False and broken.solver_answers == {}
    assert verifier._questions == {}  # nothing left where a solver could see it


def test_generate_returns_only_verified_items(fact_solver, predictor):
    generator = CannedGenerator(None, None, GeneratorConfig(categories=CATEGORIES), None,
                                predictor)
    verifier = Verifier([f"hf:{fact_solver}"])
    unchecked = generator.generate(0.5, n=1, best_of=1)
    assert unchecked and unchecked[0].verified is None
    lines = []
    kept = generator.generate(0.5, n=1, best_of=1, verifier=verifier, keep_rejected=True,
                              progress=lines.append)
    item = kept[0].to_dict()
    assert item["verified"] is (item["options"][ord(item["answer"]) - 65] == "Paris")
    assert set(item) >= {"question", "options", "answer", "target_difficulty",
                         "predicted_difficulty", "verified", "agreement", "solver_answers"}
    assert any(line.startswith("verify 1/1") for line in lines)


# ---- an OpenAI-compatible server ---------------------------------------------------------------


def test_item_text_cuts_the_reply():
    reply = "Sure!\n```\nQuestion: 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer: B\nBecause...\n```"
    assert item_text(reply) == "Question: 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer: B"
    assert item_text("no item here") is None


@pytest.mark.server
def test_server_backend_against_llama_cpp(tmp_path, predictor):
    process, base_url = start_llama_server(tmp_path / "server.log")
    try:
        examples = [Example(f"Question: What is {k} + {k}?\nAnswer: {2 * k}", k / 4, "math")
                    for k in range(1, 9)]
        generator = ServerGenerator(f"openai:{base_url}:smollm2", examples, "numeric",
                                    predictor, shots=2)
        generator.config.max_new_tokens = 48
        messages = generator.messages(1.0, "math", np.random.default_rng(0))
        assert [m["role"] for m in messages] == ["user", "assistant"] * 2 + ["user"]
        assert "+1.0" in messages[-1]["content"] and "math" in messages[-1]["content"]
        texts = generator.sample([1.0, 1.0], ["math", "math"], seed=3, do_sample=False)
        assert len(texts) == 2
        # greedy after two worked examples, SmolLM2 writes one item per reply (seen: 2 of 2)
        assert all(t is not None and t.startswith("Question:") for t in texts), texts
        generator.config.max_distance = None
        items = generator.generate(1.0, n=1, best_of=2, max_rounds=3)
        assert len(items) == 1, "no sampled reply parsed as an item in 3 rounds"
        assert items[0].options == [] and items[0].answer_type == "numeric"
        assert items[0].question.startswith("What is")
    finally:
        stop_server(process)
    with pytest.raises(ValueError, match=f"{base_url} is unreachable"):
        ServerGenerator(f"openai:{base_url}:smollm2", examples, "numeric", predictor)


# ---- adaptive tests that generate where the bank is thin ---------------------------------------


class SeededGenerator(QuestionGenerator):
    """The real filters, ranking and verification, fed with completions that depend on the
    sampling seed only, as a real sampler's do: the same seed gives the same item."""

    def sample(self, targets, categories, seed=0, batch_size=16, do_sample=True):
        shown, key = rotations(OPTIONS)[seed % 4]
        return [format_item(f"{FACT} (seed {seed})", shown, key)] + [None] * (len(targets) - 1)


class ConstantGenerator(QuestionGenerator):
    """Always the same item, whatever the seed."""

    def sample(self, targets, categories, seed=0, batch_size=16, do_sample=True):
        return [format_item(f"{FACT} (always)", OPTIONS, 2)] + [None] * (len(targets) - 1)


def _thin_test(generator, verifier, examinee, **options) -> tuple[AdaptiveTest, ThinBankItems]:
    bank = ItemBank(ids=[f"q{k}" for k in range(6)], b=np.linspace(-4, -3, 6),
                    a=np.full(6, 1.2), category=["geography"] * 6)
    source = ThinBankItems(generator, verifier, examinee.questions, bank=bank, best_of=1)
    test = AdaptiveTest(bank, max_items=6, target_se=0, item_source=source,
                        thin_information=0.25, randomesque=1, **options)
    return test, source


class Interrupted(Exception):
    pass


def test_thin_bank_session_interrupted_and_resumed(tmp_path, fact_solver, predictor):
    questions = {f"q{k}": Question(f"q{k}", f"Easy question {k}?", OPTIONS, 2, "geography")
                 for k in range(6)}
    examinee = examinee_from_spec(f"hf:{fact_solver}", questions=questions)
    generator = CannedGenerator(None, None, GeneratorConfig(categories=CATEGORIES), None,
                                predictor)
    verifier = Verifier([f"hf:{fact_solver}"])
    session = tmp_path / "session.jsonl"
    test, source = _thin_test(generator, verifier, examinee)
    answer = examinee.answer

    def answer_then_die(question_id):
        if len(session.read_text().splitlines()) > 4:
            raise Interrupted
        return answer(question_id)

    examinee.answer = answer_then_die
    with pytest.raises(Interrupted):
        test.run(examinee, session=session)
    lines = [json.loads(line) for line in session.read_text().splitlines()[1:]]
    generated = [line for line in lines if line["item"] is not None]
    assert generated, "the bank is thin at every ability the test reaches"
    for line in generated:
        assert line["question_id"].startswith("generated-")
        assert line["item"]["verified"] is True and line["item"]["b_se"] > 0
        assert line["item"]["question"].startswith(FACT)
    calls_before = source.calls

    examinee.answer = answer
    test, source = _thin_test(generator, verifier, examinee)
    result = test.run(examinee, session=session)
    assert result.n_items == 6
    replayed = result.history[: len(lines)]
    assert [s.question_id for s in replayed] == [line["question_id"] for line in lines]
    assert [s.item for s in replayed] == [line["item"] for line in lines]
    ids = [s.question_id for s in result.history]
    assert len(set(ids)) == len(ids), f"a question was asked twice: {ids}"
    new_generated = [s.question_id for s in result.history[len(lines):] if s.item is not None]
    assert new_generated and not set(new_generated) & {line["question_id"] for line in generated}
    assert calls_before >= len(generated)


def _interrupt_and_resume(tmp_path, fact_solver, predictor, generator_class):
    """A thin-bank test killed after 3 answers, then resumed to 6 questions: the history."""
    questions = {f"q{k}": Question(f"q{k}", f"Easy question {k}?", OPTIONS, 2, "geography")
                 for k in range(6)}
    examinee = examinee_from_spec(f"hf:{fact_solver}", questions=questions)
    generator = generator_class(None, None, GeneratorConfig(categories=CATEGORIES), None,
                                predictor)
    verifier = Verifier([f"hf:{fact_solver}"], repeats=1)
    session = tmp_path / "session.jsonl"
    answer = examinee.answer

    def answer_then_die(question_id):
        if len(session.read_text().splitlines()) > 3:
            raise Interrupted
        return answer(question_id)

    examinee.answer = answer_then_die
    with pytest.raises(Interrupted):
        _thin_test(generator, verifier, examinee)[0].run(examinee, session=session)
    examinee.answer = answer
    return _thin_test(generator, verifier, examinee)[0].run(examinee, session=session).history


def test_resumed_thin_bank_test_never_regenerates_an_asked_item(tmp_path, fact_solver,
                                                                 predictor):
    """With a generator whose items depend on its seed, a resumed test must not draw the seeds
    of the items it asked before the kill (they would come back as the same question)."""
    history = _interrupt_and_resume(tmp_path, fact_solver, predictor, SeededGenerator)
    ids = [s.question_id for s in history]
    generated = [i for i in ids if i.startswith("generated-")]
    assert len(generated) >= 4, ids  # generated before and after the kill
    assert len(set(ids)) == len(ids), f"a question was asked twice: {ids}"


def test_a_generated_item_already_asked_is_not_asked_again(tmp_path, fact_solver, predictor):
    """A generator that always writes the same item: it is asked once, then the bank's items."""
    history = _interrupt_and_resume(tmp_path, fact_solver, predictor, ConstantGenerator)
    ids = [s.question_id for s in history]
    assert len(set(ids)) == len(ids) == 6, ids
    assert sum(i.startswith("generated-") for i in ids) == 1 and ids[0].startswith("generated-")


def test_generated_items_are_on_the_bank_scale(tiny_encoder):
    """Generated items' parameters are on the scale of the bank they join, not the pooled one."""
    scales = {"easy-bank": {"offset": -2.0, "scale": 1.0, "log_a_offset": 0.0, "residual_sd": 0.4},
              "hard-bank": {"offset": 2.0, "scale": 1.0, "log_a_offset": 0.0, "residual_sd": 0.6}}
    torch.manual_seed(1)
    predictor = DifficultyPredictor(PredictorConfig(
        encoder=str(tiny_encoder), max_length=64, hidden_sizes=[8], categories=CATEGORIES,
        benchmarks=scales, residual_sd=1.5)).eval()
    generator = SeededGenerator(None, None, GeneratorConfig(categories=CATEGORIES), None,
                                predictor)
    items = generator.generate(0.0, n=1, best_of=1, category="geography")
    text = items[0].text()
    pooled = predictor.predict_parameters([text], ["geography"])
    bank = ItemBank(ids=["q0", "q1"], b=np.array([1.5, 2.5]), category=["geography"] * 2,
                    metadata={"name": "hard-bank"})
    bigger = add_to_bank(bank, items, predictor)
    assert bigger.b[-1] == pytest.approx(pooled["b"][0] + 2.0, abs=1e-5)
    assert bigger.b_se[-1] == pytest.approx(0.6)
    source = ThinBankItems(generator, None, {}, bank=bank, best_of=1)
    item = source(0.0, "geography")
    assert item["b"] == pytest.approx(bigger.b[-1], abs=1e-5) and item["b_se"] == 0.6
    unknown = ItemBank(ids=["q0"], b=np.array([0.0]), metadata={"name": "other"})
    lines = []
    ThinBankItems(generator, None, {}, bank=unknown, progress=lines.append)
    assert "pooled ('other' is not among the predictor's benchmarks" in lines[0]
    assert add_to_bank(unknown, items, predictor).b[-1] == pytest.approx(pooled["b"][0],
                                                                         abs=1e-5)


# ---- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize("argv, message", [
    (["generate", "--difficulty", "9"], "outside -5 to 5"),
    (["generate", "--difficulty", "1", "--verify-with", "nonsense"], "'nonsense' does not parse"),
    (["generate", "--difficulty", "1", "--backend", "openai:http://127.0.0.1:9/v1:m",
      "--bank", "FOLDER", "--items", "ITEMS"], "http://127.0.0.1:9/v1 is unreachable"),
    (["generate", "--difficulty", "1", "--bank", "gsm8k"], "multiple-choice"),
])
def test_generate_bad_input_is_one_line(argv, message, tmp_path, capsys):
    bank = ItemBank(ids=["q0", "q1"], b=np.array([0.0, 1.0]))
    bank.save(tmp_path / "bank")
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"question_id": f"q{k}", "question": f"Q{k}?",
                                         "options": ["a", "b", "c", "d"], "answer": "A"}) + "\n"
                             for k in range(2)))
    argv = [str(tmp_path / "bank") if a == "FOLDER" else str(items) if a == "ITEMS" else a
            for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("adaptive-eval: error: ") and message in err[0]
