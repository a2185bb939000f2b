"""A real LM outside the calibration set: the adaptive estimate against a large random sample.

    .venv/bin/python benchmarks/real_model.py [--examinee hf:HuggingFaceTB/SmolLM2-135M-Instruct] \
        [--items ../shared/data/mmlu_pro/items.csv.gz] [--random 400] [--out benchmarks/results]

The examinee answers live (no recorded answers): an adaptive test with the package defaults on the
embedded MMLU-Pro bank, read at 30, 50 and 100 questions, and, as the reference, the plain mean of
``--random`` questions drawn uniformly from the bank (seed 0) with its Wilson 95% interval (the
adaptive test's own questions are not reused). Writes ``real_model.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.cat.accuracy import wilson_interval
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.examinees import examinee_from_spec

BUDGETS = (30, 50, 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examinee", default="hf:HuggingFaceTB/SmolLM2-135M-Instruct")
    parser.add_argument("--items", default="../shared/data/mmlu_pro/items.csv.gz")
    parser.add_argument("--random", type=int, default=400)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    bank = ItemBank.load()
    examinee = examinee_from_spec(args.examinee, questions=args.items)
    start = time.perf_counter()
    state = AdaptiveTest(bank, max_items=max(BUDGETS), target_se=0).start(
        examinee.answerable(bank.ids))
    adaptive = {}
    while state.n_items < max(BUDGETS):
        item = state.next_item()
        state.record(item, examinee.answer(bank.ids[item]), with_accuracy=False)
        if state.n_items in BUDGETS:
            estimate, interval = state.expected_accuracy()
            adaptive[state.n_items] = {"estimate": estimate, "interval": list(interval),
                                       "theta": state.theta, "se": state.se}
            print(f"adaptive, {state.n_items} questions: {estimate:.3f} "
                  f"[{interval[0]:.3f}, {interval[1]:.3f}]", flush=True)
    adaptive_seconds = time.perf_counter() - start

    asked = set(state.items)
    pool = [k for k in np.flatnonzero(examinee.answerable(bank.ids)) if k not in asked]
    picked = np.random.default_rng(0).choice(pool, args.random, replace=False)
    start = time.perf_counter()
    correct = np.asarray(examinee.answer_batch([bank.ids[k] for k in picked]))
    random_seconds = time.perf_counter() - start
    reference = {"mean": float(correct.mean()), "n": args.random,
                 "interval": list(wilson_interval(int(correct.sum()), args.random))}
    print(f"random {args.random} questions: {reference['mean']:.3f}", flush=True)

    result = {"date": str(date.today()), "machine": f"{platform.machine()}, {os.cpu_count()} "
              "cores, CPU", "examinee": args.examinee, "adaptive": adaptive,
              "reference": reference, "adaptive_seconds": round(adaptive_seconds),
              "random_seconds": round(random_seconds)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "real_model.json").write_text(json.dumps(result, indent=1))
    lo, hi = reference["interval"]
    lines = [
        "# A real LM outside the calibration set",
        "",
        f"`benchmarks/real_model.py`, {result['date']}, {result['machine']}. Examinee "
        f"`{args.examinee}` answering live on the embedded MMLU-Pro bank (mostly 10-option "
        "questions, chance 0.11).",
        "",
        "| | questions | predicted accuracy | 95% interval | covers the reference |",
        "|---|---|---|---|---|",
        *[f"| adaptive (package defaults) | {k} | {v['estimate']:.3f} | "
          f"{v['interval'][0]:.3f}-{v['interval'][1]:.3f} | "
          f"{'yes' if v['interval'][0] <= reference['mean'] <= v['interval'][1] else 'no'} |"
          for k, v in adaptive.items()],
        f"| reference: random questions, plain mean | {args.random} | {reference['mean']:.3f} | "
        f"{lo:.3f}-{hi:.3f} (Wilson) | |",
        "",
        f"Time: {adaptive_seconds:.0f} s for the {max(BUDGETS)} adaptive questions, "
        f"{random_seconds:.0f} s for the {args.random} random ones (batched).",
    ]
    (out / "real_model.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
