"""The Suite tab's handlers: one ``SuiteTest`` over several banks with a model calibrated on all.

The model replays its recorded answers when every bank's are here, else answers drawn from its
calibrated ability on each bank (``resources.simulated_responses``); the page compares the
suite's predicted accuracies with the model's accuracy on all those answers.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
from adaptive_eval import ResponseData
from adaptive_eval.cat.plotting import suite_figure
from adaptive_eval.cat.suite import SuiteTest
from adaptive_eval.examinees import ReplayExaminee
from choices import SIMULATED, recorded_model, suite_models
from evaluation import check_settings
from resources import UserError, bank, first_line, responses, simulated_responses
from views import PROGRESS, suite_frame, suite_markdown, warn


def suite_responses(names, model: str, simulated: bool) -> ResponseData:
    """``model``'s answers to every bank of ``names`` (recorded, or simulated per bank as in
    ``simulated_responses``), as one table."""
    frames = []
    for name in names:
        the_bank = bank(name)
        data = simulated_responses(the_bank, model) if simulated else responses(name)
        answers = data.responses_of(model)
        ids = [i for i in the_bank.ids if i in answers]
        frames.append(pd.DataFrame({"model": model, "question_id": ids,
                                    "correct": [answers[i] for i in ids]}))
    return ResponseData.from_long(pd.concat(frames), source=f"{model} on {', '.join(names)}")


def run_suite(names, choice, max_items, progress=PROGRESS):
    """One adaptive test over the chosen banks (``SuiteTest``) with a recorded model:
    ``(summary, figure, history)``."""
    try:
        names = list(names or [])
        if not names:
            raise UserError("Pick at least one bank for the suite.")
        max_items, _ = check_settings(max_items, 0)
        model = recorded_model(choice)
        if model is None:
            raise UserError("Pick a model calibrated on every bank of the suite.")
        if progress:
            progress(0.1, desc="loading the banks and the answers")
        banks = {name: bank(name) for name in names}
        if any(model not in b.abilities for b in banks.values()):
            raise UserError(f"{model!r} is not calibrated on every bank of the suite.")
        simulated = choice.startswith(SIMULATED)
        data = suite_responses(names, model, simulated)
        if progress:
            progress(0.4, desc="running the suite")
        result = SuiteTest(banks, max_items=max_items, target_se=0.0).run(
            ReplayExaminee(data, model))
        answers = data.responses_of(model)
        truth = {name: np.mean([answers[q] for q in b.ids if q in answers])
                 for name, b in banks.items()}
        kind = "simulated answers" if simulated else "recorded answers"
        figure = suite_figure(result, f"{choice}: suite of {len(names)} banks")
        return suite_markdown(result, truth, kind), figure, suite_frame(result)
    except UserError as err:
        return warn(str(err)), None, suite_frame()
    except Exception as err:  # noqa: BLE001
        return warn(f"Something went wrong: {first_line(err)}"), None, suite_frame()


def pick_suite_banks(names):
    """New suite banks: the models calibrated on all of them."""
    try:
        choices = suite_models(names)
    except UserError as err:
        return gr.update(choices=[], value=None), warn(str(err))
    if not choices:
        return gr.update(choices=[], value=None), warn("No model is calibrated on all these banks.")
    return gr.update(choices=choices, value=choices[0]), ""
