"""Agreement of each bank's answer-reading rule with the benchmarks' own verdicts, on every row of
``../shared/data/protocols/outputs.csv.gz`` (raw outputs of real models with the source's
extracted answer and verdict).

    python benchmarks/answer_reading.py [--data ../shared/data] [--out benchmarks/results]

Per benchmark: the share of rows, among those from which the source extracted an answer, where
the bank's rule (``protocol.json``'s ``reader``) gives the source's verdict, and its extraction the
source's answer; every disagreement listed with its reason, classified; where the source
extracted nothing, how often the bank's rule finds an answer. Writes ``answer_reading.md`` and
``.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import pandas as pd
from adaptive_eval.banks.protocol import load_protocol
from adaptive_eval.banks.reading import READERS
from adaptive_eval.banks.scoring import scoring_questions

BENCHMARKS = ["mmlu-pro", "mmlu-redux", "gsm8k", "math-l5", "cruxeval"]
ITEMS = {"mmlu-pro": "mmlu_pro/items.csv.gz"} | {
    b: "zeroeval/items.csv.gz" for b in BENCHMARKS[1:]}


def head_rule_models(data: Path, benchmark: str) -> set[str]:
    """Models whose ZeroEval result file was judged by the later rule (added after ea7dd90)."""
    spec = json.loads((data / "protocols" / f"{benchmark}.json").read_text())
    return {f["model"] for f in spec.get("raw_output_files", []) if f["judge_rule"] != "ea7dd90"}


def reason(benchmark: str, row, mine: str | None, question, head: set[str]) -> str:
    """Why the bank's rule and the source disagree on ``row`` (a classification)."""
    if question is None:
        return "no gold answer: the item is missing from the items file"
    source = row.source_extracted
    if benchmark == "mmlu-pro":
        if mine is None and source == "G":
            return "source stored the placeholder 'G' where its chain found no letter"
        if READERS["mmlu-pro-v3"].read(row.output) == source:
            return "source re-extracted with rule_v3 (the last capital A-J anywhere)"
        if mine == source:
            return "same letter, another key: MMLU-Pro revised the key between result files"
    if benchmark == "cruxeval" and row.model in head:
        later = READERS["zeroeval-crux-head"].score(row.output, question)[1]
        if str(later) == row.source_correct:
            return "source judged with its later rule (result file added after ea7dd90)"
    if mine == source:
        return "same answer, another verdict"
    return "other"


def measure(outputs: pd.DataFrame, data: Path, benchmark: str) -> dict:
    protocol = load_protocol(benchmark)
    questions = scoring_questions(data / ITEMS[benchmark], protocol)
    rows = outputs[outputs["benchmark"] == benchmark]
    head = head_rule_models(data, benchmark)
    start = time.perf_counter()
    extracted, correct = [], []
    for qid, output in zip(rows["question_id"], rows["output"], strict=True):
        question = questions.get(qid)
        e, c = protocol.score(output, question) if question is not None else (
            protocol.read(output), None)
        extracted.append(e)
        correct.append(c)
    seconds = time.perf_counter() - start
    has = (rows["source_extracted"] != "").to_numpy()
    source_correct = rows["source_correct"].astype(int).to_numpy()
    agree_verdict = [c == s for c, s in zip(correct, source_correct)]
    agree_answer = [e == s for e, s in zip(extracted, rows["source_extracted"])]
    disagreements = []
    for k, row in enumerate(rows.itertuples()):
        if has[k] and not agree_verdict[k]:
            question = questions.get(row.question_id)
            disagreements.append({
                "model": row.model, "question_id": row.question_id,
                "source_extracted": row.source_extracted, "extracted": extracted[k],
                "source_correct": int(row.source_correct), "correct": correct[k],
                "reason": reason(benchmark, row, extracted[k], question, head)})
    n_has = int(has.sum())
    empty = [e for e, h in zip(extracted, has) if not h]
    by_reason: dict[str, int] = {}
    for d in disagreements:
        by_reason[d["reason"]] = by_reason.get(d["reason"], 0) + 1
    scorable = [k for k in range(len(rows)) if has[k] and correct[k] is not None]
    return {
        "benchmark": benchmark, "rule": protocol.reader, "rows": len(rows),
        "models": int(rows["model"].nunique()),
        "rows_source_extracted": n_has,
        "verdict_agreement": sum(a for a, h in zip(agree_verdict, has) if h) / n_has,
        "verdict_agreement_where_gold": sum(agree_verdict[k] for k in scorable) / len(scorable),
        "answer_agreement": sum(a for a, h in zip(agree_answer, has) if h) / n_has,
        "disagreements": len(disagreements), "disagreements_by_reason": by_reason,
        "rows_source_extracted_nothing": len(empty),
        "there_rule_finds_none": sum(e is None for e in empty),
        "there_rule_finds_empty_string": sum(e == "" for e in empty),
        "there_rule_finds_an_answer": sum(bool(e) for e in empty),
        "seconds": round(seconds, 2), "disagreement_rows": disagreements,
    }


