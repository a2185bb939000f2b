"""Adaptive testing with several questions in flight, against an OpenAI-compatible server.

    .venv/bin/python benchmarks/in_flight.py [--models 4] [--delay 1.0] [--items 50] \
        [--parallel 1,4,8,16] [--data ../shared/data] [--out benchmarks/results]

The server is ``replay_server.ReplayServer``: real HTTP on 127.0.0.1, the package's real
OpenAI-compatible examinee (the ``openai`` client), answers from a held-out model's recorded
MMLU-Pro responses, ``--delay`` seconds per request, requests served concurrently. For each of
``--models`` models spread over accuracy: a 2PL calibrated without the model (the shipped bank's
categories), then an adaptive test of ``--items`` questions (``target_se`` 0) at every
``--parallel`` N: its wall time, the absolute error of the predicted accuracy against the model's
accuracy on all its recorded answers, and whether the 95% interval covers it. Beside it, the
whole benchmark at the same N: the wall time of 8 N requests at N in flight, scaled to the bank's
size (an extrapolation, said so), and a random subset of 400 questions' plain-mean error (200
seeded draws). Writes ``in_flight.md`` and ``in_flight.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.items import bank_responses
from adaptive_eval.banks.questions import load_questions
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.examinees import OpenAIExaminee
from adaptive_eval.irt.calibration import calibrate
from banks import prepare, spread
from replay_server import ReplayServer, recorded_answers

BANK = "mmlu-pro"


def whole_benchmark_seconds(examinee: OpenAIExaminee, ids: list[str], n: int,
                            bank_size: int) -> float:
    """Wall time of ``8 n`` requests at ``n`` in flight, scaled to ``bank_size`` questions."""
    sample = ids[: 8 * n]
    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(examinee.answer, sample))
    return (time.perf_counter() - start) * bank_size / len(sample)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--parallel", default="1,4,8,16")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    levels = [int(n) for n in args.parallel.split(",")]
    data = bank_responses(BANK, args.data, {})
    questions = load_questions(Path(args.data) / "mmlu_pro" / "items.csv.gz")
    shipped = ItemBank.load(BANK)
    truths = {m: float(np.mean(list(data.responses_of(m).values()))) for m in data.models}
    rows, whole = [], {}
    for model in spread(data.models, truths, args.models):
        bank = prepare(calibrate(data.drop_models([model]), "2pl",
                                 progress=lambda line: None).bank, shipped)
        answers = recorded_answers(data, model)
        rng = np.random.default_rng(0)
        ids = sorted(answers)
        y = np.array([answers[q] for q in ids])
        random400 = float(np.mean([abs(y[rng.permutation(len(y))[:400]].mean() - truths[model])
                                   for _ in range(200)]))
        with ReplayServer(questions, answers, model, args.delay) as server:
            examinee = OpenAIExaminee(server.url, model, server.questions)  # recorded only
            for n in levels:
                server.max_in_flight = 0
                start = time.perf_counter()
                result = AdaptiveTest(bank, max_items=args.items, target_se=0).run(
                    examinee, parallel=n)
                wall = time.perf_counter() - start
                lo, hi = result.expected_accuracy_interval
                rows.append({"model": model, "parallel": n, "wall_s": round(wall, 2),
                             "max_in_flight": server.max_in_flight,
                             "error": abs(result.expected_accuracy - truths[model]),
                             "covered": bool(lo <= truths[model] <= hi),
                             "random400_error": random400})
                print(f"{model} N={n}: {wall:.1f} s, error {rows[-1]['error']:.4f}", flush=True)
                if model == rows[0]["model"]:
                    order = list(np.random.default_rng(1).permutation(ids))
                    whole[n] = whole_benchmark_seconds(examinee, order, n, len(shipped))
    summary = []
    for n in levels:
        mine = [r for r in rows if r["parallel"] == n]
        summary.append({"parallel": n,
                        "wall_s": float(np.mean([r["wall_s"] for r in mine])),
                        "error": float(np.mean([r["error"] for r in mine])),
                        "coverage": float(np.mean([r["covered"] for r in mine])),
                        "random400_error": float(np.mean([r["random400_error"] for r in mine])),
                        "whole_benchmark_s": whole[n]})
    out = Path(args.out)
    meta = {"date": datetime.date.today().isoformat(), "machine": platform.processor() or
            platform.machine(), "cores": 2, "delay_s": args.delay, "items": args.items,
            "bank": BANK, "bank_size": len(shipped)}
    (out / "in_flight.json").write_text(json.dumps({"meta": meta, "summary": summary,
                                                    "runs": rows}, indent=1))
    base = summary[0]
    lines = [
        "# Adaptive testing with questions in flight", "",
        f"`benchmarks/in_flight.py`, {meta['date']}, this project's 2-core machine (shared). "
        f"{BANK} ({len(shipped):,} questions); {args.models} held-out models spread over "
        f"accuracy, each with a 2PL calibrated without it; {args.items} questions per test "
        f"(`target_se` 0); an OpenAI-compatible server on 127.0.0.1 answering each request "
        f"after {args.delay} s from the model's recorded answers (`benchmarks/replay_server.py`), "
        "through the package's OpenAI-compatible examinee.", "",
        "| in flight N | wall time (s) | vs N = 1 | error | coverage | whole benchmark at N (s, "
        "extrapolated) | random 400: error |",
        "|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['parallel']} | {s['wall_s']:.1f} | {s['wall_s'] / base['wall_s']:.2f}"
                     f" | {s['error']:.4f} | {s['coverage']:.2f} | {s['whole_benchmark_s']:,.0f} "
                     f"| {s['random400_error']:.4f} |")
    lines += ["", "The whole benchmark's time is 8 N requests at N in flight, scaled to the bank's "
              "size: what running every question through the same server would take.", "",
              "Per run: `in_flight.json`."]
    (out / "in_flight.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
