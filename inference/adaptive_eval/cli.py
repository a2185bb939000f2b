"""The ``adaptive-eval`` command line: calibrate, evaluate, predict, generate, publish.

Every command takes ``--json`` (machine-readable result on stdout) and shows progress on
stderr. Errors a user can cause (``USER_ERRORS``: bad files, unknown ids or names, malformed
specs, options that cannot work, a file that cannot be read or written) print one line,
``adaptive-eval: error: ...``, and exit 2; any other exception is a bug in adaptive-eval: it
prints its traceback and a line saying so, and exits 1 (``ADAPTIVE_EVAL_DEBUG=1`` raises every
error with its traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .amortized.verify import Verifier
from .banks.answers import AnswerTypeError
from .banks.bank import ItemBank, ItemBankError
from .banks.build import ItemsFileError, build_bank
from .banks.catalog import CATALOG, UnknownBankError, bank_info, list_banks
from .banks.hub_questions import bank_questions
from .banks.protocol import Protocol, load_protocol
from .banks.questions import QuestionFileError, load_questions, question_text
from .banks.responses import ResponseData, ResponseDataError
from .banks.scoring import read_outputs, score_outputs, scoring_questions
from .banks.sources import QuestionSourceError
from .banks.tables import TableError, read_table
from .cat.adaptive import AdaptiveTest
from .cat.session import SessionError
from .cat.suite import SuiteTest
from .errors import InputError, UserError
from .examinees import examinee_from_spec
from .examinees.base import ExamineeError
from .examinees.lm_eval_output import write_lm_eval_output
from .extras import MissingExtra, require
from .hub.resolve import ArtifactNotFound
from .irt.calibration import ItemPriorError

#: the errors a user can cause and fix: one line, exit 2 (``errors.py``); anything else is a bug
USER_ERRORS = (UserError, ItemBankError, ResponseDataError, QuestionFileError, TableError,
               AnswerTypeError, ItemsFileError, UnknownBankError, QuestionSourceError,
               SessionError, ExamineeError, ItemPriorError, ArtifactNotFound, MissingExtra)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _emit(args: argparse.Namespace, payload, human: str) -> None:
    print(json.dumps(payload, indent=1) if args.json else human)


# commands -------------------------------------------------------------------------------------


def cmd_calibrate(args: argparse.Namespace) -> None:
    if args.max_iter < 1:
        raise InputError(f"--max-iter {args.max_iter}: expected >= 1")
    if args.misfit_models < 0:
        raise InputError(f"--misfit-models {args.misfit_models}: expected >= 0")
    if args.predictor and not args.items:
        raise InputError("--predictor reads the question text: give --items QUESTIONS too")
    data = ResponseData.from_file(args.responses, threshold=args.threshold)
    _progress(f"read {data} from {args.responses}")
    predictor = None
    if args.predictor:
        require("predictor", "--predictor")
        from .amortized.predictor import (
            DifficultyPredictor,  # torch, transformers: only when predicting
        )

        predictor = DifficultyPredictor.from_pretrained(
            None if args.predictor == "default" else args.predictor)
    built = build_bank(data, args.model, items=args.items, predictor=predictor,
                       answer_type=args.answer_type, misfit_models=args.misfit_models,
                       progress=_progress, max_iter=args.max_iter)
    fit, bank = built.fit, built.bank
    if not fit.converged:
        _progress(f"warning: the calibration did not converge in {fit.n_iter} EM iterations (the "
                  "log posterior was still rising): its parameters are not at their optimum; "
                  "recalibrate with a larger --max-iter")
    description = f"Calibrated from `{args.responses}`."
    bank.save(args.out, card_variables={"data_description": description})
    abilities = {m: {"theta": a.theta, "se": a.se} for m, a in fit.abilities.items()}
    payload = {"model": bank.model, "n_items": len(bank), "n_models": data.n_models,
               "out": str(args.out), "converged": fit.converged, "n_iter": fit.n_iter,
               "seconds": round(fit.seconds, 3), "abilities": abilities,
               "heldout": built.heldout, "answer_type": bank.metadata.get("answer_type"),
               "heldout_misfit_sd": bank.metadata.get("heldout_misfit_sd"),
               "flags": built.flags, "n_text_only": int(bank.predicted.sum()),
               "mean_prior_share": float(bank.prior_share.mean())}
    summary = bank.summary()
    ranked = sorted(abilities.items(), key=lambda kv: -kv[1]["theta"])
    flagged = ", ".join(list(built.flags)[:5]) + (", ..." if len(built.flags) > 5 else "")
    human = "\n".join(
        [f"{bank!r} saved to {args.out} ({fit.n_iter} EM iterations, {fit.seconds:.1f} s)",
         f"difficulty b 5/50/95%: {summary['b_quantiles_5_50_95']}, "
         f"discrimination a 5/50/95%: {summary['a_quantiles_5_50_95']}",
         f"held-out misfit of the accuracy curve (RMS, after correction): "
         f"{bank.metadata.get('heldout_misfit_sd', 'not measured')}",
         f"possibly broken items (answers against ability): {len(built.flags)}"
         + (f" ({flagged})" if built.flags else ""),
         f"items from text only (nobody answered): {payload['n_text_only']}; mean share of "
         f"an item's difficulty from its text: {payload['mean_prior_share']:.2f}",
         "abilities (theta +/- SE):"]
        + [f"  {m:40s} {a['theta']:+.3f} +/- {a['se']:.3f}" for m, a in ranked]
    )
    _emit(args, payload, human)


def cmd_banks(args: argparse.Namespace) -> None:
    rows = list_banks()
    human = "\n".join(
        [f"{'name':22s} {'benchmark':30s} {'items':>6s} {'models':>6s} {'answer type':15s} "
         f"{'licence':16s} {'live':6s} {'questions from':42s} where"]
        + [f"{r['name']:22s} {r['benchmark']:30s} {r['n_items'] or '-':>6} "
           f"{r['n_models'] or '-':>6} {r['answer_type']:15s} {r['license']:16s} "
           f"{'yes' if r['live'] else 'replay':6s} {_questions_from(r['questions']):42s} "
           f"{r['path'] or 'Hub: ' + r['repo_id']}" for r in rows])
    _emit(args, rows, human)


def _questions_from(source: dict | None) -> str:
    if source is None:
        return "-"
    config = "" if source["config"] == "default" else f" {source['config']}"
    return f"{source['dataset']}{config} ({source['split']})"


LM_KINDS = ("hf:", "openai:", "lm-eval:")


def _bank_questions(name: str, bank, paths: list[str] | None) -> dict | None:
    """Question text for ``bank`` (named ``name``) from the items files ``paths``: each file read
    with the bank's answer type and, when it has a ``benchmark`` column, only that benchmark's
    rows (the value equal to the bank's name or benchmark, else the one whose ids start with the
    catalog prefix or match the bank's ids). None without ``paths``: the examinee then reads
    the bank's questions from its Hub dataset (``hub_questions.bank_questions``)."""

    if not paths:
        return None
    answer_type = bank.metadata.get("answer_type")
    ids = set(bank.ids)
    info = CATALOG.get(bank.metadata.get("name", name)) or CATALOG.get(name)
    found: dict = {}
    for path in paths:
        frame = read_table(path)
        benchmark = None
        if "benchmark" in frame.columns:
            values = frame["benchmark"].astype(str)
            wanted = [str(v) for v in (name, bank.metadata.get("name"),
                                       bank.metadata.get("benchmark")) if v]
            matches = [v for v in wanted if (values == v).any()]
            if matches:
                benchmark = matches[0]
            else:
                qids = frame["question_id"].astype(str)
                hit = qids.isin(ids)
                if info is not None and info.prefix:
                    hit |= qids.str.startswith(info.prefix)
                if not hit.any():
                    continue
                benchmark = values[hit].value_counts().index[0]
        elif not frame["question_id"].astype(str).isin(ids).any():
            continue
        questions = load_questions(path, answer_type=answer_type, benchmark=benchmark)
        found.update({k: q for k, q in questions.items() if k in ids})
    if not found:
        raise InputError(f"the items file(s) {paths} have none of the bank's question ids "
                         f"(bank {name!r}; its ids look like {bank.ids[:3]})")
    missing = len(ids) - len(found)
    if missing:
        _progress(f"note: {missing} {name} questions have no text in the items file(s); the "
                  f"test uses the other {len(found)}")
    return found


def _asking_protocol(args: argparse.Namespace, name: str
                     ) -> tuple[Protocol | None, dict | None]:
    """How a live examinee asks (``--protocol``): the bank's calibration protocol (``bank``, the
    default, when the bank carries one) or the package's quick way (``letter``: the option
    letter by log-likelihood or from a short reply). Returns the protocol (None: the package's
    way) and what the result records, ``{"name", "bank"}`` (``bank``: whether it is the bank's
    own); a way of asking that differs from the bank's is said on stderr. None, None for
    replayed answers."""
    if not args.examinee.startswith(LM_KINDS):
        return None, None
    if args.lm_eval_task:
        _progress(f"asking with lm-eval task {args.lm_eval_task}'s own prompts, not the bank's "
                  "calibration protocol: the predicted accuracy is the bank's, under its protocol")
        return None, {"name": f"lm-eval:{args.lm_eval_task}", "bank": False}
    own = load_protocol(name)
    if args.protocol == "bank" and own is not None:
        _progress(f"protocol: {own.name} (the bank's calibration protocol: "
                  f"{own.generation['max_new_tokens']} new tokens at most"
                  + (f", overridden to {args.max_new_tokens}" if args.max_new_tokens else "")
                  + ")")
        return own, {"name": own.name, "bank": True}
    why = ("bank carries no calibration protocol" if own is None
           else f"its calibration protocol is {own.name}")
    _progress(f"protocol: the package's quick way (letter), which differs from how {name} was "
              f"calibrated ({why}): the predicted accuracy describes the bank's protocol")
    return None, {"name": "letter", "bank": False}


def _check_lm_bank(spec: str, name: str, bank) -> None:
    if spec.startswith(LM_KINDS) and not bank.metadata.get("answer_type"):
        raise InputError(f"bank {name!r} has no answer type (metadata answer_type), so a "
                         f"language model's answers to it cannot be scored; recalibrate it "
                         "with --answer-type, or use a replay: examinee")


def _test_options(args: argparse.Namespace) -> dict:
    return dict(min_items=args.min_items, selection=args.selection, estimator=args.estimator,
                randomesque=args.randomesque, content_balancing=args.content_balancing,
                discount_twins=args.discount_twins, seed=args.seed)


def _show(bank_name: str | None = None):
    def show(step, *more) -> None:
        bank, step = (step, more[0]) if more else (bank_name, step)
        n = show.count = getattr(show, "count", 0) + 1
        where = f"{bank:12s} " if bank else ""
        _progress(f"[{n:3d}] {where}{step.question_id:>10} {step.category or '':18s} "
                  f"{'right' if step.correct else 'wrong'}  theta {step.theta:+.2f} "
                  f"+/- {step.se:.2f}  accuracy {step.expected_accuracy:.3f}")
    return show


THIN_OPTIONS = ("--verify-with", "--thin-information")  # only with --generate-when-thin


def _given(args: argparse.Namespace, *flags: str) -> list[str]:
    """Those of ``flags`` the user gave (an option left at its default of None is not given)."""
    return [flag for flag in flags if getattr(args, flag.lstrip("-").replace("-", "_"))
            not in (None, [])]


def cmd_evaluate(args: argparse.Namespace) -> None:
    if args.suite:
        return _evaluate_suite(args)
    if args.generate_when_thin is None and _given(args, *THIN_OPTIONS):
        raise InputError(f"{_given(args, *THIN_OPTIONS)[0]} acts only with --generate-when-thin; "
                         "add it or drop the option")

    bank = ItemBank.load(args.bank)
    name = str(args.bank) if args.bank is not None else "mmlu-pro"
    _check_lm_bank(args.examinee, name, bank)
    questions = prompts = None
    if args.lm_eval_task:
        prompts = _task_prompts(args, name, bank)
    elif args.examinee.startswith(LM_KINDS):
        questions = _bank_questions(name, bank, args.items)
    protocol, said = _asking_protocol(args, name)
    examinee = examinee_from_spec(args.examinee, questions=questions, prompts=prompts,
                                  answer_type=bank.metadata.get("answer_type"), bank=name,
                                  max_new_tokens=args.max_new_tokens,
                                  temperature=args.temperature, protocol=protocol)
    test = AdaptiveTest(bank, max_items=args.max_items, target_se=args.target_se,
                        item_source=_thin_bank_items(args, examinee, bank),
                        thin_information=0.1 if args.thin_information is None
                        else args.thin_information, **_test_options(args))
    if args.session and Path(args.session).exists():
        _progress(f"resuming session {args.session}")
    if args.parallel > 1:
        _progress(f"{args.parallel} questions in flight at once")
    start = time.perf_counter()
    result = test.run(examinee, session=args.session, on_step=_show(), parallel=args.parallel)
    wall = time.perf_counter() - start
    _progress(f"{result.n_items} questions in {wall:.1f} s ({args.parallel} in flight)"
              + (f"; {result.n_truncated} replies cut at the token budget"
                 if result.n_truncated else ""))
    if args.plot:
        require("plots", "--plot")
        from .cat.plotting import save_result_plot  # matplotlib: only when a plot is asked for

        save_result_plot(result, args.plot, title=f"{examinee.name}: adaptive evaluation")
        _progress(f"plot saved to {args.plot}")
    payload = result.to_dict() | {"parallel": args.parallel, "wall_s": round(wall, 3)}
    if said is not None:
        payload["protocol"] = said
    if result.tokens and result.n_items:  # the whole bank at the same tokens per question
        whole = {key: round(count * len(bank) / result.n_items)
                 for key, count in result.tokens.items()}
        payload["tokens_whole_benchmark"] = whole
        _progress(f"tokens: {result.tokens['prompt']:,} prompt + "
                  f"{result.tokens['completion']:,} completion for {result.n_items} questions; "
                  f"the whole {len(bank):,}-question bank at this rate: "
                  f"{whole['prompt'] + whole['completion']:,}")
    if getattr(examinee, "weights", None) is not None:  # which weights answered (hf:)
        payload["weights"] = examinee.weights
    if args.output_path:

        written = write_lm_eval_output(
            args.output_path, task=args.lm_eval_task or name, model=examinee.name,
            model_args=args.examinee.split(":", 2)[-1], result=payload, bank_size=len(bank),
            samples=getattr(examinee, "samples", None))
        _progress(f"lm-eval results and samples written: {written[0]}, {written[1]}")
    lo, hi = result.expected_accuracy_interval
    human = (f"{examinee.name}: theta {result.theta:+.3f} +/- {result.se:.3f}; predicted accuracy "
             f"on the {len(bank)}-question bank {result.expected_accuracy:.3f} "
             f"(95% interval {lo:.3f}-{hi:.3f}) from {result.n_items} questions "
             f"(stopped: {result.stop_reason})")
    if result.category_accuracy:
        human += "\nby category (predicted accuracy, 95% interval, questions asked):" + "".join(
            f"\n  {name:20s} {c['expected_accuracy']:.3f}  {c['interval'][0]:.3f}-"
            f"{c['interval'][1]:.3f}  {c['n_items']}"
            for name, c in result.category_accuracy.items())
    _emit(args, payload, human)


def _task_prompts(args: argparse.Namespace, name: str, bank) -> dict:
    """``--lm-eval-task``: the bank's questions as the task's prompts (lm-eval examinee only)."""

    if not args.examinee.startswith("lm-eval:"):
        raise InputError("--lm-eval-task needs an lm-eval:BACKEND:MODEL_ARGS examinee")
    require("lm-eval", "lm-evaluation-harness tasks (--lm-eval-task)")
    from .examinees.lm_eval import load_task_prompts  # the optional lm-eval extra

    prompts = load_task_prompts(args.lm_eval_task, bank.ids, bank.metadata.get("answer_type"),
                                include_path=args.lm_eval_include_path)
    if len(prompts) < len(bank):
        _progress(f"note: {len(bank) - len(prompts)} {name} questions have no document in "
                  f"lm-eval task {args.lm_eval_task!r}; the test uses the other {len(prompts)}")
    return prompts


def _thin_bank_items(args: argparse.Namespace, examinee, bank: ItemBank):
    """``--generate-when-thin [BACKEND]``: a ``thin_bank.ThinBankItems`` whose items go into
    the LM examinee's question table, verified by ``--verify-with`` (default DEFAULT_SOLVER)."""
    if args.generate_when_thin is None:
        return None
    require("generator", "--generate-when-thin")
    from .cat.thin_bank import (
        ThinBankItems,  # the generator (torch): only with --generate-when-thin
    )

    if not isinstance(getattr(examinee, "questions", None), dict):
        raise InputError("--generate-when-thin needs an examinee that answers new questions "
                         f"(hf: or openai:), not {args.examinee!r}")
    verifier = Verifier(args.verify_with or [DEFAULT_SOLVER])
    generator = _generator(argparse.Namespace(
        backend=args.generate_when_thin, bank=args.bank, items=args.items, generator=None))
    return ThinBankItems(generator, verifier, examinee.questions, bank=bank, seed=args.seed,
                         progress=_progress)


def _evaluate_suite(args: argparse.Namespace) -> None:
    if args.bank is not None:
        raise InputError("give --bank or --suite, not both")
    ignored = _given(args, "--lm-eval-task", "--output-path", "--generate-when-thin",
                     *THIN_OPTIONS)
    if ignored:
        raise InputError(f"{ignored[0]} works with one --bank, not a --suite (a suite asks only "
                         "its banks' own questions); drop it or test one bank")
    names = [n.strip() for n in args.suite.split(",") if n.strip()]
    if not names:
        raise InputError(f"--suite {args.suite!r} names no bank")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"--suite lists bank(s) {', '.join(map(repr, twice))} more than once; "
                         "name each bank once")
    for name in names:
        if not Path(name).is_dir() and "/" not in name:
            bank_info(name)  # an unknown name: the catalog's error, listing the known banks
    banks = {name: ItemBank.load(name) for name in names}
    questions = None
    for name, bank in banks.items():
        _check_lm_bank(args.examinee, name, bank)
    if args.examinee.startswith(LM_KINDS):
        questions = {}
        for name, bank in banks.items():
            found = _bank_questions(name, bank, args.items)
            questions.update(found if found is not None else bank_questions(name, ids=bank.ids))
    if args.parallel > 1:
        raise InputError("--parallel is not supported with --suite yet: a suite asks one "
                         "question at a time")
    asked = {name: _asking_protocol(args, name) for name in banks}
    protocols = {qid: protocol for name, (protocol, _) in asked.items() if protocol is not None
                 for qid in banks[name].ids}
    examinee = examinee_from_spec(args.examinee, questions=questions,
                                  max_new_tokens=args.max_new_tokens,
                                  temperature=args.temperature, protocol=protocols or None)
    suite = SuiteTest(banks, max_items=args.max_items, target_se=args.target_se,
                      **_test_options(args))
    if args.session and Path(args.session).exists():
        _progress(f"resuming session {args.session}")
    result = suite.run(examinee, session=args.session, on_step=_show())
    if args.plot:
        require("plots", "--plot")
        from .cat.plotting import save_suite_plot  # matplotlib: only when a plot is asked for

        save_suite_plot(result, args.plot, title=f"{examinee.name}: suite "
                        f"{', '.join(names)}")
        _progress(f"plot saved to {args.plot}")
    lo, hi = result.suite_accuracy_interval
    human = "\n".join(
        [f"{examinee.name}: suite accuracy {result.suite_accuracy:.3f} (95% interval "
         f"{lo:.3f}-{hi:.3f}) from {result.n_items} questions (stopped: {result.stop_reason})"]
        + [f"  {name:22s} {r.expected_accuracy:.3f}  {r.expected_accuracy_interval[0]:.3f}-"
           f"{r.expected_accuracy_interval[1]:.3f}  {r.n_items} questions"
           for name, r in result.banks.items()])
    payload = result.to_dict()
    if any(said is not None for _, said in asked.values()):
        payload["protocol"] = {name: said for name, (_, said) in asked.items()}
    _emit(args, payload, human)


