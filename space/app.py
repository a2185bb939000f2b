"""Gradio Space for adaptive-eval: watch an adaptive evaluation, predict and generate questions.

Four tabs, all on the package (no model code here):

- Adaptive evaluation: pick any named bank (``adaptive_eval.banks.catalog.CATALOG``) and one of its
  calibration models, or a small local LM (SmolLM2-135M-Instruct) answering live; it takes a
  computerised adaptive test on that bank, one question at a time or to the end. A recorded model
  replays its real answers when the shared data is here; without it, its answers are simulated
  from its calibrated ability (``P(correct) = sigmoid(a (theta - b))`` per item, drawn once with a
  seeded generator) and labelled as simulated. The plot shows ability +/- SE and the predicted
  benchmark accuracy with its 95% interval, beside the plain mean of a random subset of the same
  size and the model's accuracy on all its (recorded or simulated) answers. A free-form answer is
  shown as the raw response and the extracted answer.
- Suite: one adaptive test over several chosen banks (``SuiteTest``) with a model calibrated on
  all of them (replayed or simulated as above): per-bank and suite accuracy, ``suite_figure``.
- Difficulty: the predicted IRT difficulty of a pasted question, where it falls in the MMLU-Pro
  bank, and the most similar calibrated questions (among a fixed random sample of the bank).
- Generate: questions written at a chosen difficulty by the question generator, each marked
  verified, rejected or unchecked (whether a solver checked its key).

Settings (environment variables):

- ``ADAPTIVE_EVAL_DATA``: the shared data folder, holding ``<source>/responses.csv.gz``
  (recorded answers) and ``<source>/items.csv.gz`` (question text) for each bank's source
  (``mmlu_pro``, ``zeroeval``, ``metabench``); default ``../shared/data`` next to the repository.
  Without local question text, a bank's questions come from its Hub dataset (or the HF cache).
- ``ADAPTIVE_EVAL_LOCAL_MODEL``: the live LM, a folder or Hub id (SmolLM2-135M-Instruct).
- ``ADAPTIVE_EVAL_PREDICTOR`` / ``ADAPTIVE_EVAL_GENERATOR``: a folder or Hub id instead of the
  embedded defaults.
- ``ADAPTIVE_EVAL_SIMILAR_SAMPLE``: how many bank questions the similarity search embeds (1000).
- ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``: where to serve (127.0.0.1:7860).

Run: ``python space/app.py`` (``make space``).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import gradio as gr  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from adaptive_eval import AdaptiveTest, ItemBank, ResponseData  # noqa: E402
from adaptive_eval.banks.answers import MULTIPLE_CHOICE  # noqa: E402
from adaptive_eval.banks.catalog import CATALOG, bank_info, local_folder  # noqa: E402
from adaptive_eval.banks.hub_questions import bank_questions  # noqa: E402
from adaptive_eval.banks.questions import (  # noqa: E402
    LETTERS,
    load_questions,
    question_text,
)
from adaptive_eval.cat.accuracy import wilson_interval  # noqa: E402
from adaptive_eval.cat.adaptive import TestState  # noqa: E402
from adaptive_eval.cat.plotting import suite_figure, trajectory_figure  # noqa: E402
from adaptive_eval.cat.suite import SuiteTest  # noqa: E402
from adaptive_eval.examinees import ReplayExaminee  # noqa: E402
from adaptive_eval.examinees.hf import HFExaminee
from adaptive_eval.irt.model import prob  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAX_TEXT = 5000  # characters of question + options
MAX_ITEMS_LIMIT = 500
MAX_MODELS_LISTED = 100  # a bank calibrated on more models lists this many, spread over ability
MAX_RESPONSE_SHOWN = 400  # characters of a free-form reply in the history table
LIVE_MAX_NEW_TOKENS = 160  # a live free-form reply's length bound: a CPU answers within a minute
DEFAULT_BANK = "mmlu-pro"
DEFAULT_SUITE = ["mmlu-redux", "gsm8k", "math-l5", "cruxeval"]  # ZeroEval: the same 30+ models
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
LOCAL_MODEL_ID = os.environ.get("ADAPTIVE_EVAL_LOCAL_MODEL") or SMOLLM2
LOCAL_MODEL = f"live: {LOCAL_MODEL_ID.rstrip('/').rsplit('/', 1)[-1]} (local LM, slow)"
REPLAY, SIMULATED = "replay: ", "simulated: "
SELECTIONS = {"Maximum Fisher information": "fisher", "Kullback-Leibler": "kl",
              "Random (no adaptation)": "random"}
ANY = "(any)"
PROGRESS = gr.Progress()  # gradio passes a tracked one to handlers that take it


class UserError(ValueError):
    """Bad input or missing data: shown in the page as a message."""


def data_dir() -> Path:
    default = ROOT.parent / "shared" / "data"
    return Path(os.environ.get("ADAPTIVE_EVAL_DATA") or default)


# ---- resources, loaded once on first use ------------------------------------------------------

_cache: dict[str, object] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _once(key: str, make: Callable[[], object]):
    """``make()`` once per process (thread-safe); a failure is not cached (tried again)."""
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def bank(name: str = DEFAULT_BANK) -> ItemBank:
    """The named bank: its local copy (the package's, or the repository's ``models/banks``),
    else its Hub repo; ``UserError`` when neither is reachable."""
    info = bank_info(name) if name in CATALOG else None
    if info is None:
        raise UserError(f"Unknown bank {name!r}; pick one of {', '.join(CATALOG)}.")

    def load():
        try:
            return ItemBank.load(name)
        except Exception as err:  # noqa: BLE001 - offline or not published: say so
            raise UserError(f"Bank {name} has no local copy here and could not be loaded from "
                            f"the Hub ({info.repo_id}): {first_line(err)}") from None

    return _once(f"bank:{name}", load)


def source_file(name: str, file: str) -> Path:
    """``<data>/<source>/<file>`` of bank ``name`` (e.g. ``zeroeval/responses.csv.gz``)."""
    return data_dir() / bank_info(name).source / file


def responses(name: str = DEFAULT_BANK) -> ResponseData:
    """The recorded answers of bank ``name``'s source; ``UserError`` when they are not here."""
    path = source_file(name, "responses.csv.gz")
    if not path.is_file():
        raise UserError(f"Recorded answers not found ({path}); set ADAPTIVE_EVAL_DATA to the "
                        "shared data folder to replay recorded models.")
    return _once(f"responses:{path}", lambda: ResponseData.from_file(path))


