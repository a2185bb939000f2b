"""What the page shows: the markdown, figures and tables of each tab, from the package's results.

Nothing here runs a test or loads a model; each function turns what a handler has (a run's
rows, a ``SuiteResult``, generated items, a predicted difficulty) into something gradio shows.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
from adaptive_eval.banks.catalog import CATALOG
from adaptive_eval.banks.questions import LETTERS
from adaptive_eval.cat.plotting import trajectory_figure
from choices import REPLAY, SIMULATED
from matplotlib.figure import Figure

MAX_RESPONSE_SHOWN = 400  # characters of a free-form reply in the history table
HISTORY_COLUMNS = ["#", "question", "category", "difficulty b", "answer", "theta", "SE",
                   "predicted accuracy"]
SUITE_COLUMNS = ["#", "bank", "question", "answer", "theta", "SE"]
SIMILAR_COLUMNS = ["similarity", "difficulty b", "category", "question"]
GENERATED_COLUMNS = ["#", "question", "key", "predicted difficulty", "checked?", "agreement"]
CHECKED = {True: "verified", False: "rejected", None: "unchecked"}
PROGRESS = gr.Progress()  # the handlers' default: gradio passes a tracked one to them


def warn(message: str) -> str:
    """Show ``message`` as a toast and return it for the tab's status line."""
    gr.Warning(message)
    return f"⚠️ {message}"


# ---- adaptive evaluation ----------------------------------------------------------------------


def question_markdown(k: int, qid: str, question, correct: int, answer, category: str | None,
                      b: float) -> str:
    """The question just asked: its text, options (key and the live LM's choice marked) or gold
    answer, and for a live free-form answer the reply and what was extracted from it."""
    verdict = "**correct**" if correct else "**wrong**"
    head = f"#### Question {k} · id {qid} · {category or 'no category'} · difficulty b = {b:.2f}"
    if question is None:
        return f"{head}\n\n_(question text not available here)_\n\nThe answer was {verdict}."
    lines = [head, "", question.text.strip(), ""]
    if question.free_form:
        lines.append(f"Gold answer: `{question.answer}` ({question.answer_type})")
        if answer is not None:
            reply = (answer.response or "").strip()[:MAX_RESPONSE_SHOWN]
            lines += ["", "Model's reply:", "", "```", reply, "```",
                      f"Extracted answer: `{answer.extracted}`" if answer.extracted is not None
                      else "No answer could be extracted from the reply."]
    else:
        chosen = LETTERS.index(answer.extracted) if answer is not None else None
        for i, option in enumerate(question.options):
            mark = " ← key" if i == question.answer_index else ""
            mark += " ← model's choice" if chosen == i else ""
            lines.append(f"- **{LETTERS[i]}.** {str(option).strip()}{mark}")
    who = "The model" if answer is not None else "The model's recorded answer"
    lines += ["", f"{who} was {verdict}."]
    return "\n".join(lines)


def run_figure(run):
    """The package's trajectory plot (``trajectory_figure``), plus, for a recorded model, the
    plain mean of a random subset of the same size and its accuracy on all its answers."""
    title = f"{run.label} on {run.bank_name}" if run else "no test yet"
    fig = trajectory_figure(run.state.history if run else [], title)
    bottom = fig.axes[1]
    rnd = [r for r in (run.rows if run else []) if "random-subset accuracy" in r]
    if rnd:
        k = [r["#"] for r in rnd]
        bottom.plot(k, [r["random-subset accuracy"] for r in rnd], color="C4", ls="--",
                    label="random subset: plain mean")
        bottom.fill_between(k, [r["random lo"] for r in rnd], [r["random hi"] for r in rnd],
                            color="C4", alpha=0.1, label="its 95% interval")
    if run and run.true_accuracy is not None:
        bottom.axhline(run.true_accuracy, color="black", ls=":",
                       label="accuracy on all its answers")
    if run and run.rows:
        bottom.legend(loc="best", fontsize=8)
    return fig


def summary_markdown(run) -> str:
    """The test so far: ability, predicted accuracy, and what it compares with."""
    if run is None or not run.rows:
        return "Pick a bank and a model, then press **Next question** or **Run to end**."
    last = run.rows[-1]
    n = last["#"]
    status = (f"**Finished** ({run.finished.replace('_', ' ')}) after {n} questions."
              if run.finished else f"Running: {n} of at most {run.test.max_items} questions.")
    benchmark = CATALOG[run.bank_name].benchmark
    lines = [status, "",
             f"- Ability θ = **{last['theta']:.2f} ± {last['SE']:.2f}**",
             f"- Predicted accuracy on all {len(run.test.bank):,} {benchmark} questions: "
             f"**{last['predicted accuracy']:.3f}** "
             f"(95% interval {last['lo']:.3f}–{last['hi']:.3f})"]
    if "random-subset accuracy" in last:
        lines.append(f"- Random subset of {n}: plain mean **{last['random-subset accuracy']:.3f}** "
                     f"(95% interval {last['random lo']:.3f}–{last['random hi']:.3f})")
    if run.label.startswith(REPLAY):
        lines.append(f"- True accuracy on all {len(run.random_answers):,} recorded answers: "
                     f"**{run.true_accuracy:.3f}** (this model is one of the bank's calibration "
                     "models, so the replay is in-sample)")
    elif run.label.startswith(SIMULATED):
        model = run.label.removeprefix(SIMULATED)
        theta = run.test.bank.abilities[model]["theta"]
        lines.append(f"- **Simulated answers** (no recorded answers here): drawn from the "
                     f"model's calibrated ability θ = {theta:.2f}; their accuracy on all "
                     f"{len(run.random_answers):,} questions: **{run.true_accuracy:.3f}**")
    else:
        lines.append("- No random subset or true accuracy for the live LM: that would mean "
                     "asking it thousands more questions on this CPU.")
    return "\n".join(lines)