def cmd_predict(args: argparse.Namespace) -> None:
    require("predictor", "adaptive-eval predict")
    # the predictor loads torch and transformers: imported only when predicting
    from .amortized.predicted_items import (  # torch, transformers: only when predicting
        add_predicted,
        predict_for_bank,
        scale_note,
    )
    from .amortized.predictor import DifficultyPredictor

    predictor = DifficultyPredictor.from_pretrained(args.predictor)
    ids, texts, categories = _predict_inputs(args)
    bank = ItemBank.load(args.bank) if args.bank else None
    _progress(scale_note(predictor, bank, args.benchmark))
    params = predict_for_bank(predictor, texts, categories, bank, args.benchmark)
    payload = [{"text": t, "difficulty": float(d), "se": float(s)}
               for t, d, s in zip(texts, params["b"], params["b_se"])]
    if ids is not None:
        for row, question_id in zip(payload, ids):
            row["question_id"] = question_id
    if bank is not None and args.out:
        new_ids = ids or [f"new-{k}" for k in range(len(texts))]
        extended = add_predicted(bank, new_ids, texts, categories, predictor, args.benchmark,
                                 params=params)
        extended.save(args.out)
        _progress(f"saved {extended!r} to {args.out}")
    human = "\n".join(f"{r['difficulty']:+.2f} +/- {r['se']:.2f}  {r['text'][:90]}"
                      for r in payload)
    _emit(args, payload, human)


