"""Online calibration: ``ItemBank.update`` with new models' answers against a full refit.

    .venv/bin/python benchmarks/online_calibration.py [--banks mmlu-pro gsm8k ...] [--splits 5]
        [--new-models 5] [--out benchmarks/results]

Protocol, per bank (the responses of ``../shared/data/<source>`` whose question ids carry the
bank's prefix, ``banks.CATALOG``) and per split (``np.random.default_rng(split)``):

1. ``--new-models`` models drawn at random are the *new* ones; a random 20% of each new model's
   answers are hidden (the test cells), the other 80% are its *training* answers.
2. ``base = calibrate(old models)`` (2PL); then, timed,
   ``updated = base.update(new training answers)`` and
   ``refit = calibrate(old models + new training answers)``.
3. Each of the three banks scores the test cells: a new model's ability is the EAP (prior
   N(0, 1), grid of ``estimation.GRID``) from its training answers under that bank's items,
   then ``P = sigmoid(a (theta - b))`` on its hidden cells: log-loss and AUC. ``base`` is the
   bank without the new answers (what adaptive testing uses until a recalibration).
4. Agreement of ``updated`` with ``refit`` on the items the new models answered: RMS and
   largest ``|b_updated - b_refit| / se_refit``. The refit also moves the scale a little (the
   abilities' N(0, 1) now covers the new models too), which this includes.

Writes ``online_calibration.json`` and ``online_calibration.md`` under ``--out``; a section
headed ``## Reading (by hand)`` in an existing ``online_calibration.md`` is kept.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from adaptive_eval.banks.items import bank_responses
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.irt.calibration import calibrate
from adaptive_eval.irt.estimation import GRID
from adaptive_eval.irt.model import prob
from scipy.stats import mannwhitneyu

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
TEST_FRACTION = 0.2
READING = "## Reading (by hand)"
QUIET = {"progress": lambda line: None}


def eap_theta(bank, ids: list[str], j: np.ndarray, y: np.ndarray, n_models: int) -> np.ndarray:
    """Per model, the EAP of theta on ``GRID`` under N(0, 1) from its answers (``j``, ``ids``,
    ``y``) to ``bank``'s items."""
    k = bank.index(ids)
    theta = np.zeros(n_models)
    for model in np.unique(j):
        mine = j == model
        p = np.clip(prob(GRID[:, None], bank.b[k[mine]], bank.a[k[mine]]), 1e-12, 1 - 1e-12)
        log_post = np.where(y[mine].astype(bool), np.log(p), np.log1p(-p)).sum(1) - GRID**2 / 2
        w = np.exp(log_post - log_post.max())
        theta[model] = (w * GRID).sum() / w.sum()
    return theta


def score(bank, train: ResponseData, test: ResponseData) -> dict:
    """Log-loss and AUC of ``bank`` on ``test``'s cells, abilities from ``train``'s."""
    ids = train.question_ids
    theta = eap_theta(bank, [ids[i] for i in train.item_index], train.model_index,
                      train.correct, train.n_models)
    k = bank.index([ids[i] for i in test.item_index])
    p = np.clip(prob(theta[test.model_index], bank.b[k], bank.a[k]), 1e-9, 1 - 1e-9)
    y = test.correct.astype(bool)
    return {"log_loss": float(-np.mean(np.where(y, np.log(p), np.log1p(-p)))),
            "auc": float(mannwhitneyu(p[y], p[~y]).statistic / (y.sum() * (~y).sum()))}


