"""A suite with several questions in flight, against an OpenAI-compatible server.

    .venv/bin/python benchmarks/in_flight_suite.py [--models 2] [--delay 1.0] [--items 120] \
        [--parallel 1,4,8,16] [--data ../shared/data] [--out benchmarks/results]

The suite of four ZeroEval banks (mmlu-redux, gsm8k, math-l5, cruxeval) through
``replay_server.ReplayServer`` (real HTTP on 127.0.0.1, ``--delay`` s per request, requests
served concurrently) and the package's OpenAI-compatible examinee, for ``--models`` ZeroEval models
that answered all four (spread over accuracy), ``--items`` questions, at each ``--parallel`` N:
wall time and the absolute error of the suite accuracy against the mean of the model's four
accuracies on all its recorded answers. The shipped banks were calibrated on these models, so
errors are in-sample: for comparing N, not for quoting. Writes ``in_flight_suite.md`` and
``in_flight_suite.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.items import bank_responses
from adaptive_eval.banks.questions import load_questions
from adaptive_eval.cat.suite import SuiteTest
from adaptive_eval.examinees import OpenAIExaminee
from banks import spread
from replay_server import ReplayServer, recorded_answers

SUITE = ("mmlu-redux", "gsm8k", "math-l5", "cruxeval")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--items", type=int, default=120)
    parser.add_argument("--parallel", default="1,4,8,16")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    levels = [int(n) for n in args.parallel.split(",")]
    cache: dict = {}
    data = {name: bank_responses(name, args.data, cache) for name in SUITE}
    banks = {name: ItemBank.load(name) for name in SUITE}
    items = Path(args.data) / "zeroeval" / "items.csv.gz"
    questions = {}
    for name in SUITE:
        questions.update(load_questions(items, answer_type=banks[name].metadata["answer_type"],
                                        benchmark=name))
    shared = sorted(set.intersection(*(set(d.models) for d in data.values())))
    truths = {m: float(np.mean([np.mean(list(data[n].responses_of(m).values()))
                                for n in SUITE])) for m in shared}
    rows = []
    for model in spread(shared, truths, args.models):
        answers = {}
        for name in SUITE:
            answers.update(recorded_answers(data[name], model))
        with ReplayServer(questions, answers, model, args.delay) as server:
            examinee = OpenAIExaminee(server.url, model, server.questions)  # recorded only
            for n in levels:
                server.max_in_flight = 0
                start = time.perf_counter()
                result = SuiteTest(banks, max_items=args.items, target_se=0).run(
                    examinee, parallel=n)
                wall = time.perf_counter() - start
                rows.append({"model": model, "parallel": n, "wall_s": round(wall, 2),
                             "max_in_flight": server.max_in_flight, "n_items": result.n_items,
                             "error": abs(result.suite_accuracy - truths[model])})
                print(f"{model} N={n}: {wall:.1f} s, error {rows[-1]['error']:.4f}", flush=True)
    summary = [{"parallel": n, **{key: float(np.mean([r[key] for r in rows if r["parallel"] == n]))
                                  for key in ("wall_s", "error", "max_in_flight")}}
               for n in levels]
    meta = {"date": datetime.date.today().isoformat(), "machine": "2 shared cores, no GPU",
            "delay_s": args.delay, "items": args.items, "suite": list(SUITE)}
    out = Path(args.out)
    (out / "in_flight_suite.json").write_text(json.dumps({"meta": meta, "summary": summary,
                                                          "runs": rows}, indent=1))
    base = summary[0]["wall_s"]
    lines = ["# A suite with questions in flight", "",
             f"`benchmarks/in_flight_suite.py`, {meta['date']}, {meta['machine']}. The suite "
             f"{', '.join(SUITE)}, {args.items} questions, {args.models} ZeroEval models spread "
             f"over accuracy, an OpenAI-compatible server on 127.0.0.1 answering each request "
             f"after {args.delay} s from the model's recorded answers "
             "(`benchmarks/replay_server.py`). The banks were calibrated on these models: the "
             "errors are in-sample, for comparing N only.", "",
             "| in flight N | wall time (s) | vs N = 1 | most in flight seen | suite error |",
             "|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['parallel']} | {s['wall_s']:.1f} | {s['wall_s'] / base:.2f} | "
                     f"{s['max_in_flight']:.0f} | {s['error']:.4f} |")
    (out / "in_flight_suite.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