def _predict_inputs(args):
    """(ids or None, texts, categories or None) from the positional texts or ``--file``."""
    if bool(args.texts) == bool(args.file):
        raise InputError("give question texts as arguments or --file QUESTIONS, not both/neither")
    if args.texts:
        return None, list(args.texts), None

    questions = load_questions(args.file)
    ids = list(questions)
    texts = [question_text(q.text, q.options) for q in questions.values()]
    return ids, texts, [q.category for q in questions.values()]


DEFAULT_SOLVER = "hf:HuggingFaceTB/SmolLM2-135M-Instruct"  # the embedded generator's base model


def _generator(args: argparse.Namespace):
    """The generator ``--backend`` names: the embedded one (``embedded`` or a folder / Hub id
    via ``--generator``), or ``openai:URL:MODEL`` prompted with ``--bank``'s items (``--items``)."""
    require("generator", "adaptive-eval generate")
    from .amortized.server_generator import (  # torch: only when generating
        ServerGenerator,
        bank_examples,
    )

    name = args.bank or "mmlu-pro"
    bank = ItemBank.load(name)
    answer_type = bank.metadata.get("answer_type") or "multiple_choice"
    if args.backend == "embedded":
        from .amortized.generator import QuestionGenerator

        if answer_type != "multiple_choice":
            raise InputError(f"the embedded generator writes multiple-choice questions; bank "
                             f"{name!r} is {answer_type}: use --backend openai:URL:MODEL")
        return QuestionGenerator.from_pretrained(args.generator)
    questions = _bank_questions(name, bank, args.items)
    if questions is None:
        raise InputError("--backend openai:... shows the server bank items as examples: pass "
                         f"the question text of bank {name!r} with --items FILE")
    try:
        return ServerGenerator(args.backend, bank_examples(bank, questions), answer_type)
    except ValueError as err:  # its errors: a malformed spec, no examples, a server not there
        raise InputError(str(err)) from None


