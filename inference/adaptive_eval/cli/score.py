"""``adaptive-eval score`` and ``adaptive-eval prompt``: a bank's calibration protocol applied
to raw outputs (its answer-reading rule) and to one question (its exact request)."""

from __future__ import annotations

import argparse
import json

from ..banks.scoring import bank_protocol, gold_questions, read_outputs, score_outputs
from ..errors import InputError
from .common import emit, progress


def cmd_score(args: argparse.Namespace) -> None:
    protocol = bank_protocol(args.bank)
    if not protocol.live:
        raise InputError(f"bank {args.bank!r} has no gold answers ({protocol.benchmark}): its "
                         "outputs cannot be scored here (replay only)")
    outputs = read_outputs(args.outputs)
    questions = gold_questions(args.bank, protocol, args.items, outputs["question_id"])
    scored = score_outputs(outputs, protocol, questions, rule=args.rule)
    rule = args.rule or protocol.reader
    if args.out:
        scored.to_csv(args.out, index=False)
        progress(f"scored outputs written to {args.out}")
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
    emit(args, payload, human)


def cmd_prompt(args: argparse.Namespace) -> None:
    protocol = bank_protocol(args.bank)
    questions = gold_questions(args.bank, protocol, args.items, [args.question_id])
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
    emit(args, payload, human)
