"""The Gradio Space (space/): its modules' functions called directly.

The page itself, served and driven in headless Chromium: tests/test_space_page.py; the fixtures
both use: tests/space_helpers.py.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest
from huggingface_hub import constants as hf_constants
from space_helpers import (  # noqa: F401 (fixtures)
    DATA,
    GSM8K_MODEL,
    HAS_GENERATOR,
    ROOT,
    app_env_fixture,
    needs_data,
    needs_zeroeval,
    tiny_lm_dir_fixture,
    tiny_predictor_dir_fixture,
)

SPACE_MODULES = ("resources", "choices", "views", "evaluation", "suite", "difficulty",
                 "generation", "app")


def load_space() -> SimpleNamespace:
    """The Space's modules, each by its name, imported as ``python app.py`` in its folder does:
    top-level modules found beside app.py (the caller puts ``space/`` on ``sys.path``)."""
    return SimpleNamespace(**{name: importlib.import_module(name) for name in SPACE_MODULES})


@pytest.fixture(scope="session")
def space(app_env) -> SimpleNamespace:
    """The Space's modules (``space.evaluation.next_question``, ...), loaded with ``app_env``."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in app_env.items():
            mp.setenv(key, value)
        mp.syspath_prepend(str(ROOT / "space"))
        yield load_space()


# ---- the functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_items", "target_se", "message"),
    [(0, 0.3, "between 1 and"), (2.5, 0.3, "whole number"), (50, -1, "Target SE"),
     ("x", 0.3, "numbers"), (10**6, 0.3, "between 1 and"), (50, float("nan"), "Target SE")],
)
def test_impossible_settings_are_refused(space, max_items, target_se, message):
    with pytest.raises(space.resources.UserError, match=message):
        space.evaluation.check_settings(max_items, target_se)
    out = space.evaluation.next_question("replay: anything", "fisher", max_items, target_se)
    assert out[0] is None and message in out[1]  # state, status


def test_bad_text_is_refused(space):
    for question, options, message in [("", "", "Enter a question"), ("   ", "a", "Enter"),
                                       ("x" * 5001, "", "too long"),
                                       ("q", "\n".join(["o"] * 27), "At most 26")]:
        with pytest.raises(space.resources.UserError, match=message):
            space.difficulty.predictor_input(question, options)
        text, plot, table = space.difficulty.predict_difficulty(question, options)
        assert message in text and plot is None and table.empty
    assert space.difficulty.predictor_input(" Why? ", "yes\n\nno\n") == "Why?\nA. yes\nB. no"


def test_bad_generate_input_is_refused(space):
    assert "between -6 and 6" in space.generation.generate_questions(float("nan"))[0]
    text, table = space.generation.generate_questions(0.0, n=0)
    assert "1 to 8" in text and table.empty


def test_missing_data_is_said_in_the_page(space, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_EVAL_DATA", str(tmp_path))
    monkeypatch.setattr(space.resources, "_cache", {})
    choices = space.choices.examinee_choices()
    assert choices[-1] == space.choices.LOCAL_MODEL and len(choices) == 24
    assert all(c.startswith("simulated: ") for c in choices[:-1])
    out = space.evaluation.next_question("replay: Yi-34B", "fisher", 5, 0.3)
    assert "Recorded answers not found" in out[1] and str(tmp_path) in out[1]
    with pytest.raises(space.resources.UserError, match="responses.csv.gz"):
        space.resources.responses()
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)  # nor the bank's Hub dataset
    out = space.evaluation.next_question(space.choices.LOCAL_MODEL, "fisher", 2, 0,
                                         bank_name="gsm8k")
    assert "Question text for bank gsm8k not found" in out[1]
    assert "yuchenlin/zero-eval" in out[1] and "--items FILE" in out[1]
    assert "local-lm" not in space.resources._cache  # no LM loaded for a bank it cannot answer


