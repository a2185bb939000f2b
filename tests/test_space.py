"""The Gradio Space (space/app.py): its functions directly, and the page in headless Chromium.

The Difficulty tab runs on the embedded predictor when it is trained in this checkout, else on a
tiny random-weight predictor (``ADAPTIVE_EVAL_PREDICTOR``); the Generate tab on the embedded
generator when it exists, else the test checks that the tab says it is not available.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import constants as hf_constants

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"  # the shared data folder: mmlu_pro/, zeroeval/, ...
SHOTS = ROOT / "test-output" / "space"
CHROMIUM = Path("/usr/bin/chromium")
HAS_PREDICTOR = (ROOT / "models" / "difficulty-predictor" / "config.json").is_file()
HAS_GENERATOR = (ROOT / "models" / "question-generator" / "adapter_model.safetensors").is_file()
needs_data = pytest.mark.skipif(
    not (DATA / "mmlu_pro" / "responses.csv.gz").is_file()
    or not (DATA / "mmlu_pro" / "items.csv.gz").is_file(),
    reason=f"MMLU-Pro responses/items not found in {DATA}/mmlu_pro (only in the project's CI)",
)
needs_zeroeval = pytest.mark.skipif(
    not (DATA / "zeroeval" / "responses.csv.gz").is_file()
    or not (DATA / "zeroeval" / "items.csv.gz").is_file(),
    reason=f"ZeroEval responses/items not found in {DATA}/zeroeval (only in the project's CI)",
)
GSM8K_MODEL = "Meta-Llama-3-8B-Instruct"  # one of the gsm8k bank's calibration models


def load_app():
    spec = importlib.util.spec_from_file_location("space_app", ROOT / "space" / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_predictor_dir(tiny_encoder, tmp_path_factory) -> Path:
    """A saved predictor with the tiny random encoder (conftest): fast, offline."""
    import torch
    from adaptive_eval.amortized.predictor import DifficultyPredictor, PredictorConfig

    torch.manual_seed(1)
    config = PredictorConfig(encoder=str(tiny_encoder), max_length=64, hidden_sizes=[16],
                             categories=["math", "law"], residual_sd=0.8)
    folder = tmp_path_factory.mktemp("tiny-predictor")
    DifficultyPredictor(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    """A saved 2-layer random-weight Llama with the MiniLM tokenizer: a fast live LM."""
    import torch
    from adaptive_eval.amortized.base_models import MINILM, resolve_base_model
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(MINILM))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
    folder = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def app_env(tmp_path_factory, tiny_predictor_dir) -> dict[str, str]:
    env = {"ADAPTIVE_EVAL_DATA": str(DATA), "ADAPTIVE_EVAL_SIMILAR_SAMPLE": "200",
           "ADAPTIVE_EVAL_CACHE": str(tmp_path_factory.mktemp("cache")),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    if not HAS_PREDICTOR:
        env["ADAPTIVE_EVAL_PREDICTOR"] = str(tiny_predictor_dir)
    return env


@pytest.fixture(scope="session")
def app(app_env):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in app_env.items():
            mp.setenv(key, value)
        yield load_app()


# ---- the functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_items", "target_se", "message"),
    [(0, 0.3, "between 1 and"), (2.5, 0.3, "whole number"), (50, -1, "Target SE"),
     ("x", 0.3, "numbers"), (10**6, 0.3, "between 1 and"), (50, float("nan"), "Target SE")],
)
def test_impossible_settings_are_refused(app, max_items, target_se, message):
    with pytest.raises(app.UserError, match=message):
        app.check_settings(max_items, target_se)
    out = app.next_question("replay: anything", "fisher", max_items, target_se)
    assert out[0] is None and message in out[1]  # state, status


def test_bad_text_is_refused(app):
    for question, options, message in [("", "", "Enter a question"), ("   ", "a", "Enter"),
                                       ("x" * 5001, "", "too long"),
                                       ("q", "\n".join(["o"] * 27), "At most 26")]:
        with pytest.raises(app.UserError, match=message):
            app.predictor_input(question, options)
        text, plot, table = app.predict_difficulty(question, options)
        assert message in text and plot is None and table.empty
    assert app.predictor_input(" Why? ", "yes\n\nno\n") == "Why?\nA. yes\nB. no"


def test_bad_generate_input_is_refused(app):
    assert "between -6 and 6" in app.generate_questions(float("nan"))[0]
    text, table = app.generate_questions(0.0, n=0)
    assert "1 to 8" in text and table.empty


def test_missing_data_is_said_in_the_page(app, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_EVAL_DATA", str(tmp_path))
    monkeypatch.setattr(app, "_cache", {})
    choices = app.examinee_choices()
    assert choices[-1] == app.LOCAL_MODEL and len(choices) == 24
    assert all(c.startswith("simulated: ") for c in choices[:-1])
    out = app.next_question("replay: Yi-34B", "fisher", 5, 0.3)
    assert "Recorded answers not found" in out[1] and str(tmp_path) in out[1]
    with pytest.raises(app.UserError, match="responses.csv.gz"):
        app.responses()
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # nor the bank's Hub dataset
    out = app.next_question(app.LOCAL_MODEL, "fisher", 2, 0, bank_name="gsm8k")
    assert "Question text for bank gsm8k not found" in out[1]
    assert "yuchenlin/zero-eval" in out[1] and "--items FILE" in out[1]
    assert "local-lm" not in app._cache  # no LM loaded for a bank it cannot answer


def test_without_data_recorded_models_answer_simulated(app, tmp_path, monkeypatch):
    """No shared data (a deployed Space): answers drawn from the model's calibrated ability."""
    monkeypatch.setenv("ADAPTIVE_EVAL_DATA", str(tmp_path))
    monkeypatch.setattr(app, "_cache", {})
    update, run, status, summary, *_ = app.pick_bank("gsm8k")
    assert "simulated answers" in status and run is None
    model = "gemma-2-9b-it"
    assert f"simulated: {model}" in update["choices"]
    outputs = list(app.run_to_end(f"simulated: {model}", "fisher", 25, 0.0, None, "gsm8k"))
    run, status, summary, question, figure, history = outputs[-1]
    assert status == "" and len(run.rows) == 25 and "Simulated answers" in summary
    bank = app.bank("gsm8k")
    expected = float(bank.expected_accuracy(bank.abilities[model]["theta"]))
    assert run.true_accuracy == pytest.approx(expected, abs=0.04)  # 1,319 Bernoulli draws
    again = app.simulated_responses(bank, model, seed=0).responses_of(model)
    assert np.mean(list(again.values())) == run.true_accuracy  # seeded: the same draws
    assert abs(run.rows[-1]["predicted accuracy"] - expected) < 0.15
    assert list(history.columns[-2:]) == ["response", "extracted"]
    assert "question text not available here" in question  # no items file, no text