def history_frame(run) -> pd.DataFrame:
    """The questions asked, latest first; a free-form bank adds the raw ``response`` and the
    ``extracted`` answer."""
    columns = HISTORY_COLUMNS + (["response", "extracted"] if run is not None and run.free_form
                                 else [])
    if run is None or not run.rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(run.rows)[columns].iloc[::-1]


# ---- suite ------------------------------------------------------------------------------------


def suite_markdown(result, truth: dict[str, float], kind: str) -> str:
    """A ``SuiteResult`` beside the model's accuracy on all its answers per bank (``truth``)."""
    lo, hi = result.suite_accuracy_interval
    lines = [f"**Suite accuracy {result.suite_accuracy:.3f}** (95% interval {lo:.3f}–{hi:.3f})"
             f" from {result.n_items} questions; on all its {kind}: "
             f"**{np.mean(list(truth.values())):.3f}**", "",
             "| bank | questions | predicted accuracy | 95% interval | on all its answers |",
             "|---|---|---|---|---|"]
    for name, r in result.banks.items():
        blo, bhi = r.expected_accuracy_interval
        lines.append(f"| {name} | {r.n_items} | {r.expected_accuracy:.3f} | "
                     f"{blo:.3f}–{bhi:.3f} | {truth[name]:.3f} |")
    return "\n".join(lines)


def suite_frame(result=None) -> pd.DataFrame:
    """A suite's questions, latest first."""
    rows = [{"#": k, "bank": name, "question": step.question_id,
             "answer": "correct" if step.correct else "wrong", "theta": round(step.theta, 3),
             "SE": round(step.se, 3)}
            for k, (name, step) in enumerate(result.history if result else [], 1)]
    return pd.DataFrame(rows, columns=SUITE_COLUMNS).iloc[::-1]


# ---- difficulty -------------------------------------------------------------------------------


def difficulty_figure(b: float, se: float, values: np.ndarray):
    """``b +/- se`` over the histogram of the bank's difficulties ``values``."""
    fig = Figure(figsize=(8, 3.2))  # no pyplot: nothing kept after the page has it
    ax = fig.subplots()
    ax.hist(values, bins=80, color="C0", alpha=0.6, label=f"{len(values):,} calibrated questions")
    ax.axvspan(b - se, b + se, color="C3", alpha=0.15, label="± SE")
    ax.axvline(b, color="C3", lw=2, label=f"this question: b = {b:.2f}")
    ax.set_xlabel("IRT difficulty b (higher is harder)")
    ax.set_ylabel("questions")
    ax.set_title(f"b = {b:.2f} ± {se:.2f} among the bank's difficulties")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return fig


def similar_frame(rows: list[dict] | None = None) -> pd.DataFrame:
    return pd.DataFrame(rows or [], columns=SIMILAR_COLUMNS)


# ---- generate ---------------------------------------------------------------------------------


def checked(item) -> str:
    """Whether a solver checked a generated item's key: ``verified`` (the solvers agreed with
    it), ``rejected`` (they did not) or ``unchecked`` (``verified`` None or absent)."""
    return CHECKED[getattr(item, "verified", None)]


def generated_frame(items) -> pd.DataFrame:
    """One row per generated item, with its ``checked?`` verdict and the solvers' agreement."""
    rows = [{"#": k, "question": item.question[:200], "key": item.answer,
             "predicted difficulty": round(item.predicted_difficulty, 2),
             "checked?": checked(item),
             "agreement": "" if getattr(item, "agreement", None) is None
             else round(item.agreement, 2)}
            for k, item in enumerate(items, start=1)]
    return pd.DataFrame(rows, columns=GENERATED_COLUMNS)


def generated_markdown(difficulty: float, items) -> str:
    """The generated questions, their options (key marked) and verdicts."""
    parts = [f"Target difficulty **{difficulty:.1f}**; {len(items)} question(s):"]
    for k, item in enumerate(items, start=1):
        options = "\n".join(f"- **{LETTERS[i]}.** {o}" + (" ← key" if LETTERS[i] == item.answer
                                                           else "")
                            for i, o in enumerate(item.options))
        se = f" ± {item.predicted_se:.2f}" if item.predicted_se is not None else ""
        parts.append(f"#### {k}. {item.category or ''} · predicted difficulty "
                     f"{item.predicted_difficulty:.2f}{se} · key {checked(item)}"
                     f"\n\n{item.question}\n\n{options}")
    return "\n\n".join(parts)
