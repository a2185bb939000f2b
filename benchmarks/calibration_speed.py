"""Calibration speed: fit time, peak memory and held-out log-loss of ``calibrate``.

    .venv/bin/python benchmarks/calibration_speed.py --label after [--runs 5] \
        [--only mmlu-pro-2pl ...] [--out benchmarks/results]

Cases (the data is loaded and split before the clock starts; only ``calibrate`` is timed):

- ``mmlu-pro-2pl``, ``mmlu-pro-rasch``: MMLU-Pro (``../shared/data/mmlu_pro/responses.csv.gz``,
  23 models x 12,032 questions) under the held-out protocol of ``benchmarks/calibration.py``:
  a random 10% of the observed cells hidden (``np.random.default_rng(0).random(n) < 0.1``),
  the fit on the rest, each hidden cell scored with ``P = sigmoid(a (theta_EAP - b))``
  (log-loss, AUC).
- ``metabench-gsm8k-2pl``: metabench's GSM8K items (question ids ``gsm8k-*`` of
  ``../shared/data/metabench/responses.csv.gz``: thousands of models, 249 items), same protocol.
- ``scale-2pl``: ``benchmarks/calibration_scale.py``'s synthetic 2PL generator at 1,000 examinees
  x 100,000 items, 10% observed (10 million cells, a tenth of that benchmark's default case);
  recovery (Pearson r) of b, a and theta instead of a held-out split.

Fit time: the median wall time of ``--runs`` fits (``--scale-runs`` for the scale case), and
the median process CPU time beside it (the machine's cores are shared, so wall times vary).
Peak memory: one more fit under ``tracemalloc`` (the peak of what the fit allocates, numpy
arrays included; the input data is not counted), and the process's peak RSS at the end.
Item SEs: their medians, and on the synthetic case the share of true ``b`` within 1.96 SE, so
that a change in the SEs between two versions shows (``tests/test_calibration.py`` checks
their honesty).

Results merge into ``calibration_speed.json`` under ``--label`` (e.g. ``before``, measured with
``PYTHONPATH`` pointing at an older checkout's ``inference/`` folder, and ``after``);
``calibration_speed.md`` is rendered from every label in the JSON; a section headed
``## Reading (by hand)`` in an existing file is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import time
import tracemalloc
from datetime import date
from pathlib import Path

import adaptive_eval
import numpy as np
import pandas as pd
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.irt.calibration import calibrate
from adaptive_eval.irt.model import prob
from calibration_scale import synthetic

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
MMLU_PRO = SHARED / "mmlu_pro" / "responses.csv.gz"
METABENCH = SHARED / "metabench" / "responses.csv.gz"
HIDE_FRACTION, SEED = 0.1, 0  # as benchmarks/calibration.py
SCALE = (1000, 100_000, 0.1)
READING = "## Reading (by hand)"
CASES = ("mmlu-pro-2pl", "mmlu-pro-rasch", "metabench-gsm8k-2pl", "scale-2pl")


def log_loss(p: np.ndarray, y: np.ndarray, eps: float = 1e-12) -> float:
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """AUC-ROC as the Mann-Whitney statistic (ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(p)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def metabench(prefix: str) -> ResponseData:
    frame = pd.read_csv(METABENCH)
    return ResponseData.from_long(frame[frame["question_id"].str.startswith(prefix)],
                                  source=f"{METABENCH} ({prefix}*)")


def timed_fits(data: ResponseData, model: str, runs: int):
    """Median wall time of ``runs`` fits, the last fit, and tracemalloc's peak of one more."""
    seconds, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fit = calibrate(data, model, progress=lambda line: None)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    tracemalloc.start()
    calibrate(data, model, progress=lambda line: None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return fit, {"seconds": float(np.median(seconds)),
                 "seconds_all": [round(s, 3) for s in seconds],
                 "cpu_seconds": float(np.median(cpu)), "n_iter": fit.n_iter,
                 "converged": fit.converged, "fit_peak_mib": peak / 2**20}


def se_summary(fit) -> dict:
    bank = fit.bank
    out = {"b_se_median": float(np.median(bank.b_se))}
    if bank.model == "2pl":
        out["a_se_median"] = float(np.median(bank.a_se))
    return out


def heldout(data: ResponseData, model: str, runs: int) -> dict:
    hide = np.random.default_rng(SEED).random(data.n_observed) < HIDE_FRACTION
    fit, result = timed_fits(data.select(~hide), model, runs)
    theta = np.array([fit.abilities[m].theta for m in data.models])
    a = fit.bank.a if fit.bank.a is not None else np.ones(data.n_items)
    items = data.item_index[hide]
    p = prob(theta[data.model_index[hide]], fit.bank.b[items], a[items])
    y = data.correct[hide].astype(float)
    return {**result, "cells": data.n_observed, "models": data.n_models, "items": data.n_items,
            "hidden": int(hide.sum()), "log_loss": log_loss(p, y), "auc": auc(p, y),
            **se_summary(fit)}


def scale(runs: int) -> dict:
    examinees, items, observed = SCALE
    (theta, b, a), data = synthetic(examinees, items, observed)
    fit, result = timed_fits(data, "2pl", runs)
    est_theta = np.array([fit.abilities[m].theta for m in data.models])
    r = {name: float(np.corrcoef(est, true)[0, 1])
         for name, est, true in (("b", fit.bank.b, b), ("a", fit.bank.a, a),
                                 ("theta", est_theta, theta))}
    # SE honesty on synthetic data: share of true b inside +/- 1.96 SE
    cover = float(np.mean(np.abs(fit.bank.b - b) < 1.96 * fit.bank.b_se))
    return {**result, "cells": data.n_observed, "models": examinees, "items": items,
            "r": r, "b_coverage_95": cover, **se_summary(fit)}


def run_case(case: str, runs: int, scale_runs: int) -> dict:
    if case.startswith("mmlu-pro-"):
        return heldout(ResponseData.from_file(MMLU_PRO), case.rsplit("-", 1)[1], runs)
    if case == "metabench-gsm8k-2pl":
        return heldout(metabench("gsm8k-"), "2pl", runs)
    return scale(scale_runs)


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown(report: dict) -> str:
    labels = list(report)
    lines = [
        "# Calibration speed",
        "",
        "Produced by `benchmarks/calibration_speed.py` (raw numbers: `calibration_speed.json`). "
        "Fit time is `calibrate()` alone (data loaded and split beforehand): the median wall "
        "time of the runs listed, and the median process CPU time. Fit peak: tracemalloc's peak "
        "during one more fit (what the fit allocates; the input data is not counted). "
        "Held-out: 10% of the observed cells hidden (seed 0, as `benchmarks/calibration.py`), "
        "scored on the EAP abilities; the fit sees the other 90%.",
        "",
    ]
    for label in labels:
        meta = report[label]["meta"]
        lines.append(f"- **{label}**: {meta['date']}, {meta['machine']}, Python {meta['python']}, "
                     f"numpy {meta['numpy']}, package at commit {meta['commit']}"
                     f"{' (' + meta['note'] + ')' if meta.get('note') else ''}.")
    lines += ["", "| case | version | fit time | runs (s) | CPU time | EM iterations "
              "| fit peak MiB | held-out log-loss | AUC | median SE(b) | median SE(a) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for case in CASES:
        for label in labels:
            r = report[label]["cases"].get(case)
            if r is None:
                continue
            quality = (f"{r['log_loss']:.4f} | {r['auc']:.4f}" if "log_loss" in r else
                       f"r(b) {r['r']['b']:.4f}, r(a) {r['r']['a']:.4f}, r(theta) "
                       f"{r['r']['theta']:.4f} | b within 1.96 SE: {r['b_coverage_95']:.3f}")
            a_se = f"{r['a_se_median']:.4f}" if "a_se_median" in r else "–"
            lines.append(
                f"| {case} ({r['models']:,} x {r['items']:,}, {r['cells']:,} cells) | {label} | "
                f"{r['seconds']:.2f} s | {', '.join(f'{s:.2f}' for s in r['seconds_all'])} | "
                f"{r['cpu_seconds']:.2f} s | "
                f"{r['n_iter']}{'' if r['converged'] else ' (not converged)'} | "
                f"{r['fit_peak_mib']:.0f} | {quality} | {r['b_se_median']:.4f} | {a_se} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", default="after")
    parser.add_argument("--note", default="", help="a short note shown beside the label")
    parser.add_argument("--commit", help="the measured package's commit (default: HEAD)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale-runs", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=CASES)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "calibration_speed.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    entry = report.get(args.label, {"cases": {}})
    entry["meta"] = {"date": str(date.today()), "machine": f"{platform.machine()}, "
                     f"{os.cpu_count()} cores (shared: timings are noisy)",
                     "python": platform.python_version(), "numpy": np.__version__,
                     "commit": args.commit or commit(),
                     "package": str(Path(adaptive_eval.__file__).parent),
                     "note": args.note}
    for case in args.only or CASES:
        result = run_case(case, args.runs, args.scale_runs)
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        entry["cases"][case] = result
        print(case, json.dumps(result), flush=True)
        report[args.label] = entry
        path.write_text(json.dumps(report, indent=1))
        write_markdown(out / "calibration_speed.md", report)
    print(markdown(report))


def write_markdown(path: Path, report: dict) -> None:
    """Render the tables; keep a hand-written section (from ``READING`` on) of an earlier file."""
    kept = ""
    if path.exists():
        text = path.read_text()
        if READING in text:
            kept = "\n" + text[text.index(READING):]
    path.write_text(markdown(report) + kept)


if __name__ == "__main__":
    main()