@needs_data
def test_replay_runs_to_the_end_with_the_comparison(app):
    model = "Yi-34B"
    outputs = list(app.run_to_end(f"replay: {model}", "Maximum Fisher information", 30, 0.0))
    run, status, summary, question, figure, history = outputs[-1]
    assert status == "" and run.finished == "max_items" and len(run.rows) == 30
    assert "Finished" in summary and "Predicted accuracy" in summary
    assert "Random subset of 30" in summary and "True accuracy" in summary
    assert "Question 30" in question and "← key" in question
    assert len(history) == 30 and list(history["#"])[:2] == [30, 29]
    assert len(figure.axes) == 2 and figure.axes[1].get_legend() is not None
    # the true accuracy is the mean of all the model's recorded answers
    data = app.responses()
    answers = np.array(list(data.responses_of(model).values()))
    assert run.true_accuracy == pytest.approx(answers.mean())
    last = run.rows[-1]
    assert last["lo"] <= last["predicted accuracy"] <= last["hi"]
    assert abs(last["predicted accuracy"] - run.true_accuracy) < 0.15
    random_mean = np.mean(run.random_answers[:30])
    assert last["random-subset accuracy"] == pytest.approx(random_mean, abs=1e-3)


@needs_data
def test_step_by_step_and_restart_on_new_settings(app):
    out = app.next_question("replay: gemma-7b", "kl", 3, 0.0)
    run = out[0]
    assert run.state.n_items == 1 and "Running: 1 of at most 3" in out[2]
    for n in (2, 3):
        out = app.next_question("replay: gemma-7b", "kl", 3, 0.0, run)
        assert out[0] is run and run.state.n_items == n
    assert run.finished == "max_items" and "Finished" in out[2]
    out = app.next_question("replay: gemma-7b", "random", 3, 0.0, run)  # a new rule: a new test
    assert out[0] is not run and out[0].state.n_items == 1
    assert app.reset_run()[0] is None


