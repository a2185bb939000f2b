"""Adaptive testing against random subsets on every named bank, on held-out models.

    .venv/bin/python benchmarks/banks.py [--banks gsm8k,math-l5] [--quick] [--repeats 2] \
        [--data ../shared/data] [--out benchmarks/results]

For each bank of ``adaptive_eval.banks.catalog.CATALOG`` (its responses: ``<data>/<source>/
responses.csv.gz``, question ids starting with the bank's prefix):

- zeroeval / mmlu_pro banks (23-45 models): leave-one-model-out, a 2PL calibrated without
  model j, then model j's recorded answers replayed (``--max-models`` caps the number of held-out
  models, picked evenly spread over accuracy);
- metabench banks (thousands of models): 40 models held out at random (seed 0), one 2PL
  calibrated on the rest.

Each held-out bank gets the shipped bank's categories and ``chance_accuracy`` (copied from
``ItemBank.load(name)``). At budgets k (10, 25, 50, 100; 25, 50 on metabench; capped below the
bank size) the absolute error of the predicted accuracy against the model's true accuracy (mean
of all its recorded answers on the bank), for

- ``cat``: the default ``AdaptiveTest`` (hybrid score), and its 95% interval's coverage;
- ``random+mean``: k random questions, plain mean;
- ``random+irt``: k random questions scored by the IRT model (``selection="random"``).

Intervals are widened by the shipped bank's held-out misfit (``--misfit shipped``, what the
shipped CAT uses), taken without the evaluated model: the RMS of the shipped bank's
``heldout_misfit_errors`` of the other models (``misfit_without``), or by the recalibrated
bank's own fallback (``--misfit bank``).
Repeated ``--repeats`` times (seeds). Also the wall time and tracemalloc peak of ``calibrate``
on all of each bank's data, and the suite (mmlu-redux, gsm8k, math-l5, cruxeval) at 8, 20, 60
and 120 questions, with the banks' population priors (the default) and with the ``N(0, 1)`` prior
every bank had before they were recorded. Writes ``banks.md`` and
``banks.json`` into ``--out`` (a run on a subset of banks merges into an existing JSON).
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.catalog import CATALOG
from adaptive_eval.banks.items import bank_responses
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.cat.accuracy import wilson_interval
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.cat.suite import SuiteTest
from adaptive_eval.examinees import ReplayExaminee
from adaptive_eval.irt.calibration import calibrate

SUITE = ("mmlu-redux", "gsm8k", "math-l5", "cruxeval")
SUITE_BUDGETS = (8, 20, 60, 120)
METHODS = ("cat", "random+mean", "random+irt")
QUIET = dict(progress=lambda line: None)


def prepare(bank: ItemBank, shipped: ItemBank) -> ItemBank:
    """Categories and chance accuracy as the shipped bank has them."""
    if shipped.category is not None:
        bank.assign_categories(dict(zip(shipped.ids, shipped.category)))
    chance = shipped.metadata.get("chance_accuracy")
    if chance is not None:
        bank.metadata["chance_accuracy"] = chance
    return bank


def misfit_without(shipped: ItemBank, model: str) -> float | None:
    """The shipped bank's held-out misfit SD without ``model``: the RMS of its recorded
    ``heldout_misfit_errors`` of the other models (the recorded ``heldout_misfit_sd`` when the
    bank has no per-model errors or ``model`` is not among them)."""
    errors = shipped.metadata.get("heldout_misfit_errors") or {}
    others = [e for m, e in errors.items() if m != model]
    if model not in errors or not others:
        return shipped.metadata.get("heldout_misfit_sd")
    return float(np.sqrt(np.mean(np.square(others))))


def replay(test: AdaptiveTest, answers: dict[str, int], budgets) -> dict[int, tuple]:
    """Run ``test`` on recorded answers; estimate and 95% interval after each budget."""
    bank = test.bank
    state = test.start(np.array([i in answers for i in bank.ids]))
    out = {}
    while state.n_items < max(budgets) and state.available.any():
        item = state.next_item()
        state.record(item, answers[bank.ids[item]], with_accuracy=False)
        if state.n_items in budgets:
            out[state.n_items] = state.expected_accuracy()
    return out


def random_mean(answers: dict[str, int], rng, budgets) -> dict[int, tuple]:
    ids = sorted(answers)
    order = rng.permutation(len(ids))[: max(budgets)]
    y = np.array([answers[ids[i]] for i in order])
    return {k: (float(y[:k].mean()), wilson_interval(int(y[:k].sum()), k)) for k in budgets}


def spread(models: list[str], truths: dict[str, float], n: int) -> list[str]:
    """``n`` models evenly spread over accuracy (all when n is 0 or at least their number)."""
    if not n or n >= len(models):
        return models
    ranked = sorted(models, key=lambda m: truths[m])
    return [ranked[int(i)] for i in np.linspace(0, len(ranked) - 1, n).round()]


def evaluate_bank(name: str, data: ResponseData, args) -> dict:
    shipped = ItemBank.load(name)
    metabench = CATALOG[name].source == "metabench"
    truths = {m: float(np.mean(list(data.responses_of(m).values()))) for m in data.models}
    n_items = data.n_items
    budgets = [k for k in ((25, 50) if metabench else (10, 25, 50, 100)) if k < n_items]
    if args.quick:
        budgets = [k for k in budgets if k in (10, 50)] or budgets
    if metabench:
        held = list(np.random.default_rng(0).choice(data.models, args.metabench_models,
                                                    replace=False))
        bank = prepare(calibrate(data.drop_models(held), "2pl", **QUIET).bank, shipped)
        banks = {m: bank for m in held}
        protocol = f"{len(held)} random models held out (seed 0), one calibration on the rest"
    else:
        held = spread(data.models, truths, args.max_models)
        banks = None
        protocol = (f"leave-one-model-out over {len(held)} of {data.n_models} models"
                    + ("" if len(held) == data.n_models else " (spread over accuracy)"))
    errors = {m: {k: [] for k in budgets} for m in METHODS}
    covered = {m: {k: [] for k in budgets} for m in METHODS}
    per_model = {}
    for n, model in enumerate(held):
        answers = data.responses_of(model)
        truth = truths[model]
        if banks is None:
            bank = prepare(calibrate(data.drop_models([model]), "2pl", **QUIET).bank, shipped)
        else:
            bank = banks[model]
        misfit = misfit_without(shipped, model) if args.misfit == "shipped" else None
        mine = {m: {k: [] for k in budgets} for m in METHODS}
        for r in range(args.repeats):
            results = {
                "cat": replay(AdaptiveTest(bank, max_items=max(budgets), target_se=0, seed=r,
                                           misfit_sd=misfit),
                              answers, budgets),
                "random+irt": replay(AdaptiveTest(bank, max_items=max(budgets), target_se=0,
                                                  seed=r, selection="random", misfit_sd=misfit),
                                     answers, budgets),
                "random+mean": random_mean(answers, np.random.default_rng([r, n]), budgets),
            }
            for method, out in results.items():
                for k, (estimate, (lo, hi)) in out.items():
                    errors[method][k].append(abs(estimate - truth))
                    covered[method][k].append(bool(lo <= truth <= hi))
                    mine[method][k].append(abs(estimate - truth))
        per_model[model] = {"truth": truth, "n_answered": len(answers),
                            "errors": {m: {k: float(np.mean(v)) for k, v in row.items() if v}
                                       for m, row in mine.items()}}
    table = {m: {k: {"error": float(np.mean(errors[m][k])),
                     "coverage": float(np.mean(covered[m][k])), "n": len(errors[m][k])}
                 for k in budgets if errors[m][k]} for m in METHODS}
    return {"n_items": n_items, "n_models": data.n_models, "protocol": protocol,
            "budgets": budgets, "repeats": args.repeats, "table": table, "per_model": per_model,
            "chance_accuracy": shipped.metadata.get("chance_accuracy"),
            "categories": len(set(shipped.category)) if shipped.category else 0,
            "misfit": args.misfit, "misfit_sd": shipped.metadata.get("heldout_misfit_sd")
            if args.misfit == "shipped" else None}


def fit_cost(data: ResponseData) -> dict:
    start = time.perf_counter()
    calibrate(data, "2pl", **QUIET)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    calibrate(data, "2pl", **QUIET)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": seconds, "peak_mib": peak / 2**20, "n_models": data.n_models,
            "n_items": data.n_items, "n_observed": data.n_observed}


def evaluate_suite(datas: dict[str, ResponseData], args) -> dict:
    """The suite (``SUITE``) at ``budgets`` questions, leave-one-model-out over the models that
    answered all four banks, with the banks' population priors (``suite cat``) and with the
    ``N(0, 1)`` prior of every bank (``suite cat, N(0, 1) prior``), against a random subset of the
    same size spread evenly over the banks (plain mean per bank, averaged). Truth: the mean of
    the four true accuracies."""
    budgets = SUITE_BUDGETS
    common = sorted(set.intersection(*(set(datas[n].models) for n in SUITE)))
    truths = {m: float(np.mean([np.mean(list(datas[n].responses_of(m).values())) for n in SUITE]))
              for m in common}
    held = spread(common, truths, args.max_models)
    shipped = {n: ItemBank.load(n) for n in SUITE}
    priors = {"suite cat": {}, "suite cat, N(0, 1) prior": {"prior_mean": 0.0, "prior_sd": 1.0}}
    rows = {m: {k: [] for k in budgets} for m in (*priors, "random+mean")}
    cover = {m: {k: [] for k in budgets} for m in priors}
    merged = merged_data(datas)
    for j, model in enumerate(held):
        banks = {n: prepare(calibrate(datas[n].drop_models([model]), "2pl", **QUIET).bank,
                            shipped[n]) for n in SUITE}
        misfit = {n: misfit_without(shipped[n], model) for n in SUITE}
        truth = truths[model]
        for k in budgets:
            for method, prior in priors.items():
                # one misfit SD per bank: AdaptiveTest options are shared, so set it per test
                test = SuiteTest(banks, max_items=k, target_se=0, seed=0, **prior)
                if args.misfit == "shipped":
                    for n, t in test.tests.items():
                        t.accuracy.misfit_sd = misfit[n]
                result = test.run(ReplayExaminee(merged, model))
                lo, hi = result.suite_accuracy_interval
                rows[method][k].append(abs(result.suite_accuracy - truth))
                cover[method][k].append(bool(lo <= truth <= hi))
            for r in range(args.repeats):
                rng = np.random.default_rng([r, j, k])
                means = [random_mean(datas[n].responses_of(model), rng, [k // len(SUITE)])
                         [k // len(SUITE)][0] for n in SUITE]
                rows["random+mean"][k].append(abs(float(np.mean(means)) - truth))
        print(f"suite [{j + 1}/{len(held)}] {model}", flush=True)
    table = {m: {str(k): float(np.mean(v[k])) for k in budgets} for m, v in rows.items()}
    coverage = {m: {str(k): float(np.mean(v[k])) for k in budgets} for m, v in cover.items()}
    old = "suite cat, N(0, 1) prior"
    text = (f"Run {datetime.date.today().isoformat()}. "
            f"Suite {', '.join(SUITE)}: leave-one-model-out over {len(held)} of the {len(common)} "
            "zeroeval models that answered all four (each bank recalibrated without the model; "
            "misfit SD per bank as in the per-bank runs); `SuiteTest` (one seed) with the banks' "
            "population priors (the default) and with the `N(0, 1)` prior on every bank's own "
            "scale (`prior_mean=0, prior_sd=1`: what every bank had before the population was "
            "recorded), against a random subset of the same size, k/4 per bank, plain means "
            f"averaged ({args.repeats} repeats). Truth: the mean of the four true accuracies.\n\n"
            "| k | suite CAT error | with N(0, 1) prior | random mean error | ratio | "
            "suite CAT coverage | with N(0, 1) prior |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(f"| {k} | {table['suite cat'][str(k)]:.4f} | {table[old][str(k)]:.4f} | "
                        f"{table['random+mean'][str(k)]:.4f} | "
                        f"{table['suite cat'][str(k)] / table['random+mean'][str(k)]:.2f} | "
                        f"{coverage['suite cat'][str(k)]:.2f} | {coverage[old][str(k)]:.2f} |"
                        for k in budgets))
    return {"measured": True, "models": held, "table": table, "coverage": coverage,
            "text": text}


def merged_data(datas: dict[str, ResponseData]) -> ResponseData:
    """The suite banks' responses in one ResponseData (for ReplayExaminee)."""
    return ResponseData.from_long(pd.concat([datas[n].to_long() for n in SUITE]), source="suite")