def has_responses(name: str) -> bool:
    return source_file(name, "responses.csv.gz").is_file()


def questions(name: str = DEFAULT_BANK) -> dict:
    """Question text with gold answers of bank ``name``: the local items file (its rows of this
    benchmark, read with the bank's answer type), else the bank's Hub dataset
    (``hub_questions.bank_questions``: network or the Hugging Face cache); ``UserError`` when
    there is none."""
    path = source_file(name, "items.csv.gz")
    if path.is_file():
        answer_type = bank(name).metadata.get("answer_type")
        benchmark = None if bank_info(name).prefix is None else name

        def read():
            try:
                return load_questions(path, answer_type=answer_type, benchmark=benchmark)
            except ValueError as err:
                raise UserError(f"No question text with gold answers for bank {name} "
                                f"({first_line(err)}): only its recorded models can be "
                                "replayed.") from None

        return _once(f"questions:{name}", read)
    failed = f"questions-download-failed:{name}"
    if failed in _cache:
        raise UserError(str(_cache[failed]))

    def download():
        try:
            return bank_questions(name, ids=bank(name).ids)
        except ValueError as err:  # offline, or a replay bank: remember and say so
            _cache[failed] = (f"Question text for bank {name} not found ({path}), nor from "
                              f"its Hub dataset: {err}")
            raise UserError(_cache[failed]) from None

    return _once(f"questions:{name}", download)


