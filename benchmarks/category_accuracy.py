"""Do the per-category intervals of an adaptive test hold? Held-out models on multi-subject banks.

    .venv/bin/python benchmarks/category_accuracy.py [--banks mmlu-pro,mmlu-redux] [--models 8] \
        [--repeats 1] [--data ../shared/data] [--out benchmarks/results]

For each bank: leave-one-model-out over ``--models`` models spread evenly over accuracy (a 2PL
calibrated without model j, with the shipped bank's categories and chance accuracy, and its
misfit SD without model j, as in ``banks.py``), then the default ``AdaptiveTest`` replays model j's
recorded answers (and, as a second arm, the same test without content balancing, so that some
categories go unasked). After 50 and 100 questions, for every category ``c`` of the bank, the test's
``Result.category_accuracy[c]`` (``AccuracyModel.expected_accuracy(category=c)``) is compared
with model j's true accuracy on ``c`` (the mean of all its recorded answers in ``c``):

- coverage: the share of (model, seed, category) intervals holding the truth, overall and split by
  whether the test asked any question of ``c``;
- the mean absolute error and the mean interval width;
- the same for the whole-bank interval, for comparison.

Writes ``category_accuracy.md`` and ``category_accuracy.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import numpy as np
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.items import bank_responses
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.irt.calibration import calibrate
from banks import QUIET, misfit_without, prepare, spread

BUDGETS = (50, 100)
ARMS = {"default": {}, "no content balancing": {"content_balancing": False}}


def category_truths(bank: ItemBank, answers: dict[str, int]) -> dict[str, float]:
    """A model's observed accuracy per category, over the items of ``bank`` it answered."""
    index = {q: i for i, q in enumerate(bank.ids)}
    sums: dict[str, list[int]] = {}
    for question, correct in answers.items():
        sums.setdefault(bank.category[index[question]], []).append(correct)
    return {c: float(np.mean(v)) for c, v in sums.items()}


def run_model(bank: ItemBank, answers: dict[str, int], misfit: float | None, seed: int,
              options: dict) -> list:
    """Rows (k, category, truth, estimate, lo, hi, asked) after each budget, the whole bank as
    category ``None``; ``options``: more ``AdaptiveTest`` options."""
    truths = category_truths(bank, answers)
    truth_all = float(np.mean(list(answers.values())))
    test = AdaptiveTest(bank, max_items=max(BUDGETS), target_se=0, seed=seed, misfit_sd=misfit,
                        **options)
    state = test.start(np.array([i in answers for i in bank.ids]))
    rows = []
    while state.n_items < max(BUDGETS) and state.available.any():
        item = state.next_item()
        state.record(item, answers[bank.ids[item]], with_accuracy=False)
        if state.n_items not in BUDGETS:
            continue
        result = state.result("budget")
        for category, row in result.category_accuracy.items():
            if category not in truths:
                continue
            lo, hi = row["interval"]
            rows.append((state.n_items, category, truths[category], row["expected_accuracy"],
                         lo, hi, row["n_items"]))
        lo, hi = result.expected_accuracy_interval
        rows.append((state.n_items, None, truth_all, result.expected_accuracy, lo, hi,
                     state.n_items))
    return rows


def summarise(rows: list, k: int, arm: str) -> dict:
    def stats(selected: list) -> dict:
        if not selected:
            return {"n": 0}
        truth, estimate, lo, hi = (np.array([r[i] for r in selected]) for i in (2, 3, 4, 5))
        return {"n": len(selected), "coverage": float(np.mean((lo <= truth) & (truth <= hi))),
                "error": float(np.mean(np.abs(estimate - truth))),
                "width": float(np.mean(hi - lo)),
                "below": float(np.mean(truth < lo)), "above": float(np.mean(truth > hi))}

    at_k = [r for r in rows if r[0] == k and r[7] == arm]
    categories = [r for r in at_k if r[1] is not None]
    return {"categories": stats(categories),
            "asked": stats([r for r in categories if r[6] > 0]),
            "not asked": stats([r for r in categories if r[6] == 0]),
            "bank": stats([r for r in at_k if r[1] is None])}