def cmd_generate(args: argparse.Namespace) -> None:
    require("generator", "adaptive-eval generate")
    from .amortized.generator import check_difficulty  # torch, transformers: only when generating

    try:
        check_difficulty(args.difficulty)
    except ValueError as err:  # check_difficulty's only error: the value is out of range
        raise InputError(f"--difficulty: {err}") from None
    for flag, value in (("-n", args.n), ("--best-of", args.best_of), ("--repeats", args.repeats)):
        if value is not None and value < 1:
            raise InputError(f"{flag} {value}: expected >= 1")
    solvers = args.verify_with or ([DEFAULT_SOLVER] if args.verify else [])
    verifier = Verifier(solvers, repeats=args.repeats) if solvers else None
    generator = _generator(args)
    items = generator.generate(difficulty=args.difficulty, n=args.n, category=args.category,
                               best_of=args.best_of, seed=args.seed, verifier=verifier,
                               keep_rejected=args.keep_rejected, progress=_progress)
    payload = [item.to_dict() for item in items]
    verdict = {None: "UNCHECKED: no solver checked the key", True: "verified", False: "REJECTED"}
    human = "\n\n".join(
        f"[target {r['target_difficulty']:+.2f}, predicted {r['predicted_difficulty']:+.2f}; "
        f"{verdict[r['verified']]}"
        + (f", agreement {r['agreement']:.2f}" if r["agreement"] is not None else "")
        + (f", {r['problem']}" if r["problem"] else "") + f"] {r['question']}\n"
        + "".join(f"  {chr(65 + k)}. {o}\n" for k, o in enumerate(r["options"]))
        + f"  answer: {r['answer']}"
        + "".join(f"\n  {spec} answered: {', '.join(map(str, a))}"
                  for spec, a in r["solver_answers"].items())
        for r in payload
    ) or "no item survived (see the progress lines above)"
    _emit(args, payload, human)