def try_questions(name: str = DEFAULT_BANK) -> dict | None:
    try:
        return questions(name)
    except UserError:
        return None


def predictor():
    from adaptive_eval import DifficultyPredictor

    def load():
        try:
            return DifficultyPredictor.from_pretrained(os.environ.get("ADAPTIVE_EVAL_PREDICTOR"))
        except Exception as err:  # noqa: BLE001 - any load failure: the tab says so
            raise UserError(f"Difficulty predictor not available: {first_line(err)}") from None

    return _once("predictor", load)


def generator():
    from adaptive_eval import QuestionGenerator

    def load():
        try:
            shared = predictor()  # the Difficulty tab's, when it loads
        except UserError:
            shared = None  # the generator then loads the one its config names
        try:
            return QuestionGenerator.from_pretrained(os.environ.get("ADAPTIVE_EVAL_GENERATOR"),
                                                     predictor=shared)
        except Exception as err:  # noqa: BLE001
            raise UserError(f"Question generator not available: {first_line(err)}") from None

    return _once("generator", load)


def local_lm() -> HFExaminee:
    """The live LM (``ADAPTIVE_EVAL_LOCAL_MODEL``), loaded once; each run adds its bank's
    questions to its ``questions`` (ids are unique across the banks' sources)."""

    def load():
        try:
            return HFExaminee(LOCAL_MODEL_ID, {}, batch_size=1,
                              max_new_tokens=LIVE_MAX_NEW_TOKENS)
        except Exception as err:  # noqa: BLE001
            raise UserError(f"The local model could not be loaded: {first_line(err)}") from None

    return _once("local-lm", load)


def first_line(err: BaseException) -> str:
    """One line for the page: the error's type and message (an artifact search: where it looked)."""
    tried = getattr(err, "tried", None)
    if tried:
        return "not found; tried " + "; ".join(tried)
    text = " ".join(line.strip() for line in str(err).strip().splitlines())
    return f"{type(err).__name__}: {text}"[:500]


# ---- adaptive evaluation ----------------------------------------------------------------------


def bank_choices() -> list[tuple[str, str]]:
    """``(label, name)`` for every catalogued bank; a bank with no local copy says Hub only."""
    out = []
    for name, info in CATALOG.items():
        where = "" if local_folder(name) else ", Hub only"
        out.append((f"{name}: {info.benchmark} ({info.answer_type.replace('_', ' ')}{where})",
                    name))
    return out


def recorded_models(the_bank: ItemBank) -> list[str]:
    """The bank's calibration models (``bank.abilities``), strongest first; at most
    ``MAX_MODELS_LISTED``, evenly spread over the ability ranking."""
    ranked = sorted(the_bank.abilities, key=lambda m: -the_bank.abilities[m]["theta"])
    if len(ranked) <= MAX_MODELS_LISTED:
        return ranked
    keep = np.unique(np.linspace(0, len(ranked) - 1, MAX_MODELS_LISTED).round().astype(int))
    return [ranked[k] for k in keep]


def examinee_choices(name: str = DEFAULT_BANK) -> list[str]:
    """The bank's recorded models (replayed when their answers are here, else simulated from
    their abilities), then the live LM when the bank's answers can be scored."""
    the_bank = bank(name)
    prefix = REPLAY if has_responses(name) else SIMULATED
    models = [prefix + m for m in recorded_models(the_bank)]
    return models + ([LOCAL_MODEL] if the_bank.metadata.get("answer_type") else [])


def simulated_responses(the_bank: ItemBank, model: str, seed: int = 0) -> ResponseData:
    """Answers of ``model`` to every item, drawn once from its calibrated ability:
    ``correct_i ~ Bernoulli(sigmoid(a_i (theta - b_i)))`` (seeded ``default_rng``)."""
    theta = the_bank.abilities[model]["theta"]
    draws = np.random.default_rng(seed).random(len(the_bank)) < prob(theta, the_bank.b,
                                                                     the_bank.a)
    frame = pd.DataFrame({"model": model, "question_id": the_bank.ids,
                          "correct": draws.astype(int)})
    return ResponseData.from_long(frame, source=f"simulated from {model}'s ability")


