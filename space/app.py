"""Gradio Space for adaptive-eval: watch an adaptive evaluation, predict and generate questions.

Four tabs, all on the package (no model code here); this module is the layout and its wiring,
the handlers are in the modules beside it:

- Adaptive evaluation (``evaluation.py``): pick any named bank
  (``adaptive_eval.banks.catalog.CATALOG``) and one of its calibration models, or a small local LM
  (SmolLM2-135M-Instruct) answering live; it takes a computerised adaptive test on that bank, one
  question at a time or to the end. A recorded model replays its real answers when the shared
  data is here; without it, its answers are simulated from its calibrated ability
  (``P(correct) = sigmoid(a (theta - b))`` per item, drawn once with a seeded generator) and
  labelled as simulated (``choices.py``). The plot shows ability +/- SE and the predicted
  benchmark accuracy with its 95% interval, beside the plain mean of a random subset of the same
  size and the model's accuracy on all its (recorded or simulated) answers. A free-form answer is
  shown as the raw response and the extracted answer.
- Suite (``suite.py``): one adaptive test over several chosen banks (``SuiteTest``) with a model
  calibrated on all of them (replayed or simulated as above): per-bank and suite accuracy,
  ``suite_figure``.
- Difficulty (``difficulty.py``): the predicted IRT difficulty of a pasted question, where it
  falls in the MMLU-Pro bank, and the most similar calibrated questions (among a fixed random
  sample of the bank).
- Generate (``generation.py``): questions written at a chosen difficulty by the question
  generator, each marked verified, rejected or unchecked (whether a solver checked its key).

What is loaded once (banks, answers, question text, models) and the settings that say where from:
``resources.py``; what the page shows (markdown, figures, tables): ``views.py``. Where to serve:
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (127.0.0.1:7860).

Run: ``python space/app.py`` (``make space``); a Hugging Face Space runs ``app.py`` in this folder.
"""

from __future__ import annotations

import os

import gradio as gr
import pandas as pd
from choices import ANY, DEFAULT_SUITE, bank_choices, examinee_choices, suite_models
from difficulty import predict_difficulty
from evaluation import SELECTIONS, next_question, pick_bank, reset_run, run_to_end
from generation import generate_questions
from resources import DEFAULT_BANK, bank, data_dir, has_responses
from suite import pick_suite_banks, run_suite
from views import SUITE_COLUMNS, generated_frame, history_frame, summary_markdown


