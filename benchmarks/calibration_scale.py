"""Calibration at scale: 1,000 examinees x 1,000,000 items, 10% of the cells observed.

    .venv/bin/python benchmarks/calibration_scale.py [--examinees 1000] [--items 1000000] \
        [--observed 0.1] [--model 2pl] [--out benchmarks/results]

Synthetic 2PL data (theta ~ N(0, 1), b ~ N(0, 1), a ~ LogNormal(0, 0.3), seed 0); each cell is
observed independently with probability ``--observed`` (about 100 million cells by default).
Reports the wall time of ``calibrate`` (not the data generation), the peak RSS of the process,
the number of EM iterations, and the recovery (Pearson r, RMSE) of b, a and theta. Writes
``calibration_scale.md`` and ``.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from datetime import date
from pathlib import Path

import numpy as np
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.irt.calibration import calibrate


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(n_examinees: int, n_items: int, observed: float, seed: int = 0):
    """Known parameters and the observed cells, generated one examinee at a time."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, n_examinees)
    b = rng.normal(0.0, 1.0, n_items)
    a = rng.lognormal(0.0, 0.3, n_items)
    j, i, y = [], [], []
    for examinee in range(n_examinees):
        items = np.flatnonzero(rng.random(n_items) < observed).astype(np.int32)
        p = 1 / (1 + np.exp(-a[items] * (theta[examinee] - b[items])))
        j.append(np.full(len(items), examinee, np.int32))
        i.append(items)
        y.append((rng.random(len(items)) < p).astype(np.uint8))
    data = ResponseData(models=[f"m{k}" for k in range(n_examinees)],
                        question_ids=[f"q{k}" for k in range(n_items)],
                        model_index=np.concatenate(j), item_index=np.concatenate(i),
                        correct=np.concatenate(y))
    return (theta, b, a), data


def recovery(estimate, truth) -> dict:
    return {"r": float(np.corrcoef(estimate, truth)[0, 1]),
            "rmse": float(np.sqrt(np.mean((estimate - truth) ** 2)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examinees", type=int, default=1000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--observed", type=float, default=0.1)
    parser.add_argument("--model", default="2pl", choices=["rasch", "2pl"])
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    start = time.perf_counter()
    (theta, b, a), data = synthetic(args.examinees, args.items, args.observed)
    generated = time.perf_counter() - start
    before = peak_mib()
    print(f"{data} generated in {generated:.0f} s, peak RSS {before:.0f} MiB", flush=True)
    fit = calibrate(data, args.model, progress=lambda line: print(line, flush=True))
    est_theta = np.array([fit.abilities[m].theta for m in data.models])
    result = {
        "date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "examinees": args.examinees, "items": args.items, "observed_share": args.observed,
        "observed_cells": data.n_observed, "model": args.model,
        "seconds": round(fit.seconds, 1), "n_iter": fit.n_iter, "converged": fit.converged,
        "peak_rss_mib_before_fit": round(before), "peak_rss_mib": round(peak_mib()),
        "b": recovery(fit.bank.b, b), "theta": recovery(est_theta, theta),
    }
    if args.model == "2pl":
        result["a"] = recovery(fit.bank.a, a)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration_scale.json").write_text(json.dumps(result, indent=1))
    lines = [
        "# Calibration at scale",
        "",
        f"`benchmarks/calibration_scale.py`, {result['date']}, {result['machine']}, Python "
        f"{platform.python_version()}. Synthetic {args.model.upper()}: {args.examinees:,} "
        f"examinees x {args.items:,} items, each cell observed with probability "
        f"{args.observed} ({data.n_observed:,} observed cells).",
        "",
        "| fit time | EM iterations | converged | peak RSS (before the fit) | r(b) | RMSE(b) | "
        "r(a) | r(theta) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {result['seconds']:.0f} s | {fit.n_iter} | {fit.converged} | "
        f"{result['peak_rss_mib'] / 1024:.1f} GiB ({before / 1024:.1f} GiB) | "
        f"{result['b']['r']:.4f} | {result['b']['rmse']:.3f} | "
        f"{result.get('a', {}).get('r', float('nan')):.4f} | {result['theta']['r']:.4f} |",
    ]
    (out / "calibration_scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
