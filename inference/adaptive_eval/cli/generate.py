"""``adaptive-eval predict``, ``generate`` and ``publish``: the amortized parts (difficulty
predictor, question generator) and their artifacts on the Hub."""

from __future__ import annotations

import argparse

from ..amortized.verify import DEFAULT_SOLVER, Verifier
from ..banks.bank import ItemBank
from ..banks.questions import load_questions, question_text
from ..errors import InputError
from ..extras import require
from .common import emit, progress


def cmd_predict(args: argparse.Namespace) -> None:
    require("predictor", "adaptive-eval predict")
    # the predictor loads torch and transformers: imported only when predicting
    from ..amortized.predicted_items import (  # torch, transformers: only when predicting
        add_predicted,
        predict_for_bank,
        scale_note,
    )
    from ..amortized.predictor import DifficultyPredictor

    predictor = DifficultyPredictor.from_pretrained(args.predictor)
    ids, texts, categories = _predict_inputs(args)
    bank = ItemBank.load(args.bank) if args.bank else None
    progress(scale_note(predictor, bank, args.benchmark))
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
        progress(f"saved {extended!r} to {args.out}")
    human = "\n".join(f"{r['difficulty']:+.2f} +/- {r['se']:.2f}  {r['text'][:90]}"
                      for r in payload)
    emit(args, payload, human)


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


def cmd_generate(args: argparse.Namespace) -> None:
    require("generator", "adaptive-eval generate")
    # the generator loads torch and transformers: imported only when generating
    from ..amortized.backends import load_generator  # torch: only when generating
    from ..amortized.generator import check_difficulty

    try:
        check_difficulty(args.difficulty)
    except ValueError as err:  # check_difficulty's only error: the value is out of range
        raise InputError(f"--difficulty: {err}") from None
    for flag, value in (("-n", args.n), ("--best-of", args.best_of), ("--repeats", args.repeats)):
        if value is not None and value < 1:
            raise InputError(f"{flag} {value}: expected >= 1")
    solvers = args.verify_with or ([DEFAULT_SOLVER] if args.verify else [])
    verifier = Verifier(solvers, repeats=args.repeats) if solvers else None
    generator = load_generator(args.backend, args.bank, args.items, args.generator,
                               progress=progress)
    items = generator.generate(difficulty=args.difficulty, n=args.n, category=args.category,
                               best_of=args.best_of, seed=args.seed, verifier=verifier,
                               keep_rejected=args.keep_rejected, progress=progress)
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
    emit(args, payload, human)


def cmd_publish(args: argparse.Namespace) -> None:
    require("predictor", "adaptive-eval publish")
    require("generator", "adaptive-eval publish")
    from ..hub.publish import artifact_kind, publish  # loads every artifact kind (torch)

    url = publish(args.model_dir, args.repo_id, private=args.private,
                  revision_note=args.revision_note, token=args.token)
    kind = artifact_kind(args.model_dir)
    emit(args, {"repo_id": args.repo_id, "commit_url": url, "kind": kind},
         f"published {kind} {args.model_dir} to {args.repo_id}: {url}")
