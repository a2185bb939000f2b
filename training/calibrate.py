"""Calibrate the MMLU-Pro item bank shipped in ``models/mmlu-pro-bank``.

    python training/calibrate.py --responses ../shared/data/mmlu_pro/responses.csv.gz \
        --items ../shared/data/mmlu_pro/items.csv.gz --out models/mmlu-pro-bank [--push_to_hub]

1. Held-out fit: hide a random 10% of the observed cells (seed 0), fit on the rest, and report
   AUC-ROC and log-loss of P(correct) on the hidden cells (these numbers go into the card).
2. Held-out misfit: leave each model out, calibrate on the others, and measure the error of the
   bank's predicted accuracy for the left-out model at the ability from all its answers; their
   RMS is stored as ``heldout_misfit_sd`` and widens adaptive tests' intervals
   (``adaptive_eval/misfit.py``).
3. Fit on all cells and save the bank: parameters, their SEs, the categories of the questions
   (no question text), the calibration models' abilities, and the dataset card.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from adaptive_eval.calibration import calibrate
from adaptive_eval.data import ResponseData
from adaptive_eval.irt import prob
from adaptive_eval.misfit import heldout_errors, record_heldout_errors
from adaptive_eval.questions import chance_accuracy, load_categories
from transformers import HfArgumentParser

DATA_DESCRIPTION = (
    "Per-question correctness of {n_models} public LLMs on MMLU-Pro ({n_items} ten-option "
    "multiple-choice questions, 14 categories; TIGER-Lab/MMLU-Pro, Apache-2.0), from the MMLU-Pro "
    "authors' published evaluation outputs (5-shot chain-of-thought); {n_observed} observed "
    "responses, missing cells left missing. Models: {models}."
)


@dataclass
class CalibrateArguments:
    responses: str = field(
        metadata={"help": "Response data (long CSV/parquet/JSONL, wide, lm-eval)."}
    )
    out: str = field(default="models/mmlu-pro-bank", metadata={"help": "Bank folder to write."})
    items: str | None = field(
        default=None, metadata={"help": "Items file with question_id and category columns."}
    )
    model: str = field(default="2pl", metadata={"help": "IRT model: rasch or 2pl."})
    heldout_fraction: float = field(default=0.1, metadata={"help": "Share of cells hidden."})
    seed: int = field(default=0, metadata={"help": "Seed of the held-out split."})
    push_to_hub: bool = field(default=False, metadata={"help": "Publish the bank after saving."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub dataset repo ORG/NAME."})


def heldout_fit(data: ResponseData, model: str, fraction: float, seed: int) -> dict:
    """Fit on all but a random ``fraction`` of observed cells; score P(correct) on the rest."""
    from sklearn.metrics import log_loss, roc_auc_score

    hide = np.random.default_rng(seed).random(data.n_observed) < fraction
    fit = calibrate(data.select(~hide), model, progress=_stderr)
    theta = np.array([fit.abilities[m].theta for m in data.models])
    items = data.item_index[hide]
    p = prob(theta[data.model_index[hide]], fit.bank.b[items], fit.bank.a[items])
    y = data.correct[hide]
    return {"auc": float(roc_auc_score(y, p)), "log_loss": float(log_loss(y, p)),
            "n_hidden": int(hide.sum()), "seed": seed, "fraction": fraction,
            "seconds": round(fit.seconds, 2)}


def main(args: CalibrateArguments) -> None:
    data = ResponseData.from_file(args.responses)
    _stderr(f"{data}")
    score = heldout_fit(data, args.model, args.heldout_fraction, args.seed)
    _stderr(f"held-out fit: {score}")
    category = load_categories(args.items) if args.items else None
    errors = heldout_errors(data, args.model, category, progress=_stderr)
    fit = calibrate(data, args.model, progress=_stderr)
    bank = fit.bank
    if category:
        bank.assign_categories(category)
    bank.metadata["heldout"] = score
    if args.items and (chance := chance_accuracy(args.items, bank.ids)) is not None:
        bank.metadata["chance_accuracy"] = chance
    record_heldout_errors(bank, errors)
    heldout = (
        f"Hiding a random {score['fraction']:.0%} of the observed cells (seed {score['seed']}, "
        f"{score['n_hidden']} cells) and fitting on the rest: held-out AUC-ROC "
        f"**{score['auc']:.4f}**, log-loss **{score['log_loss']:.4f}**.\n\n"
        "Leaving each model out of the calibration in turn, the bank's "
        "predicted accuracy for the left-out model, at the ability estimated from all its answers, "
        f"is off by {bank.metadata['heldout_misfit_sd']:.4f} (RMS over models; largest "
        f"{max(errors.values(), key=abs):+.4f}): a one-dimensional model of a 14-subject "
        "benchmark cannot do better for a new model, so adaptive tests widen their intervals by it."
    )
    description = DATA_DESCRIPTION.format(
        n_models=data.n_models, n_items=data.n_items, n_observed=data.n_observed,
        models=", ".join(data.models),
    )
    bank.save(args.out, card_variables={
        "title": "MMLU-Pro item bank (2PL)" if args.model == "2pl" else "MMLU-Pro item bank",
        "data_description": description, "heldout_fit": heldout, "repo_id": args.hub_model_id,
    })
    _stderr(f"saved {bank} to {args.out}")
    if args.push_to_hub:
        from adaptive_eval.hub import publish

        if not args.hub_model_id:
            sys.exit("--push_to_hub needs --hub_model_id ORG/NAME")
        _stderr(publish(args.out, args.hub_model_id))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    (arguments,) = HfArgumentParser(CalibrateArguments).parse_args_into_dataclasses()
    main(arguments)