def check_settings(max_items, target_se) -> tuple[int, float]:
    """Validated ``(max_items, target_se)``; ``UserError`` says what is wrong."""
    try:
        max_items_f, target_se = float(max_items), float(target_se)
    except (TypeError, ValueError):
        raise UserError("Max items and target SE must be numbers.") from None
    if not math.isfinite(max_items_f) or max_items_f != int(max_items_f):
        raise UserError(f"Max items must be a whole number, got {max_items}.")
    if not 1 <= max_items_f <= MAX_ITEMS_LIMIT:
        raise UserError(f"Max items must be between 1 and {MAX_ITEMS_LIMIT}, "
                        f"got {int(max_items_f)}.")
    if not math.isfinite(target_se) or target_se < 0:
        raise UserError(f"Target SE must be 0 (off) or positive, got {target_se}.")
    return int(max_items_f), target_se


@dataclass
class Run:
    """One adaptive test in progress, with the random-subset comparison for a recorded model."""

    label: str
    bank_name: str
    settings: tuple
    test: AdaptiveTest
    state: TestState
    examinee: object  # answerable(ids), answer(id); the live LM: LiveLM
    random_answers: list[int] | None = None  # a recorded model's answers in a random order
    true_accuracy: float | None = None
    rows: list[dict] = field(default_factory=list)
    last_question: str = ""
    finished: str | None = None

    @property
    def free_form(self) -> bool:
        return self.test.bank.metadata.get("answer_type", MULTIPLE_CHOICE) != MULTIPLE_CHOICE


def start_run(choice: str, selection: str, max_items, target_se, seed: int = 0,
              progress: Callable | None = None, bank_name: str = DEFAULT_BANK) -> Run:
    """A fresh test of the chosen examinee on bank ``bank_name`` (``UserError`` for bad settings
    or missing data)."""
    max_items, target_se = check_settings(max_items, target_se)
    if selection not in SELECTIONS.values():
        selection = SELECTIONS.get(selection, "")
        if not selection:
            raise UserError(f"Unknown selection rule; pick one of {', '.join(SELECTIONS)}.")
    if progress:
        progress(0.1, desc=f"loading the {bank_name} item bank")
    the_bank = bank(bank_name)
    random_answers = true_accuracy = None
    if choice == LOCAL_MODEL:
        if progress:
            progress(0.3, desc="loading the question text and the local LM (first time: "
                     "converting its weights, ~1 min)")
        bank_questions = questions(bank_name)  # first: a bank without text loads no LM
        examinee = LiveLM(local_lm(), bank_questions)
    elif choice and choice.startswith((REPLAY, SIMULATED)):
        model = choice.removeprefix(REPLAY).removeprefix(SIMULATED)
        if model not in the_bank.abilities:
            raise UserError(f"{model!r} is not one of bank {bank_name}'s recorded models.")
        if progress:
            progress(0.3, desc="reading the recorded answers")
        data = (responses(bank_name) if choice.startswith(REPLAY)
                else simulated_responses(the_bank, model, seed))
        examinee = ReplayExaminee(data, model)
        recorded = np.flatnonzero(examinee.answerable(the_bank.ids))
        answers = np.array([examinee.answer(the_bank.ids[i]) for i in recorded])
        true_accuracy = float(answers.mean())
        random_answers = answers[np.random.default_rng(seed).permutation(len(answers))].tolist()
    else:
        raise UserError("Pick a model to evaluate.")
    test = AdaptiveTest(the_bank, max_items=max_items, target_se=target_se, selection=selection,
                        seed=seed)
    state = test.start(np.asarray(examinee.answerable(the_bank.ids), bool))
    if not state.available.any():
        raise UserError(f"{choice} can answer none of bank {bank_name}'s questions (no question "
                        "text?).")
    return Run(choice, bank_name, (bank_name, choice, selection, max_items, target_se), test,
               state, examinee, random_answers, true_accuracy)


