"""The ``adaptive-eval`` command line: calibrate, evaluate, predict, generate, publish.

Every command takes ``--json`` (machine-readable result on stdout) and shows progress on
stderr. Errors a user can cause (``USER_ERRORS``: bad files, unknown ids or names, malformed
specs, options that cannot work, a file that cannot be read or written) print one line,
``adaptive-eval: error: ...``, and exit 2; any other exception is a bug in adaptive-eval: it
prints its traceback and a line saying so, and exits 1 (``ADAPTIVE_EVAL_DEBUG=1`` raises every
error with its traceback).

This package only parses arguments, calls the package and prints: ``main`` and the parser here,
one module per group of commands (``calibrate``: calibrate, banks; ``evaluate``: evaluate, one
bank or a suite; ``generate``: predict, generate, publish; ``score``: score, prompt), and
``common`` (progress lines, the ``--json`` result).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from importlib.metadata import PackageNotFoundError, version

from ..amortized.verify import DEFAULT_SOLVER
from ..banks.answers import AnswerTypeError
from ..banks.bank import ItemBankError
from ..banks.build import ItemsFileError
from ..banks.catalog import UnknownBankError
from ..banks.questions import QuestionFileError
from ..banks.responses import ResponseDataError
from ..banks.sources import QuestionSourceError
from ..banks.tables import TableError
from ..cat.session import SessionError
from ..errors import UserError
from ..examinees.base import ExamineeError
from ..extras import MissingExtra
from ..hub.resolve import ArtifactNotFound
from ..irt.calibration import ItemPriorError
from .calibrate import cmd_banks, cmd_calibrate
from .evaluate import cmd_evaluate
from .generate import cmd_generate, cmd_predict, cmd_publish
from .score import cmd_prompt, cmd_score

__all__ = ["USER_ERRORS", "build_parser", "main"]

#: the errors a user can cause and fix: one line, exit 2 (``errors.py``); anything else is a bug
USER_ERRORS = (UserError, ItemBankError, ResponseDataError, QuestionFileError, TableError,
               AnswerTypeError, ItemsFileError, UnknownBankError, QuestionSourceError,
               SessionError, ExamineeError, ItemPriorError, ArtifactNotFound, MissingExtra)


# parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adaptive-eval",
        description="Evaluate language models reliably on a fraction of a benchmark: IRT "
        "calibration, difficulty prediction, question generation, adaptive testing.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        sub.set_defaults(func=func)
        return sub

    p = command("calibrate", cmd_calibrate, "Fit an IRT model to response data; save a bank.")
    p.add_argument("responses", help="long CSV/CSV.gz/parquet/JSONL, wide matrix, or lm-eval "
                   "samples_*.jsonl (file or folder)")
    p.add_argument("--model", choices=["rasch", "2pl", "auto"], default="2pl",
                   help="auto: the model with the lower held-out log-loss")
    p.add_argument("--out", required=True, help="bank folder to write")
    p.add_argument("--items", help="items file: question_id and optionally category, options, "
                   "answer_type (categories, chance level, answer type); with --predictor also "
                   "the text (text, or question and options)")
    p.add_argument("--predictor", help="default (the embedded difficulty predictor) or a folder "
                   "/ Hub id: the --items' predicted difficulties become their priors; items "
                   "nobody answered join the bank with their prediction")
    p.add_argument("--answer-type", help="how answers are scored: multiple_choice, numeric, "
                   "math, python_literal or exact (default: from --items)")
    p.add_argument("--threshold", type=float, help="scores in [0,1]: correct = score >= this")
    p.add_argument("--max-iter", type=int, default=500, help="EM iterations at most (a fit "
                   "stopped by this limit says it did not converge)")
    p.add_argument("--misfit-models", type=int, default=50, help="leave up to N models out in "
                   "turn (one extra calibration each) to measure and correct the bank's accuracy "
                   "curve for new models; 0: skip")

    command("banks", cmd_banks, "List the named item banks and where they are.")

    p = command("evaluate", cmd_evaluate, "Adaptive test of a model on a bank.")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--bank", default=None, help="bank name (adaptive-eval banks), folder or "
                       "Hub dataset id (default: the embedded MMLU-Pro bank)")
    which.add_argument("--suite", default=None, help="A,B,...: one adaptive test over several "
                       "named banks with one --max-items budget")
    p.add_argument("--examinee", required=True, help="replay:RESPONSES:MODEL, "
                   "hf:MODEL_PATH_OR_ID, openai:BASE_URL:MODEL or lm-eval:BACKEND:MODEL_ARGS "
                   "(any lm-evaluation-harness backend; extra adaptive-eval[lm-eval])")
    p.add_argument("--items", action="append", help="question text (items CSV/JSONL/parquet; "
                   "repeat for several files; a file with a benchmark column gives each bank its "
                   "rows); default: download MMLU-Pro (needs internet)")
    p.add_argument("--max-items", type=int, default=50)
    p.add_argument("--target-se", type=float, default=0.3, help="0 turns the SE rule off")
    p.add_argument("--min-items", type=int, default=1)
    p.add_argument("--selection", choices=["fisher", "kl", "random"], default="fisher")
    p.add_argument("--estimator", choices=["eap", "map", "mle"], default="eap")
    p.add_argument("--randomesque", type=int, default=5,
                   help="pick at random among the k most informative items (1: the best)")
    p.add_argument("--no-content-balancing", dest="content_balancing", action="store_false",
                   help="do not keep category shares close to the bank's")
    p.add_argument("--no-twin-discount", dest="discount_twins", action="store_false",
                   help="do not discount items whose calibrated parameters equal an asked one's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="questions in flight at once (an OpenAI-compatible server gets N "
                   "concurrent requests; other examinees answer rounds of N in one batch)")
    p.add_argument("--protocol", choices=["bank", "letter"], default="bank",
                   help="how a live examinee asks: the bank's calibration protocol (default: "
                   "its prompt, exemplars, budget and answer reading) or the package's quick "
                   "way (letter: the option letter by log-likelihood or from a short reply)")
    p.add_argument("--max-new-tokens", type=int, default=None, metavar="N",
                   help="token budget of every generated reply (default: the examinee's own)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature of a generating examinee (default 0: greedy)")
    p.add_argument("--session", help="JSONL file: answers are appended; rerun to resume")
    p.add_argument("--generate-when-thin", nargs="?", const="embedded", default=None,
                   metavar="BACKEND", help="where the best unasked item's information at the "
                   "current ability is below --thin-information, ask a generated, verified item "
                   "instead (BACKEND: embedded, the default, or openai:BASE_URL:MODEL)")
    p.add_argument("--thin-information", type=float, default=None,
                   help="Fisher information below which the bank counts as thin (default 0.1)")
    p.add_argument("--verify-with", action="append", metavar="SPEC", help="a solver checking "
                   "generated items' keys (examinee spec; repeatable; default: "
                   f"{DEFAULT_SOLVER})")
    p.add_argument("--lm-eval-task", help="with an lm-eval: examinee, question text and prompts "
                   "from this lm-eval task or group (e.g. mmlu_pro, gsm8k)")
    p.add_argument("--lm-eval-include-path", help="folder of extra lm-eval task YAMLs (as "
                   "lm_eval --include_path)")
    p.add_argument("--output-path", help="write lm-eval's results_<time>.json and "
                   "samples_<task>_<time>.jsonl under OUTPUT_PATH/<model>/")
    p.add_argument("--plot", help="save the trajectory plot to this PNG (with --suite: a "
                   "panel per bank and the suite accuracy)")

    p = command("predict", cmd_predict, "Predict question difficulty from text.")
    p.add_argument("texts", nargs="*", help="question texts")
    p.add_argument("--file", help="questions file (question_id, question, options, ...)")
    p.add_argument("--predictor", default=None, help="folder or Hub id (default: embedded)")
    p.add_argument("--bank", help="with --out: extend this bank with the predicted items")
    p.add_argument("--out", help="folder for the extended bank")
    p.add_argument("--benchmark", help="difficulty scale: a benchmark the predictor was trained "
                   "on (default: the --bank's name; otherwise the pooled scale)")

    p = command("generate", cmd_generate, "Generate questions at a difficulty.")
    p.add_argument("--difficulty", type=float, required=True, help="target IRT difficulty, "
                   "-5 to 5 (most bank items lie within -3 to 3)")
    p.add_argument("-n", type=int, default=4)
    p.add_argument("--category", default=None)
    p.add_argument("--best-of", type=int, default=None,
                   help="samples per returned item, reranked by the predictor (default: config)")
    p.add_argument("--backend", default="embedded", help="embedded (the fine-tuned generator, "
                   "offline) or openai:BASE_URL:MODEL (any OpenAI-compatible server, shown "
                   "--bank items near the target difficulty as examples)")
    p.add_argument("--bank", default=None, help="bank name, folder or Hub id: its answer type "
                   "and, for an openai backend, its items as examples (default: mmlu-pro)")
    p.add_argument("--items", action="append", help="the bank's question text (items file; "
                   "needed by an openai backend)")
    p.add_argument("--generator", default=None, help="folder or Hub id of the embedded "
                   "backend's generator (default: embedded)")
    p.add_argument("--verify", action="store_true", help="solvers answer each item without "
                   f"its key; only items they agree with come back (default solver: "
                   f"{DEFAULT_SOLVER})")
    p.add_argument("--verify-with", action="append", metavar="SPEC", help="a solver (examinee "
                   "spec: hf:MODEL or openai:BASE_URL:MODEL); repeat for several; implies "
                   "--verify")
    p.add_argument("--repeats", type=int, default=4, help="answers per solver and multiple-"
                   "choice item, the options rotated each time")
    p.add_argument("--keep-rejected", action="store_true", help="with --verify, also return "
                   "rejected items (verified false) up to -n")
    p.add_argument("--seed", type=int, default=0)

    p = command("score", cmd_score, "Read and score raw outputs with a bank's own rule.")
    p.add_argument("outputs", help="table (CSV/JSONL/parquet) with question_id and output (the "
                   "raw model text); other columns are kept in --out")
    p.add_argument("--bank", required=True, help="bank name or folder carrying a protocol")
    p.add_argument("--items", help="gold answers from this items file (default: the bank's Hub "
                   "dataset)")
    p.add_argument("--rule", help="another answer-reading rule by name (default: the bank's)")
    p.add_argument("--out", help="write the outputs with extracted and correct to this CSV")
    p.add_argument("--show", type=int, default=20, help="rows listed on stdout (not --json)")

    p = command("prompt", cmd_prompt, "Show the exact request for one question under a bank's "
                "protocol.")
    p.add_argument("question_id")
    p.add_argument("--bank", required=True, help="bank name or folder carrying a protocol")
    p.add_argument("--items", help="question text from this items file (default: the bank's "
                   "Hub dataset)")

    p = command("publish", cmd_publish, "Check an artifact folder and upload it to the Hub.")
    p.add_argument("model_dir")
    p.add_argument("--repo-id", required=True)
    p.add_argument("--private", action="store_true")
    p.add_argument("--revision-note", default=None, help="commit message")
    p.add_argument("--token", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. A user's error (``USER_ERRORS``, or a file that cannot be read or
    written) prints one line and returns 2; any other exception is a bug in adaptive-eval: its
    traceback, a line saying so and how to report it, and 1. ``ADAPTIVE_EVAL_DEBUG=1`` raises
    every error with its traceback."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("adaptive-eval: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get("ADAPTIVE_EVAL_DEBUG"):
            raise
        if isinstance(err, USER_ERRORS):
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
        elif isinstance(err, OSError) and err.filename is not None:  # a file the user named
            message = f"{err.strerror or err}: {err.filename}"
        else:
            traceback.print_exc()
            print(f"adaptive-eval: this is a bug in adaptive-eval {_version()}, not in your "
                  "input: please report it to the project's issue tracker with the command you "
                  "ran and the traceback above", file=sys.stderr)
            return 1
        print(f"adaptive-eval: error: {message}", file=sys.stderr)
        return 2
    return 0


def _version() -> str:
    try:
        return version("adaptive-eval")
    except PackageNotFoundError:
        return "(version unknown)"