def _protocol(name: str):
    protocol = load_protocol(name)
    if protocol is None:
        raise InputError(f"bank {name!r} carries no calibration protocol (protocol.json), so "
                         "its benchmark's way of asking and reading is not known here")
    return protocol


def _gold(name: str, protocol, items: str | None, ids) -> dict:
    """The questions (gold answers) of ``ids``: from ``--items`` or the bank's Hub dataset."""
    if items:
        return scoring_questions(items, protocol)
    return bank_questions(name, ids=sorted(set(ids)))


def cmd_score(args: argparse.Namespace) -> None:
    protocol = _protocol(args.bank)
    if not protocol.live:
        raise InputError(f"bank {args.bank!r} has no gold answers ({protocol.benchmark}): its "
                         "outputs cannot be scored here (replay only)")
    outputs = read_outputs(args.outputs)
    questions = _gold(args.bank, protocol, args.items, outputs["question_id"])
    scored = score_outputs(outputs, protocol, questions, rule=args.rule)
    rule = args.rule or protocol.reader
    if args.out:
        scored.to_csv(args.out, index=False)
        _progress(f"scored outputs written to {args.out}")
    n = len(scored)
    extracted = [e if isinstance(e, str) else None for e in scored["extracted"]]
    none = extracted.count(None)
    payload = [{"question_id": q, "extracted": e, "correct": int(c)}
               for q, e, c in zip(scored["question_id"], extracted, scored["correct"])]
    lines = [f"{q:>24}  {'right' if c else 'wrong'}  {'(no answer)' if e is None else e[:60]}"
             for q, e, c in zip(scored["question_id"], extracted, scored["correct"])]
    right = int(scored["correct"].sum())
    more = [f"... {n - args.show} more"] if n > args.show else []
    human = "\n".join(lines[:args.show] + more + [
        f"{n} outputs read with rule {rule} (bank {args.bank}): {right} correct "
        f"({right / max(n, 1):.3f}), {none} with no answer"])
    _emit(args, payload, human)