def build_app() -> gr.Blocks:
    choices = examinee_choices(DEFAULT_BANK)
    categories = [ANY, *sorted(set(bank().category or []))]
    data_note = ("" if has_responses(DEFAULT_BANK) else
                 f"\n\n⚠️ No recorded answers found in `{data_dir()}`: recorded models answer "
                 "with answers simulated from their calibrated abilities (set "
                 "`ADAPTIVE_EVAL_DATA`).")
    with gr.Blocks(title="adaptive-eval") as demo:
        gr.Markdown("# adaptive-eval\nEvaluate a language model on a fraction of a benchmark: "
                    "an adaptive test picks the most informative question next, and item "
                    "response theory turns the answers into an ability and a predicted benchmark "
                    "accuracy.")
        with gr.Tab("Adaptive evaluation", elem_id="tab-adaptive"):
            gr.Markdown("Pick a benchmark's item bank, then replay one of its recorded models' "
                        "real answers (instant) or let a small local LM answer here (several "
                        "seconds a question; free-form answers show the reply and the answer "
                        "extracted from it)." + data_note)
            run_state = gr.State(None)
            with gr.Row():
                bank_name = gr.Dropdown(bank_choices(), value=DEFAULT_BANK, label="Item bank",
                                        elem_id="cat-bank")
                choice = gr.Dropdown(choices, value=choices[0], label="Model",
                                     elem_id="cat-model")
            with gr.Row():
                selection = gr.Radio(list(SELECTIONS), value=next(iter(SELECTIONS)),
                                     label="Selection rule", elem_id="cat-selection")
                max_items = gr.Number(50, label="Max items", precision=None,
                                      elem_id="cat-max-items")
                target_se = gr.Number(0.3, label="Target SE (0: off)", elem_id="cat-target-se")
            with gr.Row():
                next_button = gr.Button("Next question", elem_id="cat-next")
                run_button = gr.Button("Run to end", variant="primary", elem_id="cat-run")
                reset_button = gr.Button("Reset", elem_id="cat-reset")
            status = gr.Markdown("", elem_id="cat-status")
            with gr.Row():
                with gr.Column(scale=3):
                    plot = gr.Plot(label="Trajectory", elem_id="cat-plot")
                with gr.Column(scale=2):
                    summary = gr.Markdown(summary_markdown(None), elem_id="cat-summary")
                    question = gr.Markdown("", elem_id="cat-question")
            history = gr.Dataframe(history_frame(None), label="Questions asked (latest first)",
                                   interactive=False, wrap=True, elem_id="cat-history")
            inputs = [choice, selection, max_items, target_se, run_state, bank_name]
            outputs = [run_state, status, summary, question, plot, history]
            next_button.click(next_question, inputs, outputs, concurrency_limit=2)
            run_button.click(run_to_end, inputs, outputs, concurrency_limit=2)
            reset_button.click(reset_run, None, outputs)
            bank_name.input(pick_bank, bank_name, [choice, *outputs], concurrency_limit=2)
        with gr.Tab("Suite", elem_id="tab-suite"):
            gr.Markdown("One adaptive test over several banks with one question budget: each "
                        "next question goes to the bank where it most reduces the uncertainty of "
                        "the suite score (the mean of the banks' predicted accuracies), and a "
                        "joint prior lets an answer on one benchmark inform the others. The "
                        "models are those calibrated on every chosen bank.")
            suite_choices = suite_models(DEFAULT_SUITE)
            with gr.Row():
                s_banks = gr.Dropdown(bank_choices(), value=DEFAULT_SUITE, multiselect=True,
                                      label="Banks", elem_id="suite-banks")
                s_model = gr.Dropdown(suite_choices, value=suite_choices[0] if suite_choices
                                      else None, label="Model", elem_id="suite-model")
                s_max_items = gr.Number(60, label="Questions", precision=None,
                                        elem_id="suite-max-items")
            s_button = gr.Button("Run suite", variant="primary", elem_id="suite-run")
            s_summary = gr.Markdown("", elem_id="suite-summary")
            s_plot = gr.Plot(label="Per bank, and the suite", elem_id="suite-plot")
            s_history = gr.Dataframe(pd.DataFrame(columns=SUITE_COLUMNS),
                                     label="Questions asked (latest first)", interactive=False,
                                     elem_id="suite-history")
            s_banks.input(pick_suite_banks, s_banks, [s_model, s_summary])
            s_button.click(run_suite, [s_banks, s_model, s_max_items],
                           [s_summary, s_plot, s_history], concurrency_limit=2)
        with gr.Tab("Difficulty", elem_id="tab-difficulty"):
            gr.Markdown("Paste a multiple-choice question: the difficulty predictor gives its IRT "
                        "difficulty from the text alone.")
            with gr.Row():
                with gr.Column():
                    d_question = gr.Textbox(label="Question", lines=5,
                                            elem_id="difficulty-question")
                    d_options = gr.Textbox(label="Options (one per line, optional)", lines=4,
                                           elem_id="difficulty-options")
                    d_category = gr.Dropdown(categories, value=ANY, label="Category (optional)",
                                             elem_id="difficulty-category")
                    d_button = gr.Button("Predict difficulty", variant="primary",
                                         elem_id="difficulty-button")
                with gr.Column():
                    d_result = gr.Markdown("", elem_id="difficulty-result")
                    d_plot = gr.Plot(label="Where it falls in the bank", elem_id="difficulty-plot")
            d_similar = gr.Dataframe(label="Most similar calibrated questions", interactive=False,
                                     wrap=True, column_widths=["10%", "10%", "14%", "66%"],
                                     elem_id="difficulty-similar")
            d_button.click(predict_difficulty, [d_question, d_options, d_category],
                           [d_result, d_plot, d_similar], concurrency_limit=1)
        with gr.Tab("Generate", elem_id="tab-generate"):
            gr.Markdown("Write new questions at a chosen difficulty (a LoRA-tuned SmolLM2; "
                        "malformed and near-duplicate candidates are dropped, the rest reranked "
                        "by predicted difficulty). Each question says whether a solver checked "
                        "its key: verified, rejected or unchecked. Slow on a CPU: about a "
                        "minute.")
            with gr.Row():
                g_difficulty = gr.Slider(-3, 3, value=0.0, step=0.1, label="Difficulty b",
                                         elem_id="generate-difficulty")
                g_category = gr.Dropdown(categories, value=ANY, label="Category",
                                         elem_id="generate-category")
                g_n = gr.Slider(1, 4, value=1, step=1, label="Questions", elem_id="generate-n")
            g_button = gr.Button("Generate", variant="primary", elem_id="generate-button")
            g_table = gr.Dataframe(generated_frame([]), label="Generated questions: was the "
                                   "key checked by a solver?", interactive=False, wrap=True,
                                   elem_id="generate-table")
            g_output = gr.Markdown("", elem_id="generate-output")
            g_button.click(generate_questions, [g_difficulty, g_category, g_n],
                           [g_output, g_table], concurrency_limit=1)
    demo.queue(max_size=32, default_concurrency_limit=1)
    return demo


if __name__ == "__main__":
    build_app().launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