class LiveLM:
    """The live LM on one bank's questions; remembers its last ``Answer`` to show it."""

    def __init__(self, lm: HFExaminee, bank_questions: dict) -> None:
        lm.questions.update(bank_questions)
        self.lm, self.name, self.bank_questions, self.last = lm, lm.name, bank_questions, None

    def answerable(self, question_ids) -> np.ndarray:
        return np.array([str(q) in self.bank_questions for q in question_ids], bool)

    def answer(self, question_id: str):
        self.last = self.lm.answer(question_id)
        return self.last


def step_run(run: Run) -> Run:
    """Ask one question (``TestState.ask``) and record the new estimates (no-op when finished)."""
    state = run.state
    if run.finished or (reason := state.stop_reason()) is not None:
        run.finished = run.finished or reason
        return run
    step = state.ask(run.examinee)
    the_bank, qid, k = run.test.bank, step.question_id, state.n_items
    b = float(the_bank.b[state.items[-1]])
    lo, hi = step.expected_accuracy_interval
    row = {"#": k, "question": qid, "category": step.category or "", "difficulty b": round(b, 2),
           "answer": "correct" if step.correct else "wrong", "theta": round(step.theta, 3),
           "SE": round(step.se, 3), "predicted accuracy": round(step.expected_accuracy, 3),
           "lo": lo, "hi": hi}
    if run.free_form:
        live = isinstance(run.examinee, LiveLM)
        row["response"] = ((step.response or "")[:MAX_RESPONSE_SHOWN] if live
                           else "(not recorded: correctness only)")
        row["extracted"] = (step.extracted if step.extracted is not None else "(none)") if live \
            else ""
    if run.random_answers is not None and k <= len(run.random_answers):
        hits = sum(run.random_answers[:k])
        row["random-subset accuracy"] = round(hits / k, 3)
        row["random lo"], row["random hi"] = wilson_interval(hits, k)
    run.rows.append(row)
    question = (try_questions(run.bank_name) or {}).get(qid)
    last = getattr(run.examinee, "last", None)
    run.last_question = question_markdown(k, qid, question, step.correct, last, step.category,
                                          b)
    run.finished = state.stop_reason()
    return run


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


def run_figure(run: Run | None):
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


def summary_markdown(run: Run | None) -> str:
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


def history_frame(run: Run | None) -> pd.DataFrame:
    """The questions asked, latest first; a free-form bank adds the raw ``response`` and the
    ``extracted`` answer."""
    columns = ["#", "question", "category", "difficulty b", "answer", "theta", "SE",
               "predicted accuracy"]
    if run is not None and run.free_form:
        columns += ["response", "extracted"]
    if run is None or not run.rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(run.rows)[columns].iloc[::-1]


def _view(run: Run | None, message: str = ""):
    """The outputs of the adaptive tab: state, status, summary, question, plot, history."""
    return (run, message, summary_markdown(run), run.last_question if run else "", run_figure(run),
            history_frame(run))


def _fresh(run: Run | None, bank_name, choice, selection, max_items, target_se,
           progress) -> Run:
    settings = (bank_name, choice, SELECTIONS.get(selection, selection),
                *check_settings(max_items, target_se))
    if run is None or run.settings != settings or run.finished:
        run = start_run(choice, selection, max_items, target_se, progress=progress,
                        bank_name=bank_name)
    return run


def next_question(choice, selection, max_items, target_se, run=None, bank_name=DEFAULT_BANK,
                  progress=PROGRESS):
    """'Next question': start (or restart after a settings change) and ask one question."""
    try:
        run = _fresh(run, bank_name, choice, selection, max_items, target_se, progress)
        if progress:
            progress(0.9, desc="asking the next question")
        return _view(step_run(run))
    except UserError as err:
        return _view(run, warn(str(err)))
    except Exception as err:  # noqa: BLE001 - never a stack trace in the page
        return _view(run, warn(f"Something went wrong: {first_line(err)}"))