def cmd_prompt(args: argparse.Namespace) -> None:
    protocol = _protocol(args.bank)
    questions = _gold(args.bank, protocol, args.items, [args.question_id])
    if args.question_id not in questions:
        raise InputError(f"question {args.question_id!r} is not among the questions of bank "
                         f"{args.bank!r}" + (f" in {args.items}" if args.items else ""))
    request = protocol.request(questions[args.question_id])
    payload = {"bank": args.bank, "question_id": args.question_id, "protocol": protocol.name,
               "mode": protocol.mode, "reader": protocol.reader} | request
    settings = {k: v for k, v in request.items() if k not in ("messages", "prompt")}
    if "prompt" in request:
        body = request["prompt"]
    else:
        body = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in request["messages"])
    human = (f"# protocol {protocol.name} ({protocol.mode}), answers read by {protocol.reader}; "
             f"settings {json.dumps(settings)}\n{body}")
    _emit(args, payload, human)


def cmd_publish(args: argparse.Namespace) -> None:
    require("predictor", "adaptive-eval publish")
    require("generator", "adaptive-eval publish")
    from .hub.publish import artifact_kind, publish  # loads every artifact kind (torch)

    url = publish(args.model_dir, args.repo_id, private=args.private,
                  revision_note=args.revision_note, token=args.token)
    kind = artifact_kind(args.model_dir)
    _emit(args, {"repo_id": args.repo_id, "commit_url": url, "kind": kind},
          f"published {kind} {args.model_dir} to {args.repo_id}: {url}")


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


if __name__ == "__main__":
    sys.exit(main())