def per_model(rows: list) -> dict:
    """Per test, budget and held-out model: its category intervals' coverage and mean absolute
    error (over categories and seeds)."""
    out: dict = {}
    for k, category, truth, estimate, lo, hi, _, arm, model, _ in rows:
        if category is None:
            continue
        cell = out.setdefault(arm, {}).setdefault(str(k), {}).setdefault(model, [])
        cell.append((lo <= truth <= hi, abs(estimate - truth)))
    return {arm: {k: {m: {"n": len(v), "coverage": float(np.mean([c for c, _ in v])),
                          "error": float(np.mean([e for _, e in v]))} for m, v in by_m.items()}
                  for k, by_m in by_k.items()} for arm, by_k in out.items()}


def evaluate(name: str, data_dir: Path, n_models: int, repeats: int, cache: dict) -> dict:
    data = bank_responses(name, data_dir, cache)
    shipped = ItemBank.load(name)
    truths = {m: float(np.mean(list(data.responses_of(m).values()))) for m in data.models}
    held = spread(data.models, truths, n_models)
    rows = []
    for j, model in enumerate(held):
        bank = prepare(calibrate(data.drop_models([model]), "2pl", **QUIET).bank, shipped)
        answers = data.responses_of(model)
        for arm, options in ARMS.items():
            for seed in range(repeats):
                rows += [(*r, arm, model, seed) for r in run_model(
                    bank, answers, misfit_without(shipped, model), seed, options)]
        print(f"{name} [{j + 1}/{len(held)}] {model}", flush=True)
    return {"n_items": data.n_items, "n_models": data.n_models, "held_out": held,
            "repeats": repeats, "categories": len(set(shipped.category)),
            "summary": {arm: {str(k): summarise(rows, k, arm) for k in BUDGETS} for arm in ARMS},
            "per_model": per_model(rows)}


def write(out: Path, results: dict) -> None:
    lines = ["# Per-category accuracy of an adaptive test: do its intervals hold?", "",
             f"Date {results['date']}, machine: 2 cores (shared), no GPU. Script: "
             "`benchmarks/category_accuracy.py`. Leave-one-model-out (each bank recalibrated, "
             "2PL, without the held-out model; the shipped bank's categories, chance accuracy "
             "and misfit SD without that model), default `AdaptiveTest`; after k questions "
             "every category's `Result.category_accuracy` (estimate and 95% interval) against "
             "the model's observed accuracy on that category. Second arm: the same test "
             "without content balancing. `asked` / `not asked`: categories the test did / did "
             "not ask a question of. `bank`: the whole-bank interval of the same runs. The "
             "intervals of one model's categories are not independent (one ability, one "
             "misfit), so the coverage's binomial SE understates its uncertainty.", ""]
    for name, r in results["banks"].items():
        lines += [f"## {name}", "",
                  f"{r['n_items']} items in {r['categories']} categories; "
                  f"{len(r['held_out'])} of {r['n_models']} models held out in turn (spread over "
                  f"accuracy), {r['repeats']} seed(s).", "",
                  "| test | k | intervals | coverage | truth below / above | mean abs error | "
                  "mean width |", "|---|---|---|---|---|---|---|"]
        for arm, by_k in r["summary"].items():
            for k, s in by_k.items():
                for part in ("categories", "asked", "not asked", "bank"):
                    p = s[part]
                    if not p["n"]:
                        continue
                    lines.append(f"| {arm} | {k} ({part}) | {p['n']} | {p['coverage']:.2f} | "
                                 f"{p['below']:.2f} / {p['above']:.2f} | {p['error']:.4f} | "
                                 f"{p['width']:.3f} |")
        lines.append("")
    if results.get("reading"):
        lines += ["## Reading", "", results["reading"], ""]
    out.mkdir(parents=True, exist_ok=True)
    (out / "category_accuracy.json").write_text(json.dumps(results, indent=1))
    (out / "category_accuracy.md").write_text("\n".join(lines))
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--banks", default="mmlu-pro,mmlu-redux")
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--reading", default="", help="the reading paragraph to record")
    args = parser.parse_args()
    cache: dict = {}
    results = {"date": datetime.date.today().isoformat(), "banks": {}, "reading": args.reading}
    for name in [n.strip() for n in args.banks.split(",") if n.strip()]:
        results["banks"][name] = evaluate(name, Path(args.data), args.models, args.repeats, cache)
    write(Path(args.out), results)


if __name__ == "__main__":
    main()