def markdown(results: list[dict], meta: dict) -> str:
    lines = [
        "# Answer reading: the banks' rules against the benchmarks' own verdicts", "",
        f"{meta['date']}, {meta['machine']}. All {meta['rows']:,} rows of "
        "`../shared/data/protocols/outputs.csv.gz` (raw outputs of real models, with the "
        "answer the benchmark's own code extracted and its verdict); `python "
        "benchmarks/answer_reading.py`. Gold answers from the shared items files, keyed as the "
        "protocol says (MMLU-Redux: ZeroEval's corrected key).", "",
        "Agreement is over the rows from which the source extracted an answer (non-empty "
        "`source_extracted`): the verdict (`correct` against `source_correct`) and the answer "
        "itself. Where the source extracted nothing, the columns count what the bank's rule "
        "finds there (an empty string is the model's own `\"answer\": \"\"`).", "",
        "| benchmark | rule | rows | source extracted | verdict agreement | (rows with gold) "
        "| answer agreement | disagreements | source extracted nothing | rule: none / '' / "
        "an answer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['benchmark']} | `{r['rule']}` | {r['rows']:,} | {r['rows_source_extracted']:,} "
            f"| {r['verdict_agreement']:.5f} | {r['verdict_agreement_where_gold']:.5f} "
            f"| {r['answer_agreement']:.5f} | {r['disagreements']} "
            f"| {r['rows_source_extracted_nothing']:,} | {r['there_rule_finds_none']} / "
            f"{r['there_rule_finds_empty_string']} / {r['there_rule_finds_an_answer']} |")
    lines += ["", "Answer agreement below the verdict's: CRUXEval's source stores the answer "
              "with its quote characters stripped only where it compares (here `extracted` is "
              "the compared string); MMLU-Pro's 'G' placeholders and rule_v3 rows.", "",
              "## Disagreements by reason", ""]
    for r in results:
        for why, n in sorted(r["disagreements_by_reason"].items(), key=lambda kv: -kv[1]):
            lines.append(f"- {r['benchmark']}: {n} {why}")
    lines += ["", "Where the source extracted nothing, the bank's rule finds more answers on "
              "the ZeroEval benchmarks because it tries `\\boxed{}` for every model (the source "
              "for Llama-3.1 files only), and on MMLU-Pro because 16 of its 23 models were read "
              "with the first rule alone (May 2024 code), which the current chain extends.", "",
              "## Every disagreement", "",
              "| benchmark | model | question | source extracted | rule extracted | source "
              "verdict | rule verdict | reason |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for d in r["disagreement_rows"]:
            ours = "(none)" if d["extracted"] is None else f"`{d['extracted'][:40]}`"
            verdict = "-" if d["correct"] is None else d["correct"]
            lines.append(f"| {r['benchmark']} | {d['model']} | {d['question_id']} | "
                         f"`{d['source_extracted'][:40]}` | {ours} | {d['source_correct']} | "
                         f"{verdict} | {d['reason']} |")
    return "\n".join(lines).replace("``", "`(empty)`") + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    outputs = pd.read_csv(data / "protocols" / "outputs.csv.gz", keep_default_na=False, dtype=str)
    results = []
    for benchmark in BENCHMARKS:
        result = measure(outputs, data, benchmark)
        print(f"{benchmark}: verdict agreement {result['verdict_agreement']:.5f} over "
              f"{result['rows_source_extracted']} rows, {result['disagreements']} disagreements "
              f"({result['seconds']} s)", flush=True)
        results.append(result)
    meta = {"date": date.today().isoformat(), "rows": len(outputs),
            "machine": f"{platform.machine()}, {platform.system()}, Python "
                       f"{platform.python_version()}, 2 shared CPU cores"}
    (out / "answer_reading.json").write_text(json.dumps({"meta": meta, "results": results},
                                                        indent=1) + "\n")
    (out / "answer_reading.md").write_text(markdown(results, meta))
    print(f"wrote {out / 'answer_reading.md'} and .json")


if __name__ == "__main__":
    main()