def one_split(data: ResponseData, n_new: int, split: int) -> dict:
    rng = np.random.default_rng(split)
    new = sorted(rng.choice(data.models, n_new, replace=False).tolist())
    is_new = np.isin(np.array(data.models)[data.model_index], new)
    hidden = is_new & (rng.random(data.n_observed) < TEST_FRACTION)
    old = data.drop_models(new)
    new_train = data.select(is_new & ~hidden)
    new_test = data.select(hidden)
    base = calibrate(old, "2pl", **QUIET).bank
    start = time.perf_counter()
    updated = base.update(new_train)
    update_seconds = time.perf_counter() - start
    start = time.perf_counter()
    refit = calibrate(data.select(~hidden), "2pl", **QUIET).bank
    refit_seconds = time.perf_counter() - start
    touched = updated.index(sorted({new_train.question_ids[i] for i in new_train.item_index}))
    z = (updated.b[touched] - refit.b[touched]) / refit.b_se[touched]
    return {
        "new_models": new, "n_new_train_cells": new_train.n_observed,
        "n_test_cells": new_test.n_observed, "n_touched_items": len(touched),
        "base": score(base, new_train, new_test), "update": score(updated, new_train, new_test),
        "refit": score(refit, new_train, new_test),
        "update_seconds": update_seconds, "refit_seconds": refit_seconds,
        "b_gap_rms_se": float(np.sqrt(np.mean(z**2))), "b_gap_max_se": float(np.abs(z).max()),
    }


def summarise(name: str, data: ResponseData, splits: list[dict]) -> dict:
    """Means over the splits (the largest b gap: the largest)."""
    means = {f"{which}_{metric}": float(np.mean([s[which][metric] for s in splits]))
             for which in ("base", "update", "refit") for metric in ("log_loss", "auc")}
    for key in ("update_seconds", "refit_seconds", "b_gap_rms_se", "n_touched_items"):
        means[key] = float(np.mean([s[key] for s in splits]))
    return {"bank": name, "n_models": data.n_models, "n_items": data.n_items,
            "n_observed": data.n_observed, "splits": len(splits), **means,
            "b_gap_max_se": float(max(s["b_gap_max_se"] for s in splits))}


def render(results: dict) -> str:
    meta = results["meta"]
    lines = [
        "# Online calibration: `ItemBank.update` against a full refit",
        "",
        f"{meta['date']}, {meta['machine']} (cores shared with other jobs: wall times vary), "
        f"Python {meta['python']}, numpy {meta['numpy']}. Script: "
        "`benchmarks/online_calibration.py` (protocol in its docstring): per bank, "
        f"{meta['splits']} splits; {meta['new_models']} models drawn at random are new, 20% of "
        "their answers hidden; the 2PL bank of the other models (*base*) is updated with the "
        "new models' remaining answers (*update*) or recalibrated on everything but the hidden "
        "cells (*refit*). Scores on the hidden cells, the new models' abilities by EAP from "
        "their other answers under each bank's items. Means over splits.",
        "",
        "| bank | models | items | log-loss base | update | refit | AUC base | update | refit "
        "| update s | refit s | b gap RMS (SE) | b gap max (SE) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["banks"]:
        lines.append(
            f"| {r['bank']} | {r['n_models']} | {r['n_items']} | {r['base_log_loss']:.4f} | "
            f"{r['update_log_loss']:.4f} | {r['refit_log_loss']:.4f} | {r['base_auc']:.4f} | "
            f"{r['update_auc']:.4f} | {r['refit_auc']:.4f} | {r['update_seconds']:.3f} | "
            f"{r['refit_seconds']:.3f} | {r['b_gap_rms_se']:.3f} | {r['b_gap_max_se']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--banks", nargs="+",
                        default=["mmlu-pro", "mmlu-redux", "gsm8k", "metabench-gsm8k"])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--new-models", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    cache: dict[str, pd.DataFrame] = {}
    banks = []
    for name in args.banks:
        data = bank_responses(name, SHARED, cache)
        splits = [one_split(data, args.new_models, split) for split in range(args.splits)]
        banks.append(summarise(name, data, splits) | {"per_split": splits})
        print(json.dumps({k: v for k, v in banks[-1].items() if k != "per_split"}), flush=True)
    results = {"meta": {"date": str(date.today()), "machine": f"{platform.machine()}, "
                        f"{platform.processor() or 'cpu'}, 2 cores",
                        "python": platform.python_version(), "numpy": np.__version__,
                        "splits": args.splits, "new_models": args.new_models},
               "banks": banks}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "online_calibration.json").write_text(json.dumps(results, indent=1))
    report = args.out / "online_calibration.md"
    reading = report.read_text().partition(READING) if report.exists() else ("", "", "")
    report.write_text(render(results) + (f"\n{READING}{reading[2]}" if reading[1] else ""))


if __name__ == "__main__":
    main()