def run_to_end(choice, selection, max_items, target_se, run=None, bank_name=DEFAULT_BANK,
               progress=PROGRESS):
    """'Run to end': a generator that yields the page after each question (at most ~4/s)."""
    try:
        run = _fresh(run, bank_name, choice, selection, max_items, target_se, progress)
        shown = 0.0
        while not run.finished:
            step_run(run)
            if time.monotonic() - shown > 0.25 and not run.finished:
                shown = time.monotonic()
                yield _view(run)
        yield _view(run)
    except UserError as err:
        yield _view(run, warn(str(err)))
    except Exception as err:  # noqa: BLE001
        yield _view(run, warn(f"Something went wrong: {first_line(err)}"))


def reset_run(*_):
    return _view(None)


def pick_bank(name):
    """A new bank: its model list (first model selected) and a cleared test; a bank that does not
    load says why."""
    try:
        choices = examinee_choices(name)
    except UserError as err:
        return gr.update(choices=[], value=None), *_view(None, warn(str(err)))
    note = ("" if has_responses(name) else
            f"No recorded answers for {name} here: its recorded models answer with simulated "
            "answers drawn from their calibrated abilities.")
    return gr.update(choices=choices, value=choices[0]), *_view(None, note)


def warn(message: str) -> str:
    """Show ``message`` as a toast and return it for the tab's status line."""
    gr.Warning(message)
    return f"⚠️ {message}"


# ---- suite ------------------------------------------------------------------------------------

SUITE_COLUMNS = ["#", "bank", "question", "answer", "theta", "SE"]


def suite_models(names) -> list[str]:
    """The models calibrated on every bank of ``names``, strongest (mean ability) first, capped
    like ``recorded_models``; replayed when every bank's answers are here, else simulated."""
    banks = [bank(n) for n in names or []]
    if not banks:
        return []
    shared = set.intersection(*(set(b.abilities) for b in banks))
    ranked = sorted(shared, key=lambda m: -np.mean([b.abilities[m]["theta"] for b in banks]))
    keep = np.unique(np.linspace(0, len(ranked) - 1, min(len(ranked), MAX_MODELS_LISTED))
                     .round().astype(int)) if ranked else []
    prefix = REPLAY if all(has_responses(n) for n in names) else SIMULATED
    return [prefix + ranked[k] for k in keep]


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
    empty = pd.DataFrame(columns=SUITE_COLUMNS)
    try:
        names = list(names or [])
        if not names:
            raise UserError("Pick at least one bank for the suite.")
        max_items, _ = check_settings(max_items, 0)
        if not choice or not choice.startswith((REPLAY, SIMULATED)):
            raise UserError("Pick a model calibrated on every bank of the suite.")
        model = choice.removeprefix(REPLAY).removeprefix(SIMULATED)
        if progress:
            progress(0.1, desc="loading the banks and the answers")
        banks = {name: bank(name) for name in names}
        if any(model not in b.abilities for b in banks.values()):
            raise UserError(f"{model!r} is not calibrated on every bank of the suite.")
        data = suite_responses(names, model, choice.startswith(SIMULATED))
        examinee = ReplayExaminee(data, model)
        if progress:
            progress(0.4, desc="running the suite")
        result = SuiteTest(banks, max_items=max_items, target_se=0.0).run(examinee)
        lo, hi = result.suite_accuracy_interval
        answers = data.responses_of(model)
        truth = {name: np.mean([answers[q] for q in b.ids if q in answers])
                 for name, b in banks.items()}
        kind = "simulated answers" if choice.startswith(SIMULATED) else "recorded answers"
        lines = [f"**Suite accuracy {result.suite_accuracy:.3f}** (95% interval {lo:.3f}–{hi:.3f})"
                 f" from {result.n_items} questions; on all its {kind}: "
                 f"**{np.mean(list(truth.values())):.3f}**", "",
                 "| bank | questions | predicted accuracy | 95% interval | on all its answers |",
                 "|---|---|---|---|---|"]
        for name, r in result.banks.items():
            blo, bhi = r.expected_accuracy_interval
            lines.append(f"| {name} | {r.n_items} | {r.expected_accuracy:.3f} | "
                         f"{blo:.3f}–{bhi:.3f} | {truth[name]:.3f} |")
        rows = [{"#": k, "bank": name, "question": step.question_id,
                 "answer": "correct" if step.correct else "wrong", "theta": round(step.theta, 3),
                 "SE": round(step.se, 3)} for k, (name, step) in enumerate(result.history, 1)]
        figure = suite_figure(result, f"{choice}: suite of {len(names)} banks")
        return "\n".join(lines), figure, pd.DataFrame(rows, columns=SUITE_COLUMNS).iloc[::-1]
    except UserError as err:
        return warn(str(err)), None, empty
    except Exception as err:  # noqa: BLE001
        return warn(f"Something went wrong: {first_line(err)}"), None, empty