def test_without_data_recorded_models_answer_simulated(space, tmp_path, monkeypatch):
    """No shared data (a deployed Space): answers drawn from the model's calibrated ability."""
    monkeypatch.setenv("ADAPTIVE_EVAL_DATA", str(tmp_path))
    monkeypatch.setattr(space.resources, "_cache", {})
    update, run, status, summary, *_ = space.evaluation.pick_bank("gsm8k")
    assert "simulated answers" in status and run is None
    model = "gemma-2-9b-it"
    assert f"simulated: {model}" in update["choices"]
    outputs = list(space.evaluation.run_to_end(f"simulated: {model}", "fisher", 25, 0.0, None,
                                               "gsm8k"))
    run, status, summary, question, figure, history = outputs[-1]
    assert status == "" and len(run.rows) == 25 and "Simulated answers" in summary
    bank = space.resources.bank("gsm8k")
    expected = float(bank.mean_probability(bank.abilities[model]["theta"]))
    assert run.true_accuracy == pytest.approx(expected, abs=0.04)  # 1,319 Bernoulli draws
    again = space.resources.simulated_responses(bank, model, seed=0).responses_of(model)
    assert np.mean(list(again.values())) == run.true_accuracy  # seeded: the same draws
    assert abs(run.rows[-1]["predicted accuracy"] - expected) < 0.15
    assert list(history.columns[-2:]) == ["response", "extracted"]
    assert "question text not available here" in question  # no items file, no text


@needs_data
def test_replay_runs_to_the_end_with_the_comparison(space):
    model = "Yi-34B"
    outputs = list(space.evaluation.run_to_end(f"replay: {model}", "Maximum Fisher information",
                                               30, 0.0))
    run, status, summary, question, figure, history = outputs[-1]
    assert status == "" and run.finished == "max_items" and len(run.rows) == 30
    assert "Finished" in summary and "Predicted accuracy" in summary
    assert "Random subset of 30" in summary and "True accuracy" in summary
    assert "Question 30" in question and "← key" in question
    assert len(history) == 30 and list(history["#"])[:2] == [30, 29]
    assert len(figure.axes) == 2 and figure.axes[1].get_legend() is not None
    # the true accuracy is the mean of all the model's recorded answers
    data = space.resources.responses()
    answers = np.array(list(data.responses_of(model).values()))
    assert run.true_accuracy == pytest.approx(answers.mean())
    last = run.rows[-1]
    assert last["lo"] <= last["predicted accuracy"] <= last["hi"]
    assert abs(last["predicted accuracy"] - run.true_accuracy) < 0.15
    random_mean = np.mean(run.random_answers[:30])
    assert last["random-subset accuracy"] == pytest.approx(random_mean, abs=1e-3)


@needs_data
def test_step_by_step_and_restart_on_new_settings(space):
    out = space.evaluation.next_question("replay: gemma-7b", "kl", 3, 0.0)
    run = out[0]
    assert run.state.n_items == 1 and "Running: 1 of at most 3" in out[2]
    for n in (2, 3):
        out = space.evaluation.next_question("replay: gemma-7b", "kl", 3, 0.0, run)
        assert out[0] is run and run.state.n_items == n
    assert run.finished == "max_items" and "Finished" in out[2]
    # a new rule: a new test
    out = space.evaluation.next_question("replay: gemma-7b", "random", 3, 0.0, run)
    assert out[0] is not run and out[0].state.n_items == 1
    assert space.evaluation.reset_run()[0] is None


@needs_data
def test_difficulty_prediction_with_similar_questions(space):
    text, figure, table = space.difficulty.predict_difficulty(
        "What is the derivative of x^2 with respect to x?", "x\n2x\nx^2\n2", "math")
    assert "Predicted difficulty" in text and "harder than" in text
    assert "similar" in text and len(table) == 5
    assert table["similarity"].is_monotonic_decreasing
    assert figure is not None and figure.axes[0].get_xlabel().startswith("IRT difficulty")