def write(out: Path, results: dict) -> None:
    banks, fits = results["banks"], results["fit"]
    lines = ["# Adaptive testing on every named bank (held-out models)", "",
             f"Date {results.get('date', 'not recorded')}, machine: 2 cores (shared), no GPU. "
             "Script: `benchmarks/banks.py`. "
             "Default `AdaptiveTest` (hybrid score, 95% intervals), each bank recalibrated "
             "(2PL) without the held-out models, with the shipped bank's categories and "
             "chance accuracy. Error: mean |predicted - true| accuracy, the truth being the "
             "model's observed accuracy over all its answered items of the bank. "
             "`random+mean`: k random questions, plain mean; `random+irt`: the same kind of "
             "random subset scored by the IRT model (EAP, the bank's expected accuracy). "
             "Ratio: CAT error / random+mean error.", "",
             "| bank | items | models | protocol | repeats |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {b['n_items']} | {b['n_models']} | {b['protocol']} | {b['repeats']} |"
              for n, b in banks.items()]
    all_k = sorted({k for b in banks.values() for k in b["budgets"]}, key=int)
    for k in all_k:
        lines += ["", f"## k = {k}", "",
                  "| bank | CAT error | random mean error | random IRT error | ratio | "
                  "CAT coverage | random IRT coverage |", "|---|---|---|---|---|---|---|"]
        for n, b in banks.items():
            t = b["table"]
            if str(k) not in t["cat"]:
                continue
            c, m, i = t["cat"][str(k)], t["random+mean"][str(k)], t["random+irt"][str(k)]
            lines.append(f"| {n} | {c['error']:.4f} | {m['error']:.4f} | {i['error']:.4f} | "
                         f"{c['error'] / m['error']:.2f} | {c['coverage']:.2f} | "
                         f"{i['coverage']:.2f} |")
    lines += ["", "## Calibration cost (all of each bank's data, 2PL)", "",
              "| bank | models | items | cells | wall s | tracemalloc peak MiB |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {n} | {f['n_models']} | {f['n_items']} | {f['n_observed']} | "
              f"{f['seconds']:.2f} | {f['peak_mib']:.1f} |" for n, f in fits.items()]
    goal = []
    for n, b in banks.items():
        t = b["table"]
        if "50" not in t["cat"]:
            continue
        c, m = t["cat"]["50"], t["random+mean"]["50"]
        goal.append((n, c["error"] <= m["error"] / 2, c["coverage"] >= 0.9,
                     c["error"] / m["error"], c["coverage"]))
    lines += ["", "## Goal at 50 questions", "",
              "CAT error at most half the random subset's (plain mean) error, and CAT coverage "
              ">= 90%, on every bank.", "",
              "| bank | ratio | half met | coverage | coverage met |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {r:.2f} | {'yes' if h else 'NO'} | {cov:.2f} | {'yes' if c else 'NO'} |"
              for n, h, c, r, cov in goal]
    missed_half = [g[0] for g in goal if not g[1]]
    missed_cov = [g[0] for g in goal if not g[2]]
    lines += ["", "Not met: error ratio on " + (", ".join(missed_half) or "none")
              + "; coverage on " + (", ".join(missed_cov) or "none") + "."]
    suite = results.get("suite", {})
    lines += ["", "## Suite", "",
              suite.get("text") or ("Not measured: " + suite.get("why", "no suite module."))]
    if results.get("reading"):
        lines += ["", "## Reading", "", results["reading"]]
    out.mkdir(parents=True, exist_ok=True)
    (out / "banks.json").write_text(json.dumps(results, indent=1))
    (out / "banks.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--banks", default="", help="comma-separated names (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="1 repeat, 8 held-out models per bank, k = 10 and 50 only")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-models", type=int, default=0,
                        help="leave-one-out over at most N models spread over accuracy (0: all)")
    parser.add_argument("--metabench-models", type=int, default=40)
    parser.add_argument("--no-suite", action="store_true")
    parser.add_argument("--suite-only", action="store_true",
                        help="only the suite measurement, merged into the existing JSON")
    parser.add_argument("--misfit", choices=("shipped", "bank"), default="shipped",
                        help="misfit SD widening the intervals: the shipped bank's "
                             "heldout_misfit_sd (what the shipped CAT uses; computed with all "
                             "models, the held-out one included) or the recalibrated bank's "
                             "own fallback (its in-sample leave-one-out SD of r)")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.max_models, args.metabench_models = 1, 8, 8
    names = [n.strip() for n in args.banks.split(",") if n.strip()] or list(CATALOG)
    if args.suite_only:
        names = []
    out = Path(args.out)
    path = out / "banks.json"
    keep = path.exists() and (args.banks or args.suite_only)
    results = json.loads(path.read_text()) if keep else {}
    results.setdefault("banks", {})
    results.setdefault("fit", {})
    if names:  # the per-bank tables' date (a suite-only run keeps the tables and their date)
        results["date"] = datetime.date.today().isoformat()
    cache, datas = {}, {}
    for name in names:
        start = time.perf_counter()
        data = bank_responses(name, Path(args.data), cache)
        datas[name] = data
        results["fit"][name] = fit_cost(data)
        results["banks"][name] = json.loads(json.dumps(evaluate_bank(name, data, args)))
        t = results["banks"][name]["table"]
        summary = ", ".join(f"k={k}: cat {t['cat'][k]['error']:.4f} ({t['cat'][k]['coverage']:.2f})"
                            f" mean {t['random+mean'][k]['error']:.4f}"
                            f" irt {t['random+irt'][k]['error']:.4f}" for k in t["cat"])
        print(f"{name}: {time.perf_counter() - start:.0f} s; {summary}", flush=True)
        write(out, results)
    if not args.no_suite:
        for name in SUITE:
            datas.setdefault(name, bank_responses(name, Path(args.data), cache))
        results["suite"] = evaluate_suite(datas, args)
    write(out, results)


if __name__ == "__main__":
    main()