def pick_suite_banks(names):
    """New suite banks: the models calibrated on all of them."""
    try:
        choices = suite_models(names)
    except UserError as err:
        return gr.update(choices=[], value=None), warn(str(err))
    if not choices:
        return gr.update(choices=[], value=None), warn("No model is calibrated on all these banks.")
    return gr.update(choices=choices, value=choices[0]), ""


# ---- difficulty -------------------------------------------------------------------------------


def predictor_input(question: str, options: str) -> str:
    """The predictor's text of a question and its options (one per line); ``UserError`` for
    empty or oversized input."""
    question = (question or "").strip()
    opts = [line.strip() for line in (options or "").splitlines() if line.strip()]
    if not question:
        raise UserError("Enter a question to predict its difficulty.")
    size = len(question) + sum(len(o) for o in opts)
    if size > MAX_TEXT:
        raise UserError(f"The question is too long ({size:,} characters); at most {MAX_TEXT:,}.")
    if len(opts) > 26:
        raise UserError(f"At most 26 options, got {len(opts)}.")
    return question_text(question, opts or None)


def similar_sample(progress: Callable | None = None) -> tuple[list, np.ndarray]:
    """``(questions, embeddings)`` of a fixed random sample of the bank's questions that have
    text (``ADAPTIVE_EVAL_SIMILAR_SAMPLE``, default 1000), embedded once (and cached on disk by
    the predictor)."""
    model, qs, the_bank = predictor(), questions(), bank()

    def embed():
        size = int(os.environ.get("ADAPTIVE_EVAL_SIMILAR_SAMPLE", "1000"))
        ids = [i for i in the_bank.ids if i in qs]
        rng = np.random.default_rng(0)
        picked = [qs[ids[k]] for k in sorted(rng.choice(len(ids), min(size, len(ids)), False))]
        texts = [question_text(q.text, q.options) for q in picked]
        chunks = []
        for start in range(0, len(texts), 100):
            if progress:
                progress(start / len(texts), desc=f"embedding {len(texts)} bank questions "
                         "for the similarity search (once)")
            chunks.append(model.embed(texts[start : start + 100]))
        emb = np.concatenate(chunks)
        return picked, emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    return _once("similar-sample", embed)


def difficulty_figure(b: float, se: float):
    values = bank().b
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.hist(values, bins=80, color="C0", alpha=0.6, label=f"{len(values):,} calibrated questions")
    ax.axvspan(b - se, b + se, color="C3", alpha=0.15, label="± SE")
    ax.axvline(b, color="C3", lw=2, label=f"this question: b = {b:.2f}")
    ax.set_xlabel("IRT difficulty b (higher is harder)")
    ax.set_ylabel("questions")
    ax.set_title(f"b = {b:.2f} ± {se:.2f} among the bank's difficulties")
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return fig