@needs_data
def test_difficulty_prediction_with_similar_questions(app):
    text, figure, table = app.predict_difficulty(
        "What is the derivative of x^2 with respect to x?", "x\n2x\nx^2\n2", "math")
    assert "Predicted difficulty" in text and "harder than" in text
    assert "similar" in text and len(table) == 5
    assert table["similarity"].is_monotonic_decreasing
    assert figure is not None and figure.axes[0].get_xlabel().startswith("IRT difficulty")


def test_generate_tab_says_when_no_generator_is_available(app, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_EVAL_GENERATOR", str(tmp_path))  # an empty folder
    monkeypatch.delitem(app._cache, "generator", raising=False)
    text, table = app.generate_questions(0.5, "math", 1)
    assert "Question generator not available" in text, text
    assert "predicted difficulty" not in text


@pytest.mark.slow
@pytest.mark.skipif(not HAS_GENERATOR, reason="no trained generator in models/question-generator")
def test_generate_tab_shows_questions_from_the_embedded_generator(app):
    text, table = app.generate_questions(0.5, "math", 1)
    assert "predicted difficulty" in text and "← key" in text, text
    assert len(table) >= 1 and set(table["checked?"]) <= {"verified", "rejected", "unchecked"}


def test_generated_items_are_shown(app, monkeypatch):
    """The tab's rendering of what ``QuestionGenerator.generate`` returns."""
    from types import SimpleNamespace

    from adaptive_eval.amortized.generator import GeneratedItem

    item = GeneratedItem("What is 6 x 7?", ["42", "36", "48", "54"], "A", 1.0, 0.83, 0.7, "math")
    # before issue 16 items had no verdict (unchecked); after it: verified True / False / None
    verified = SimpleNamespace(**vars(item) | {"verified": True, "agreement": 1.0})
    rejected = SimpleNamespace(**vars(item) | {"verified": False, "agreement": 0.25})
    unchecked = SimpleNamespace(**{k: v for k, v in vars(item).items()
                                   if k not in ("verified", "agreement")})
    items = [item, verified, rejected, unchecked]
    calls = []
    stub = SimpleNamespace(config=SimpleNamespace(best_of=4),
                           generate=lambda d, n, category: calls.append((d, n, category)) or items)
    monkeypatch.setitem(app._cache, "generator", stub)
    text, table = app.generate_questions(1.0, "math", 4)
    assert calls == [(1.0, 4, "math")]
    assert "predicted difficulty 0.83 ± 0.70" in text and "What is 6 x 7?" in text
    assert "**A.** 42 ← key" in text and "key verified" in text and "key rejected" in text
    assert list(table["checked?"]) == ["unchecked", "verified", "rejected", "unchecked"]
    assert list(table["agreement"]) == ["", 1.0, 0.25, ""]
    assert list(table.columns) == app.GENERATED_COLUMNS
    stub.generate = lambda d, n, category: []
    text, table = app.generate_questions(1.0, app.ANY, 1)
    assert "no well-formed question" in text and table.empty


@pytest.mark.slow
@needs_data
def test_local_model_answers_a_question(app):
    out = app.next_question(app.LOCAL_MODEL, "fisher", 2, 0.0)
    assert out[1] == "", out[1]
    assert "model's choice" in out[3] and "Question 1" in out[3]
    assert "No random subset" in out[2]



@pytest.mark.slow
@needs_zeroeval
def test_smollm2_answers_a_gsm8k_question_live(app):
    out = app.next_question(app.LOCAL_MODEL, "fisher", 1, 0.0, None, "gsm8k")
    run, status, summary, question, figure, history = out
    assert status == "" and run.finished == "max_items", status
    step = run.state.history[-1]
    assert step.response and "Model's reply" in question
    assert history.iloc[0]["response"] == step.response[:app.MAX_RESPONSE_SHOWN]


@needs_zeroeval
def test_gsm8k_replay_shows_free_form_columns(app):
    update, *_ = app.pick_bank("gsm8k")
    assert f"replay: {GSM8K_MODEL}" in update["choices"] and update["choices"][-1] == \
        app.LOCAL_MODEL
    outputs = list(app.run_to_end(f"replay: {GSM8K_MODEL}", "fisher", 20, 0.0, None, "gsm8k"))
    run, status, summary, question, figure, history = outputs[-1]
    assert status == "" and run.finished == "max_items" and run.free_form
    assert "1,319 GSM8K questions" in summary and "True accuracy" in summary
    assert list(history.columns[-2:]) == ["response", "extracted"]
    # the shared data records correctness only, so a replay has no reply to show
    assert set(history["response"]) == {"(not recorded: correctness only)"}
    assert question.startswith("#### Question 20") and "Gold answer: `" in question
    ids = [r["question"] for r in run.rows]
    assert all(i.startswith("gsm8k-") for i in ids) and len(set(ids)) == 20
    data = app.responses("gsm8k")
    recorded = data.responses_of(GSM8K_MODEL)
    in_bank = [recorded[i] for i in app.bank("gsm8k").ids if i in recorded]
    assert run.true_accuracy == pytest.approx(np.mean(in_bank))


@needs_zeroeval
def test_live_lm_answers_free_form_with_response_and_extracted(app, tiny_lm_dir, monkeypatch):
    from adaptive_eval.examinees.hf import HFExaminee

    monkeypatch.setitem(app._cache, "local-lm",
                        HFExaminee(str(tiny_lm_dir), {}, batch_size=1, max_new_tokens=24))
    run = None
    for n in (1, 2):
        run, status, summary, question, figure, history = app.next_question(
            app.LOCAL_MODEL, "fisher", 2, 0.0, run, "gsm8k")
        assert status == "" and run.state.n_items == n
    step = run.state.history[-1]
    assert step.response  # a random-weight model still writes something
    assert history.iloc[0]["response"] == step.response[:app.MAX_RESPONSE_SHOWN]
    assert history.iloc[0]["extracted"] == (step.extracted if step.extracted is not None
                                            else "(none)")
    assert "Model's reply:" in question and "Gold answer" in question
    assert "No random subset" in summary


def test_pick_bank_lists_models_and_says_what_cannot_be_done(app, monkeypatch):
    update, run, status, *_ = app.pick_bank("metabench-arc")  # 3,424 calibration models
    models = update["choices"][:-1]
    assert len(models) == app.MAX_MODELS_LISTED and update["value"] == update["choices"][0]
    abilities = app.bank("metabench-arc").abilities
    thetas = [abilities[m.split(": ", 1)[1]]["theta"] for m in models]
    assert thetas == sorted(thetas, reverse=True)  # strongest first, spread over the range
    assert thetas[0] == max(a["theta"] for a in abilities.values())
    out = app.next_question(app.LOCAL_MODEL, "fisher", 2, 0.0, None, "metabench-arc")
    if (DATA / "metabench" / "items.csv.gz").is_file():
        assert "only its recorded models can be replayed" in out[1]  # metabench: no gold answers
    else:
        assert "Question text for bank metabench-arc not found" in out[1]
    labels = dict((name, label) for label, name in app.bank_choices())
    assert list(labels) == list(app.CATALOG) and "GSM8K (numeric" in labels["gsm8k"]
    monkeypatch.setattr(app, "local_folder", lambda name: None)
    assert "Hub only" in app.bank_choices()[0][0]


@needs_zeroeval
def test_suite_replay(app):
    models = app.suite_models(app.DEFAULT_SUITE)
    assert f"replay: {GSM8K_MODEL}" in models
    summary, figure, history = app.run_suite(app.DEFAULT_SUITE, f"replay: {GSM8K_MODEL}", 30)
    assert summary.startswith("**Suite accuracy") and "from 30 questions" in summary
    for name in app.DEFAULT_SUITE:
        assert f"| {name} |" in summary
    assert len(figure.axes) == len(app.DEFAULT_SUITE) + 1
    assert len(history) == 30 and set(history["bank"]) <= set(app.DEFAULT_SUITE)
    assert list(history["#"])[:2] == [30, 29] and history["question"].is_unique


def test_suite_without_data_is_simulated_and_bad_choices_are_said(app, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_EVAL_DATA", str(tmp_path))
    models = app.suite_models(["gsm8k", "cruxeval"])
    assert models and all(m.startswith("simulated: ") for m in models)
    summary, figure, history = app.run_suite(["gsm8k", "cruxeval"], models[0], 12)
    assert "on all its simulated answers" in summary and len(history) == 12
    update, message = app.pick_suite_banks(["mmlu-pro", "metabench-arc"])
    assert update["choices"] == [] and "No model is calibrated on all" in message
    assert "at least one bank" in app.run_suite([], models[0], 10)[0]
    assert "not calibrated on every bank" in app.run_suite(["mmlu-pro"], models[0], 10)[0]
    assert "between 1 and" in app.run_suite(["gsm8k"], models[0], 0)[0]


def test_build_app_has_ids_and_a_queue(app):
    demo = app.build_app()
    ids = {c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    for name in ("cat-bank", "cat-model", "cat-next", "cat-run", "cat-plot", "cat-summary",
                 "cat-status",
                 "difficulty-question", "difficulty-button", "difficulty-plot",
                 "difficulty-similar", "generate-button", "generate-output", "generate-table",
                 "suite-banks", "suite-model", "suite-run", "suite-summary", "suite-plot"):
        assert name in ids
    assert demo._queue.max_size == 32  # concurrent users wait in the queue


# ---- the page in headless Chromium -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(app_env, tiny_lm_dir, tmp_path_factory):
    """The Space in a subprocess; its live LM is the tiny random-weight Llama (fast)."""
    port = free_port()
    env = dict(os.environ, **app_env, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               ADAPTIVE_EVAL_LOCAL_MODEL=str(tiny_lm_dir))
    log = tmp_path_factory.mktemp("space") / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "space" / "app.py")], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail(f"the app did not answer on {url}:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def launch_chromium(p):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y "
                    "chromium); the browser test drives it with playwright")
    SHOTS.mkdir(parents=True, exist_ok=True)
    return p.chromium.launch(executable_path=str(CHROMIUM), args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"])


def pick(page, elem_id: str, typed: str, option: str) -> None:
    """Choose ``option`` in the dropdown ``elem_id``, typing ``typed`` to filter its list."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(typed)  # filters the list; pressing Enter could race the filter
    page.get_by_role("option", name=option, exact=True).click()


@pytest.mark.slow  # 223 s on the shared 2 cores: the Difficulty and Generate tabs' models
@pytest.mark.browser
@needs_data
def test_the_page_in_chromium(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        try:
            page.goto(server)
            # adaptive evaluation of a replayed model, to the end
            model = page.locator("#cat-model input")
            model.click()
            model.fill("Yi-34B")  # filters the list; pressing Enter could race the filter
            page.get_by_role("option", name="replay: Yi-34B", exact=True).click()
            expect(model).to_have_value("replay: Yi-34B")
            page.locator("#cat-max-items input").fill("40")
            page.locator("#cat-target-se input").fill("0.2")
            page.locator("#cat-run").click()
            expect(page.locator("#cat-summary")).to_contain_text("Finished", timeout=60_000)
            expect(page.locator("#cat-summary")).to_contain_text("True accuracy")
            expect(page.locator("#cat-plot img")).to_be_visible()
            expect(page.locator("#cat-question")).to_contain_text("Question")
            assert "Yi-34B" in page.locator("#cat-model input").input_value()
            page.screenshot(path=str(SHOTS / "adaptive.png"), full_page=True)
            # impossible settings: a message, no stack trace
            page.locator("#cat-max-items input").fill("0")
            page.locator("#cat-next").click()
            expect(page.locator("#cat-status")).to_contain_text("Max items must be between 1")
            page.screenshot(path=str(SHOTS / "adaptive-bad-input.png"), full_page=True)
            # difficulty
            page.get_by_role("tab", name="Difficulty").click()
            page.locator("#difficulty-button").click()  # empty text
            expect(page.locator("#difficulty-result")).to_contain_text("Enter a question",
                                                                       timeout=30_000)
            page.locator("#difficulty-question textarea").fill(
                "Which of the following is a prime number?")
            page.locator("#difficulty-options textarea").fill("21\n27\n29\n33")
            page.locator("#difficulty-button").click()
            expect(page.locator("#difficulty-result")).to_contain_text("Predicted difficulty",
                                                                       timeout=120_000)
            expect(page.locator("#difficulty-plot img")).to_be_visible()
            expect(page.locator("#difficulty-similar")).to_contain_text("similarity")
            page.screenshot(path=str(SHOTS / "difficulty.png"), full_page=True)
            page.locator("#difficulty-question textarea").fill("x" * 5001)
            page.locator("#difficulty-button").click()
            expect(page.locator("#difficulty-result")).to_contain_text("too long")
            # generate
            page.get_by_role("tab", name="Generate").click()
            page.locator("#generate-button").click()
            expected = "predicted difficulty" if HAS_GENERATOR else "generator not available"
            expect(page.locator("#generate-output")).to_contain_text(expected, timeout=300_000)
            page.screenshot(path=str(SHOTS / "generate.png"), full_page=True)
            assert "Traceback" not in page.content()
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()


@pytest.mark.browser
@needs_zeroeval
def test_gsm8k_replay_and_live_free_form_in_chromium(server, tiny_lm_dir):
    """A visitor picks the GSM8K bank, replays a recorded model to the end, then lets the live LM
    (here the tiny random-weight Llama) answer: the history shows its reply and the extraction;
    then runs a suite of the four ZeroEval banks."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        try:
            page.goto(server)
            pick(page, "cat-bank", "gsm8k", "gsm8k: GSM8K (numeric)")
            model = page.locator("#cat-model input")
            expect(model).to_have_value("replay: Llama-3.1-405B-Inst-fp8@together")  # strongest
            pick(page, "cat-model", GSM8K_MODEL, f"replay: {GSM8K_MODEL}")
            expect(model).to_have_value(f"replay: {GSM8K_MODEL}")
            page.locator("#cat-max-items input").fill("15")
            page.locator("#cat-target-se input").fill("0")
            page.locator("#cat-run").click()
            summary, history = page.locator("#cat-summary"), page.locator("#cat-history")
            expect(summary).to_contain_text("Finished", timeout=60_000)
            expect(summary).to_contain_text("1,319 GSM8K questions")
            expect(summary).to_contain_text("True accuracy")
            expect(page.locator("#cat-plot img")).to_be_visible()
            expect(page.locator("#cat-question")).to_contain_text("Gold answer")
            for text in ("response", "extracted", "gsm8k-main-test-",
                         "(not recorded: correctness only)"):
                expect(history).to_contain_text(text)
            page.screenshot(path=str(SHOTS / "gsm8k-replay.png"), full_page=True)
            pick(page, "cat-model", "live", f"live: {tiny_lm_dir.name} (local LM, slow)")
            page.locator("#cat-next").click()
            expect(summary).to_contain_text("Running: 1 of at most 15", timeout=120_000)
            expect(page.locator("#cat-question")).to_contain_text("Model's reply")
            expect(page.locator("#cat-status")).to_have_text("")
            assert "(not recorded" not in history.inner_text()  # a new test: live rows only
            expect(history.locator("tbody tr")).to_have_count(1)
            reply = page.locator("#cat-question pre").inner_text().strip()
            assert reply and reply[:30] in history.inner_text()  # the raw response column
            shown = page.locator("#cat-question").inner_text()
            found = re.search(r"Extracted answer: (\S+)", shown)
            extracted = found.group(1) if found else "(none)"
            expect(history.locator("tbody tr td").filter(has_text=extracted)).not_to_have_count(0)
            page.screenshot(path=str(SHOTS / "gsm8k-live.png"), full_page=True)
            # a suite of the four ZeroEval banks, replayed
            page.get_by_role("tab", name="Suite").click()
            page.locator("#suite-max-items input").fill("24")
            page.locator("#suite-run").click()
            expect(page.locator("#suite-summary")).to_contain_text("from 24 questions",
                                                                   timeout=60_000)
            expect(page.locator("#suite-plot img")).to_be_visible()
            expect(page.locator("#suite-history")).to_contain_text("cruxeval")
            page.screenshot(path=str(SHOTS / "suite.png"), full_page=True)
            assert "Traceback" not in page.content()
        except Exception:
            page.screenshot(path=str(SHOTS / "gsm8k-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
