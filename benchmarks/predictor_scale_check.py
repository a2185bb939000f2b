"""Does ``calibration.check_predictor_scale`` pass real predictions and refuse flipped ones?

    .venv/bin/python benchmarks/predictor_scale_check.py [--predictor PATH] [--models 3 5]

For each named bank with question text (``bank_items``) and each ``n`` of ``--models``: the first
``n`` models' answers, the plain 2PL fit (shared prior), the predictor's difficulties for the bank's
items on the pooled scale (no benchmark given: a new benchmark), and the check's statistics (rank
correlation, one-sided p, median shift) for the predictions as they are and negated (easiness in
place of difficulty). Beside them, how the EM converges with the predicted priors (iterations
and wall time of ``calibrate`` with ``item_priors``, against the shared prior). Writes
``predictor_scale_check.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import platform
from datetime import date
from pathlib import Path

import numpy as np
from adaptive_eval.amortized.predictor import DifficultyPredictor
from adaptive_eval.banks.items import bank_items, bank_responses
from adaptive_eval.irt.calibration import (
    MAX_SCALE_SHIFT,
    ItemPriorError,
    calibrate,
    check_predictor_scale,
    predicted_priors,
)
from adaptive_eval.irt.em import Priors, fit_em
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
BANKS = ("mmlu-pro", "mmlu-redux", "gsm8k", "math-l5", "cruxeval")


def passes(priors, question_ids, plain_b) -> bool:
    try:
        check_predictor_scale(priors, question_ids, plain_b)
    except ItemPriorError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictor", default=None, help="folder (default: embedded)")
    parser.add_argument("--models", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    predictor = DifficultyPredictor.from_pretrained(args.predictor)
    cache: dict = {}
    rows = []
    for name in BANKS:
        items = bank_items(name, SHARED).drop(columns="benchmark")
        priors = predicted_priors(items, predictor)
        data = bank_responses(name, SHARED, cache)
        for n in args.models:
            subset = data.drop_models(data.models[n:])
            plain = fit_em(subset, True, Priors.shared(subset.n_items, 2.0, 0.5))
            listed = np.isin(subset.question_ids, priors.index)
            ids = [q for q, keep in zip(subset.question_ids, listed) if keep]
            predicted = priors.loc[ids, "b"].to_numpy()
            rho = spearmanr(predicted, plain.b[listed], alternative="less")
            fits = [calibrate(subset, "2pl", item_priors=p, progress=lambda line: None)
                    for p in (None, priors)]
            rows.append(
                f"| {name} | {n} | {len(ids)} | {rho.statistic:+.3f} | {rho.pvalue:.2g} | "
                f"{np.median(predicted - plain.b[listed]):+.2f} | "
                f"{'pass' if passes(priors, subset.question_ids, plain.b) else 'REFUSED'} | "
                f"{'pass' if passes(-priors, subset.question_ids, plain.b) else 'refused'} | "
                + " | ".join(f"{f.n_iter} ({f.seconds:.2f} s)" for f in fits) + " |")
            print(rows[-1], flush=True)
    text = "\n".join([
        "# Predictor scale check on real banks",
        "",
        f"{date.today()}, {platform.machine()}, 2 shared cores. Script: "
        "`benchmarks/predictor_scale_check.py`; predictor: "
        f"`{args.predictor or 'models/difficulty-predictor (embedded)'}`, pooled scale (no "
        "benchmark name). The check refuses a significantly negative rank correlation "
        f"(one-sided p < 0.01) or a median shift beyond {MAX_SCALE_SHIFT:g}.",
        "",
        "| bank | models | items | rank corr. | p (negative) | median shift | as predicted | "
        "negated | EM iterations, shared prior | with predicted priors |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "predictor_scale_check.md").write_text(text)


if __name__ == "__main__":
    main()