def predict_difficulty(question, options="", category=ANY, progress=PROGRESS):
    """Returns (message, plot, similar questions table)."""
    empty = pd.DataFrame(columns=["similarity", "difficulty b", "category", "question"])
    try:
        text = predictor_input(question, options)
        if progress:
            progress(0.05, desc="loading the difficulty predictor")
        model = predictor()
        cat = None if category in (None, "", ANY) else category
        b, se = model.predict([text], [cat])
        b, se = float(b[0]), float(se[0])
        share = float(np.mean(bank().b < b))
        message = (f"Predicted difficulty **b = {b:.2f} ± {se:.2f}**: harder than "
                   f"**{share:.0%}** of the {len(bank()):,} calibrated MMLU-Pro questions.")
        table = empty
        try:
            picked, emb = similar_sample(progress)
            query = model.embed([text])[0]
            sims = emb @ (query / max(np.linalg.norm(query), 1e-12))
            top = np.argsort(-sims)[:5]
            b_of = bank().b[bank().index([q.question_id for q in picked])]
            rows = [{"similarity": round(float(sims[k]), 3),
                     "difficulty b": round(float(b_of[k]), 2),
                     "category": picked[k].category or "",
                     "question": picked[k].text[:300]} for k in top]
            table = pd.DataFrame(rows)
            message += (f"\n\nThe most similar questions among a fixed random sample of "
                        f"{len(picked):,} calibrated ones are listed below.")
        except UserError as err:
            message += f"\n\nNo similar questions: {err}"
        return message, difficulty_figure(b, se), table
    except UserError as err:
        return warn(str(err)), None, empty
    except Exception as err:  # noqa: BLE001
        return warn(f"Something went wrong: {first_line(err)}"), None, empty


# ---- generate ---------------------------------------------------------------------------------


GENERATED_COLUMNS = ["#", "question", "key", "predicted difficulty", "checked?", "agreement"]
CHECKED = {True: "verified", False: "rejected", None: "unchecked"}


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


def generate_questions(difficulty, category=ANY, n=1, progress=PROGRESS):
    """``(markdown of the generated questions or a message, their table)``."""
    empty = generated_frame([])
    try:
        try:
            difficulty, n = float(difficulty), int(n)
        except (TypeError, ValueError):
            raise UserError("Difficulty and number of questions must be numbers.") from None
        if not math.isfinite(difficulty) or abs(difficulty) > 6:
            raise UserError(f"Difficulty must be between -6 and 6, got {difficulty}.")
        if not 1 <= n <= 8:
            raise UserError(f"Ask for 1 to 8 questions, got {n}.")
        if progress:
            progress(0.05, desc="loading the question generator")
        gen = generator()
        if progress:
            progress(0.3, desc=f"writing and checking candidates (about {n * gen.config.best_of})")
        cat = None if category in (None, "", ANY) else category
        items = gen.generate(difficulty, n=n, category=cat)
        if not items:
            return warn("The generator produced no well-formed question this time; try again or "
                        "another difficulty."), empty
        parts = [f"Target difficulty **{difficulty:.1f}**; {len(items)} question(s):"]
        for k, item in enumerate(items, start=1):
            options = "\n".join(f"- **{LETTERS[i]}.** {o}" + (" ← key" if LETTERS[i] == item.answer
                                                               else "")
                                for i, o in enumerate(item.options))
            se = f" ± {item.predicted_se:.2f}" if item.predicted_se is not None else ""
            parts.append(f"#### {k}. {item.category or ''} · predicted difficulty "
                         f"{item.predicted_difficulty:.2f}{se} · key {checked(item)}"
                         f"\n\n{item.question}\n\n{options}")
        return "\n\n".join(parts), generated_frame(items)
    except UserError as err:
        return warn(str(err)), empty
    except Exception as err:  # noqa: BLE001
        return warn(f"Something went wrong: {first_line(err)}"), empty


# ---- the page ---------------------------------------------------------------------------------


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
