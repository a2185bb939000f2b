"""``adaptive-eval evaluate``: an adaptive test of one examinee on a bank (``--bank``) or on
several banks at once (``--suite``)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..banks.bank import ItemBank
from ..banks.catalog import bank_info
from ..banks.hub_questions import bank_questions
from ..banks.items import items_file_questions, missing_text_note
from ..cat.adaptive import AdaptiveTest
from ..cat.suite import SuiteTest
from ..errors import InputError
from ..examinees import examinee_from_spec
from ..examinees.asking import (
    asking_protocol,
    check_scorable,
    is_live,
    protocols_by_question,
    task_prompts,
)
from ..examinees.lm_eval_output import write_lm_eval_output
from ..extras import require
from .common import emit, given, progress

THIN_OPTIONS = ("--verify-with", "--thin-information")  # only with --generate-when-thin


def _file_questions(name: str, bank: ItemBank, paths: list[str] | None) -> dict | None:
    """``--items``: the bank's questions from the items files, saying how many have no text."""
    found = items_file_questions(name, bank, paths)
    note = missing_text_note(name, bank, found)
    if note:
        progress(note)
    return found


def _asking(args: argparse.Namespace, name: str):
    """``--protocol``: (protocol, what the result records, the note saying the way of asking,
    shown once the examinee is built, so that a spec error stays the only line)."""
    return asking_protocol(args.examinee, name, choice=args.protocol,
                           lm_eval_task=args.lm_eval_task, max_new_tokens=args.max_new_tokens)


def _say(note: str | None) -> None:
    if note:
        progress(note)


def _test_options(args: argparse.Namespace) -> dict:
    return dict(min_items=args.min_items, selection=args.selection, estimator=args.estimator,
                randomesque=args.randomesque, content_balancing=args.content_balancing,
                discount_twins=args.discount_twins, seed=args.seed)


def _show(bank_name: str | None = None):
    def show(step, *more) -> None:
        bank, step = (step, more[0]) if more else (bank_name, step)
        n = show.count = getattr(show, "count", 0) + 1
        where = f"{bank:12s} " if bank else ""
        progress(f"[{n:3d}] {where}{step.question_id:>10} {step.category or '':18s} "
                 f"{'right' if step.correct else 'wrong'}  theta {step.theta:+.2f} "
                 f"+/- {step.se:.2f}  accuracy {step.expected_accuracy:.3f}")
    return show


def _thin_bank_items(args: argparse.Namespace, examinee, bank: ItemBank):
    """``--generate-when-thin [BACKEND]``: generated, verified items where the bank is thin."""
    if args.generate_when_thin is None:
        return None
    require("generator", "--generate-when-thin")
    from ..cat.thin_bank import (
        thin_bank_items,  # the generator (torch): only with --generate-when-thin
    )

    return thin_bank_items(args.generate_when_thin, examinee, bank, spec=args.examinee,
                           bank_name=args.bank, items=args.items, verify_with=args.verify_with,
                           seed=args.seed, progress=progress)


def _task_prompts(args: argparse.Namespace, name: str, bank: ItemBank) -> dict:
    """``--lm-eval-task``: the bank's questions as the task's prompts (lm-eval examinee only)."""
    prompts = task_prompts(args.examinee, args.lm_eval_task, bank,
                           include_path=args.lm_eval_include_path)
    if len(prompts) < len(bank):
        progress(f"note: {len(bank) - len(prompts)} {name} questions have no document in "
                 f"lm-eval task {args.lm_eval_task!r}; the test uses the other {len(prompts)}")
    return prompts


