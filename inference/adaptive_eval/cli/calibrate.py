"""``adaptive-eval calibrate`` and ``adaptive-eval banks``."""

from __future__ import annotations

import argparse

from ..banks.build import build_bank
from ..banks.catalog import list_banks
from ..banks.responses import ResponseData
from ..errors import InputError
from ..extras import require
from .common import emit, progress


def cmd_calibrate(args: argparse.Namespace) -> None:
    if args.max_iter < 1:
        raise InputError(f"--max-iter {args.max_iter}: expected >= 1")
    if args.misfit_models < 0:
        raise InputError(f"--misfit-models {args.misfit_models}: expected >= 0")
    if args.predictor and not args.items:
        raise InputError("--predictor reads the question text: give --items QUESTIONS too")
    data = ResponseData.from_file(args.responses, threshold=args.threshold)
    progress(f"read {data} from {args.responses}")
    predictor = None
    if args.predictor:
        require("predictor", "--predictor")
        from ..amortized.predictor import (
            DifficultyPredictor,  # torch, transformers: only when predicting
        )

        predictor = DifficultyPredictor.from_pretrained(
            None if args.predictor == "default" else args.predictor)
    built = build_bank(data, args.model, items=args.items, predictor=predictor,
                       answer_type=args.answer_type, misfit_models=args.misfit_models,
                       progress=progress, max_iter=args.max_iter)
    fit, bank = built.fit, built.bank
    if not fit.converged:
        progress(f"warning: the calibration did not converge in {fit.n_iter} EM iterations (the "
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
    emit(args, payload, human)


def cmd_banks(args: argparse.Namespace) -> None:
    rows = list_banks()
    wide = max(len(r["benchmark"]) for r in rows)  # the benchmark column fits its longest name
    human = "\n".join(
        [f"{'name':22s} {'benchmark':{wide}s} {'items':>6s} {'models':>6s} {'answer type':15s} "
         f"{'licence':16s} {'live':6s} {'questions from':42s} where"]
        + [f"{r['name']:22s} {r['benchmark']:{wide}s} {r['n_items'] or '-':>6} "
           f"{r['n_models'] or '-':>6} {r['answer_type']:15s} {r['license']:16s} "
           f"{'yes' if r['live'] else 'replay':6s} {_questions_from(r['questions']):42s} "
           f"{r['path'] or 'Hub: ' + r['repo_id']}" for r in rows])
    emit(args, rows, human)


def _questions_from(source: dict | None) -> str:
    if source is None:
        return "-"
    config = "" if source["config"] == "default" else f" {source['config']}"
    return f"{source['dataset']}{config} ({source['split']})"
