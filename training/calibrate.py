"""Calibrate the named item banks in ``models/banks/<name>`` from the shared response data.

    python training/calibrate.py --bank all --data_dir ../shared/data            # every bank
    python training/calibrate.py --bank gsm8k --data_dir ../shared/data [--push_to_hub]
    python training/calibrate.py --config training/configs/calibrate.yaml
    python training/calibrate.py --responses my.csv --items my_items.csv --out my-bank  # any data
    python training/calibrate.py --responses my.csv --items my_items.csv --predictor default \
        --out my-bank          # amortized: the items' predicted difficulties as their priors

Each bank goes through ``adaptive_eval.banks.build.build_bank``: held-out fit of Rasch and 2PL (the
lower held-out log-loss wins), held-out misfit (models left out in turn), the fit on all cells,
the items' categories, chance level and answer type, and the quality flags. For MMLU-Redux the
flags are checked against the human ``error_type`` annotations (precision and recall for
``wrong_groundtruth``) and the agreement goes into the card. The card states the source, the
licence, the models, the fit and the held-out misfit.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from adaptive_eval.amortized.predictor import DifficultyPredictor
from adaptive_eval.banks.build import BuiltBank, build_bank
from adaptive_eval.banks.catalog import CATALOG, BankInfo, bank_info
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.banks.tables import read_table
from adaptive_eval.hub.publish import publish
from transformers import HfArgumentParser

SOURCES = {
    "mmlu_pro": "the MMLU-Pro authors' published evaluation outputs (TIGER-AI-Lab/MMLU-Pro, "
                "5-shot chain-of-thought; Apache-2.0)",
    "zeroeval": "the public task summaries of the ZeroEval project (WildEval/ZeroEval; zero-shot "
                "chain of thought; Apache-2.0); MMLU-Redux question annotations from "
                "aryopg/mmlu-redux (CC BY 4.0)",
    "metabench": "metabench (adkipnis/metabench, the Open LLM Leaderboard's per-question results "
                 "on its informative subsets; CC BY-NC-SA 4.0: this bank is licensed alike and is "
                 "not embedded in the adaptive-eval wheel)",
    "graded/livecodebench": "the LiveCodeBench leaderboard site's per-problem pass@1 of code "
                            "models (LiveCodeBench/livecodebench.github.io, "
                            "src/mocks/performances_generation.json, code-generation scenario, "
                            "the 400 problems every model has); CC BY-SA 4.0: this bank is "
                            "licensed alike and is not embedded in the adaptive-eval wheel",
    "graded/alpacaeval": "AlpacaEval 2.0's per-instruction judgments (tatsu-lab/alpaca_eval, "
                         "results/<model>/weighted_alpaca_eval_gpt4_turbo/annotations.json: the "
                         "judge's probability that the model's answer beats GPT-4 Turbo's "
                         "reference); data licence CC BY-NC 4.0: this bank is licensed alike "
                         "and is not embedded in the adaptive-eval wheel",
}


#: Items-file columns that are a bank's categories where the file has no ``category`` column
CATEGORY_COLUMNS = {"livecodebench": "difficulty", "alpacaeval": "dataset"}


@dataclass
class CalibrateArguments:
    bank: str | None = field(default=None, metadata={
        "help": f"Named bank to build ({', '.join(CATALOG)}), or 'all'."})
    data_dir: str = field(default="../shared/data", metadata={
        "help": "Folder with the mmlu_pro/, zeroeval/, metabench/ and graded/ response "
                "data."})
    responses: str | None = field(default=None, metadata={
        "help": "Response data of a bank not in the catalog (long/wide/lm-eval)."})
    items: str | None = field(default=None, metadata={
        "help": "Items file (question_id, category, options, answer_type...) for --responses."})
    out: str | None = field(default=None, metadata={
        "help": "Bank folder to write (default models/banks/<name>)."})
    model: str = field(default="auto", metadata={"help": "IRT model: rasch, 2pl or auto."})
    predictor: str | None = field(default=None, metadata={
        "help": "Difficulty predictor (default: the embedded one, or a folder / Hub id): the "
                "items' predicted difficulties become their priors (needs their text)."})
    heldout_fraction: float = field(default=0.1, metadata={"help": "Share of cells hidden."})
    misfit_models: int = field(default=50, metadata={
        "help": "Models left out in turn to measure the held-out misfit (0 skips)."})
    seed: int = field(default=0, metadata={"help": "Seed of the held-out split."})
    push_to_hub: bool = field(default=False, metadata={"help": "Publish the bank after saving."})
    hub_model_id: str | None = field(default=None, metadata={
        "help": "Hub dataset repo ORG/NAME (default: the catalog's repo id)."})


def load_named(info: BankInfo, data_dir: Path) -> tuple[ResponseData, pd.DataFrame]:
    """The responses and items of a catalog bank, from ``data_dir/<source>``."""
    folder = data_dir / info.source
    responses = read_table(folder / "responses.csv.gz")
    items = read_table(folder / "items.csv.gz")
    if info.prefix:
        responses = responses[responses["question_id"].str.startswith(info.prefix)]
        items = items[items["question_id"].str.startswith(info.prefix)]
    if "category" not in items.columns and info.name in CATEGORY_COLUMNS:
        items = items.assign(category=items[CATEGORY_COLUMNS[info.name]])
    source = f"{folder / 'responses.csv.gz'} ({info.name})"
    return ResponseData.from_long(responses, source=source), items


def flag_agreement(built: BuiltBank, items: pd.DataFrame) -> dict | None:
    """Precision and recall of the quality flags against human ``error_type`` annotations
    (``wrong_groundtruth``), over the annotated items; None without annotations."""
    if "error_type" not in items.columns:
        return None
    annotated = items[items["error_type"].astype(str).str.strip() != ""]
    if annotated.empty:
        return None
    wrong = set(annotated.loc[annotated["error_type"] == "wrong_groundtruth", "question_id"])
    flagged = set(built.flags) & set(annotated["question_id"])
    hits = len(flagged & wrong)
    return {"annotated": len(annotated), "wrong_groundtruth": len(wrong),
            "flagged": len(flagged), "flagged_and_wrong": hits,
            "precision": hits / len(flagged) if flagged else None,
            "recall": hits / len(wrong) if wrong else None,
            "base_rate": len(wrong) / len(annotated)}


def card_text(built: BuiltBank, data: ResponseData, info: BankInfo | None,
              agreement: dict | None) -> dict:
    bank, heldout = built.bank, built.heldout
    models = ", ".join(data.models[:60]) + (f" and {data.n_models - 60} more"
                                              if data.n_models > 60 else "")
    where = SOURCES.get(info.source, "") if info else ""
    what = ("Per-question graded scores in [0, 1] (a replay bank: scoring a live model needs "
            "the benchmark's judge or code sandbox)" if data.graded
            else "Per-question correctness")
    description = (
        f"{what} of {data.n_models} models on "
        f"{info.benchmark if info else 'the benchmark'} ({data.n_items} questions, answer type "
        f"`{bank.metadata.get('answer_type', 'unknown')}`), {data.n_observed} observed responses, "
        f"missing cells left missing; from {where or 'the given response file'}. "
        f"Licence: {bank.metadata.get('license', 'see the source')}. Models: {models}.")
    lines = ["| model | held-out log-loss | AUC |", "|---|---|---|"] + [
        f"| {m}{' (chosen)' if m == bank.model else ''} | {h['log_loss']:.4f} | {h['auc']:.4f} |"
        for m, h in heldout.items()]
    if data.graded:  # the fractional log-loss, the MAE of the predicted score, AUC at 0.5
        lines = ["| model | held-out fractional log-loss | MAE | AUC (score >= 0.5) |",
                 "|---|---|---|---|"] + [
            f"| {m}{' (chosen)' if m == bank.model else ''} | {h['log_loss']:.4f} | "
            f"{h['mae']:.4f} | {h['auc']:.4f} |" for m, h in heldout.items()]
    text = (f"Hiding a random {next(iter(heldout.values()))['fraction']:.0%} of the observed cells "
            "and fitting on the rest:\n\n" + "\n".join(lines)) if heldout else ""
    if built.misfit_errors:
        errors = built.misfit_errors
        text += (f"\n\nLeaving {len(errors)} models out of the calibration in turn, the bank's "
                 "predicted accuracy for the left-out model, at the ability from all its answers, "
                 f"is off by {bank.metadata['heldout_misfit_sd']:.4f} (RMS; largest "
                 f"{max(errors.values(), key=abs):+.4f}); adaptive tests widen their intervals "
                 "by it.")
    text += (f"\n\n**Quality flags**: {len(built.flags)} items have answers that run against "
             "ability or a slope near zero (possibly broken: a wrong key, an ambiguous question); "
             "their ids are in `config.json` (`metadata.flags`).")
    if agreement:
        text += (f" Against MMLU-Redux's human annotations ({agreement['annotated']} annotated "
                 f"items, {agreement['wrong_groundtruth']} with a wrong key): precision "
                 f"{agreement['precision'] or 0:.2f}, recall {agreement['recall'] or 0:.2f} "
                 f"(base rate {agreement['base_rate']:.3f}).")
    title = f"{info.benchmark if info else 'Item'} bank ({bank.model})"
    return {"title": title, "data_description": description, "heldout_fit": text}


def build_one(args: CalibrateArguments, info: BankInfo | None) -> None:
    if info is not None:
        data, items = load_named(info, Path(args.data_dir))
        metadata = {"name": info.name, "benchmark": info.benchmark, "license": info.license}
        if info.chance is not None:
            metadata["chance_accuracy"] = info.chance
        answer_type, out = info.answer_type, Path(args.out or f"models/banks/{info.name}")
    else:
        data = ResponseData.from_file(args.responses)
        items = read_table(args.items) if args.items else None
        metadata, answer_type, out = {}, None, Path(args.out or "bank")
    _stderr(f"{info.name if info else args.responses}: {data}")
    misfit = args.misfit_models or 0
    predictor = None
    if args.predictor:
        predictor = DifficultyPredictor.from_pretrained(
            None if args.predictor == "default" else args.predictor)
    built = build_bank(data, args.model, items=items, predictor=predictor,
                       answer_type=answer_type,
                       misfit_models=misfit, heldout_fraction=args.heldout_fraction,
                       seed=args.seed, metadata=metadata, progress=_stderr)
    agreement = flag_agreement(built, items) if items is not None else None
    if agreement:
        built.bank.metadata["flag_agreement"] = agreement
        _stderr(f"flags against human annotations: {agreement}")
    repo_id = args.hub_model_id or (info.repo_id if info else None)
    built.bank.save(out, card_variables=card_text(built, data, info, agreement)
                    | {"repo_id": repo_id})
    _stderr(f"saved {built.bank} to {out}")
    if args.push_to_hub:
        if not repo_id:
            sys.exit("--push_to_hub needs --hub_model_id ORG/NAME")
        _stderr(publish(out, repo_id))


def main(args: CalibrateArguments) -> None:
    if (args.bank is None) == (args.responses is None):
        sys.exit("give --bank NAME|all or --responses FILE")
    if args.responses:
        build_one(args, None)
        return
    names = list(CATALOG) if args.bank == "all" else [args.bank]
    for name in names:
        build_one(args, bank_info(name))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    parser = HfArgumentParser(CalibrateArguments)
    if len(sys.argv) == 3 and sys.argv[1] == "--config":
        (arguments,) = parser.parse_yaml_file(sys.argv[2])
    else:
        (arguments,) = parser.parse_args_into_dataclasses()
    main(arguments)