def cmd_evaluate(args: argparse.Namespace) -> None:
    if args.suite:
        return _evaluate_suite(args)
    if args.generate_when_thin is None and given(args, *THIN_OPTIONS):
        raise InputError(f"{given(args, *THIN_OPTIONS)[0]} acts only with --generate-when-thin; "
                         "add it or drop the option")

    bank = ItemBank.load(args.bank)
    name = str(args.bank) if args.bank is not None else "mmlu-pro"
    check_scorable(args.examinee, name, bank)
    questions = prompts = None
    if args.lm_eval_task:
        prompts = _task_prompts(args, name, bank)
    elif is_live(args.examinee):
        questions = _file_questions(name, bank, args.items)
    protocol, said, note = _asking(args, name)
    examinee = examinee_from_spec(args.examinee, questions=questions, prompts=prompts,
                                  answer_type=bank.metadata.get("answer_type"), bank=name,
                                  max_new_tokens=args.max_new_tokens,
                                  temperature=args.temperature, protocol=protocol)
    _say(note)
    test = AdaptiveTest(bank, max_items=args.max_items, target_se=args.target_se,
                        item_source=_thin_bank_items(args, examinee, bank),
                        thin_information=0.1 if args.thin_information is None
                        else args.thin_information, **_test_options(args))
    result, wall = _run(test, examinee, args)
    if args.plot:
        require("plots", "--plot")
        from ..cat.plotting import save_result_plot  # matplotlib: only when a plot is asked for

        save_result_plot(result, args.plot, title=f"{examinee.name}: adaptive evaluation")
        progress(f"plot saved to {args.plot}")
    payload = result.to_dict() | {"parallel": args.parallel, "wall_s": round(wall, 3)}
    if said is not None:
        payload["protocol"] = said
    if result.tokens and result.n_items:  # the whole bank at the same tokens per question
        whole = {key: round(count * len(bank) / result.n_items)
                 for key, count in result.tokens.items()}
        payload["tokens_whole_benchmark"] = whole
        progress(f"tokens: {result.tokens['prompt']:,} prompt + "
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
        progress(f"lm-eval results and samples written: {written[0]}, {written[1]}")
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
    emit(args, payload, human)


def _suite_names(args: argparse.Namespace) -> list[str]:
    """``--suite A,B,...``: the bank names, each once; an unknown name is the catalog's error."""
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
    return names


def _evaluate_suite(args: argparse.Namespace) -> None:
    if args.bank is not None:
        raise InputError("give --bank or --suite, not both")
    ignored = given(args, "--lm-eval-task", "--output-path", "--generate-when-thin",
                    *THIN_OPTIONS)
    if ignored:
        raise InputError(f"{ignored[0]} works with one --bank, not a --suite (a suite asks only "
                         "its banks' own questions); drop it or test one bank")
    names = _suite_names(args)
    banks = {name: ItemBank.load(name) for name in names}
    questions = None
    for name, bank in banks.items():
        check_scorable(args.examinee, name, bank)
    if is_live(args.examinee):
        questions = {}
        for name, bank in banks.items():
            found = _file_questions(name, bank, args.items)
            questions.update(found if found is not None else bank_questions(name, ids=bank.ids))
    asked = {name: _asking(args, name) for name in banks}
    protocols = protocols_by_question(banks, {name: p for name, (p, _, _) in asked.items()})
    examinee = examinee_from_spec(args.examinee, questions=questions,
                                  max_new_tokens=args.max_new_tokens,
                                  temperature=args.temperature, protocol=protocols or None)
    for _, _, note in asked.values():
        _say(note)
    suite = SuiteTest(banks, max_items=args.max_items, target_se=args.target_se,
                      **_test_options(args))
    result, wall = _run(suite, examinee, args, ", across the banks")
    if args.plot:
        require("plots", "--plot")
        from ..cat.plotting import save_suite_plot  # matplotlib: only when a plot is asked for

        save_suite_plot(result, args.plot, title=f"{examinee.name}: suite "
                        f"{', '.join(names)}")
        progress(f"plot saved to {args.plot}")
    lo, hi = result.suite_accuracy_interval
    human = "\n".join(
        [f"{examinee.name}: suite accuracy {result.suite_accuracy:.3f} (95% interval "
         f"{lo:.3f}-{hi:.3f}) from {result.n_items} questions (stopped: {result.stop_reason})"]
        + [f"  {name:22s} {r.expected_accuracy:.3f}  {r.expected_accuracy_interval[0]:.3f}-"
           f"{r.expected_accuracy_interval[1]:.3f}  {r.n_items} questions"
           for name, r in result.banks.items()])
    payload = result.to_dict() | {"parallel": args.parallel, "wall_s": round(wall, 3)}
    if any(said is not None for _, said, _ in asked.values()):
        payload["protocol"] = {name: said for name, (_, said, _) in asked.items()}
    emit(args, payload, human)


def _run(test, examinee, args: argparse.Namespace, where: str = ""):
    """``test.run`` (an adaptive test or a suite) with the session, in-flight and timing lines
    on stderr; returns the result and the wall time in seconds."""
    if args.session and Path(args.session).exists():
        progress(f"resuming session {args.session}")
    if args.parallel > 1:
        progress(f"{args.parallel} questions in flight at once{where}")
    start = time.perf_counter()
    result = test.run(examinee, session=args.session, on_step=_show(), parallel=args.parallel)
    wall = time.perf_counter() - start
    cut = result.to_dict()["n_truncated"]
    progress(f"{result.n_items} questions in {wall:.1f} s ({args.parallel} in flight)"
             + (f"; {cut} replies cut at the token budget" if cut else ""))
    return result, wall