def test_generate_tab_says_when_no_generator_is_available(space, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_EVAL_GENERATOR", str(tmp_path))  # an empty folder
    monkeypatch.delitem(space.resources._cache, "generator", raising=False)
    text, table = space.generation.generate_questions(0.5, "math", 1)
    assert "Question generator not available" in text, text
    assert "predicted difficulty" not in text


@pytest.mark.slow
@pytest.mark.skipif(not HAS_GENERATOR, reason="no trained generator in models/question-generator")
def test_generate_tab_shows_questions_from_the_embedded_generator(space):
    text, table = space.generation.generate_questions(0.5, "math", 1)
    assert "predicted difficulty" in text and "← key" in text, text
    assert len(table) >= 1 and set(table["checked?"]) <= {"verified", "rejected", "unchecked"}


def test_generated_items_are_shown(space, monkeypatch):
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
    monkeypatch.setitem(space.resources._cache, "generator", stub)
    text, table = space.generation.generate_questions(1.0, "math", 4)
    assert calls == [(1.0, 4, "math")]
    assert "predicted difficulty 0.83 ± 0.70" in text and "What is 6 x 7?" in text
    assert "**A.** 42 ← key" in text and "key verified" in text and "key rejected" in text
    assert list(table["checked?"]) == ["unchecked", "verified", "rejected", "unchecked"]
    assert list(table["agreement"]) == ["", 1.0, 0.25, ""]
    assert list(table.columns) == space.views.GENERATED_COLUMNS
    stub.generate = lambda d, n, category: []
    text, table = space.generation.generate_questions(1.0, space.choices.ANY, 1)
    assert "no well-formed question" in text and table.empty


@pytest.mark.slow
@needs_data
def test_local_model_answers_a_question(space):
    out = space.evaluation.next_question(space.choices.LOCAL_MODEL, "fisher", 2, 0.0)
    assert out[1] == "", out[1]
    assert "model's choice" in out[3] and "Question 1" in out[3]
    assert "No random subset" in out[2]



@pytest.mark.slow
@needs_zeroeval
def test_smollm2_answers_a_gsm8k_question_live(space):
    out = space.evaluation.next_question(space.choices.LOCAL_MODEL, "fisher", 1, 0.0, None, "gsm8k")
    run, status, summary, question, figure, history = out
    assert status == "" and run.finished == "max_items", status
    step = run.state.history[-1]
    assert step.response and "Model's reply" in question
    assert history.iloc[0]["response"] == step.response[:space.views.MAX_RESPONSE_SHOWN]


@needs_zeroeval
def test_gsm8k_replay_shows_free_form_columns(space):
    update, *_ = space.evaluation.pick_bank("gsm8k")
    assert f"replay: {GSM8K_MODEL}" in update["choices"] and update["choices"][-1] == \
        space.choices.LOCAL_MODEL
    outputs = list(space.evaluation.run_to_end(f"replay: {GSM8K_MODEL}", "fisher", 20, 0.0, None,
                                               "gsm8k"))
    run, status, summary, question, figure, history = outputs[-1]
    assert status == "" and run.finished == "max_items" and run.free_form
    assert "1,319 GSM8K questions" in summary and "True accuracy" in summary
    assert list(history.columns[-2:]) == ["response", "extracted"]
    # the shared data records correctness only, so a replay has no reply to show
    assert set(history["response"]) == {"(not recorded: correctness only)"}
    assert question.startswith("#### Question 20") and "Gold answer: `" in question
    ids = [r["question"] for r in run.rows]
    assert all(i.startswith("gsm8k-") for i in ids) and len(set(ids)) == 20
    data = space.resources.responses("gsm8k")
    recorded = data.responses_of(GSM8K_MODEL)
    in_bank = [recorded[i] for i in space.resources.bank("gsm8k").ids if i in recorded]
    assert run.true_accuracy == pytest.approx(np.mean(in_bank))


@needs_zeroeval
def test_live_lm_answers_free_form_with_response_and_extracted(space, tiny_lm_dir, monkeypatch):
    from adaptive_eval.examinees.hf import HFExaminee

    monkeypatch.setitem(space.resources._cache, "local-lm",
                        HFExaminee(str(tiny_lm_dir), {}, batch_size=1, max_new_tokens=24))
    run = None
    for n in (1, 2):
        run, status, summary, question, figure, history = space.evaluation.next_question(
            space.choices.LOCAL_MODEL, "fisher", 2, 0.0, run, "gsm8k")
        assert status == "" and run.state.n_items == n
    step = run.state.history[-1]
    assert step.response  # a random-weight model still writes something
    assert history.iloc[0]["response"] == step.response[:space.views.MAX_RESPONSE_SHOWN]
    assert history.iloc[0]["extracted"] == (step.extracted if step.extracted is not None
                                            else "(none)")
    assert "Model's reply:" in question and "Gold answer" in question
    assert "No random subset" in summary


def test_pick_bank_lists_models_and_says_what_cannot_be_done(space, monkeypatch):
    # 3,424 calibration models
    update, run, status, *_ = space.evaluation.pick_bank("metabench-arc")
    models = update["choices"][:-1]
    assert len(models) == space.choices.MAX_MODELS_LISTED
    assert update["value"] == update["choices"][0]
    abilities = space.resources.bank("metabench-arc").abilities
    thetas = [abilities[m.split(": ", 1)[1]]["theta"] for m in models]
    assert thetas == sorted(thetas, reverse=True)  # strongest first, spread over the range
    assert thetas[0] == max(a["theta"] for a in abilities.values())
    out = space.evaluation.next_question(space.choices.LOCAL_MODEL, "fisher", 2, 0.0, None,
                                         "metabench-arc")
    if (DATA / "metabench" / "items.csv.gz").is_file():
        assert "only its recorded models can be replayed" in out[1]  # metabench: no gold answers
    else:
        assert "Question text for bank metabench-arc not found" in out[1]
    labels = dict((name, label) for label, name in space.choices.bank_choices())
    assert list(labels) == list(space.choices.CATALOG) and "GSM8K (numeric" in labels["gsm8k"]
    monkeypatch.setattr(space.choices, "local_folder", lambda name: None)
    assert "Hub only" in space.choices.bank_choices()[0][0]


@needs_zeroeval
def test_suite_replay(space):
    models = space.choices.suite_models(space.choices.DEFAULT_SUITE)
    assert f"replay: {GSM8K_MODEL}" in models
    summary, figure, history = space.suite.run_suite(space.choices.DEFAULT_SUITE,
                                                     f"replay: {GSM8K_MODEL}", 30)
    assert summary.startswith("**Suite accuracy") and "from 30 questions" in summary
    for name in space.choices.DEFAULT_SUITE:
        assert f"| {name} |" in summary
    assert len(figure.axes) == len(space.choices.DEFAULT_SUITE) + 1
    assert len(history) == 30 and set(history["bank"]) <= set(space.choices.DEFAULT_SUITE)
    assert list(history["#"])[:2] == [30, 29] and history["question"].is_unique


def test_suite_without_data_is_simulated_and_bad_choices_are_said(space, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTIVE_EVAL_DATA", str(tmp_path))
    models = space.choices.suite_models(["gsm8k", "cruxeval"])
    assert models and all(m.startswith("simulated: ") for m in models)
    summary, figure, history = space.suite.run_suite(["gsm8k", "cruxeval"], models[0], 12)
    assert "on all its simulated answers" in summary and len(history) == 12
    update, message = space.suite.pick_suite_banks(["mmlu-pro", "metabench-arc"])
    assert update["choices"] == [] and "No model is calibrated on all" in message
    assert "at least one bank" in space.suite.run_suite([], models[0], 10)[0]
    assert "not calibrated on every bank" in space.suite.run_suite(["mmlu-pro"], models[0], 10)[0]
    assert "between 1 and" in space.suite.run_suite(["gsm8k"], models[0], 0)[0]


def test_build_app_has_ids_and_a_queue(space):
    demo = space.app.build_app()
    ids = {c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    for name in ("cat-bank", "cat-model", "cat-next", "cat-run", "cat-plot", "cat-summary",
                 "cat-status",
                 "difficulty-question", "difficulty-button", "difficulty-plot",
                 "difficulty-similar", "generate-button", "generate-output", "generate-table",
                 "suite-banks", "suite-model", "suite-run", "suite-summary", "suite-plot"):
        assert name in ids
    assert demo._queue.max_size == 32  # concurrent users wait in the queue
