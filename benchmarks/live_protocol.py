"""A real model answering live under each bank's calibration protocol: truncation and tokens.

    .venv/bin/python benchmarks/live_protocol.py [--banks mmlu-pro,gsm8k] [--items 8] \
        [--data ../shared/data] [--out benchmarks/results]

SmolLM2-135M-Instruct (its PyPI GGUF) behind llama-cpp-python's OpenAI-compatible server on
127.0.0.1 (8,192-token context), asked through the package's OpenAI-compatible examinee under the
bank's protocol (``protocol.json``: MMLU-Pro 5-shot chain of thought as a completion prompt, 2,048
new tokens; GSM8K ZeroEval's chat template, 4,096), one adaptive test of ``--items`` questions per
bank (``target_se`` 0). Measured: the share of replies cut at the protocol's budget, the share
with an answer the bank's rule could read, the tokens the server reported per test and per
question, what the whole bank would take at that rate, and the wall time. Writes
``live_protocol.md`` and ``live_protocol.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from adaptive_eval.amortized.base_models import SMOLLM2, gguf_path
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.catalog import bank_info
from adaptive_eval.banks.protocol import load_protocol
from adaptive_eval.banks.questions import load_questions
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.examinees import OpenAIExaminee

ITEMS = {"mmlu_pro": ("mmlu_pro/items.csv.gz", {}), "zeroeval": ("zeroeval/items.csv.gz", {})}


def start_server(log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path(SMOLLM2)),
               "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", "8192"]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(240):
        try:
            if requests.get(f"{url}/models", timeout=2).status_code == 200:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"llama server not ready: {log.read_text()[-2000:]}")


def show(step) -> None:
    print(f"{step.question_id}: {step.tokens} truncated={step.truncated} "
          f"extracted={step.extracted!r}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--banks", default="mmlu-pro,gsm8k")
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    process, url = start_server(Path(tempfile.gettempdir()) / "live_protocol_server.log")
    rows = []
    try:
        for name in args.banks.split(","):
            bank, protocol, info = ItemBank.load(name), load_protocol(name), bank_info(name)
            questions = load_questions(Path(args.data) / ITEMS[info.source][0],
                                       answer_type=bank.metadata.get("answer_type"),
                                       benchmark=None if info.source == "mmlu_pro" else name)
            examinee = OpenAIExaminee(url, "smollm2", questions, timeout=900, protocol=protocol)
            start = time.perf_counter()
            result = AdaptiveTest(bank, max_items=args.items, target_se=0).run(
                examinee, on_step=show)
            wall = time.perf_counter() - start
            n = result.n_items
            tokens = result.tokens or {"prompt": 0, "completion": 0}
            rows.append({
                "bank": name, "protocol": protocol.name,
                "budget": protocol.generation["max_new_tokens"], "n_items": n,
                "truncated_share": result.n_truncated / n,
                "read_share": sum(s.extracted is not None for s in result.history) / n,
                "tokens": tokens, "tokens_per_question": {k: v / n for k, v in tokens.items()},
                "tokens_whole_benchmark": {k: round(v * len(bank) / n) for k, v in tokens.items()},
                "bank_size": len(bank), "wall_s": round(wall, 1),
                "expected_accuracy": result.expected_accuracy,
                "interval": list(result.expected_accuracy_interval)})
    finally:
        process.kill()
        process.wait()
    meta = {"date": datetime.date.today().isoformat(), "machine": "2 shared cores, no GPU",
            "model": "SmolLM2-135M-Instruct Q4_1 GGUF (llama-cpp-python server)"}
    (out / "live_protocol.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = ["# A real model live under the banks' calibration protocols", "",
             f"`benchmarks/live_protocol.py`, {meta['date']}, this project's machine "
             f"({meta['machine']}); {meta['model']}, {args.items} adaptive questions per bank, "
             "asked through the OpenAI-compatible examinee under the bank's `protocol.json`.", "",
             "| bank | protocol | budget | questions | cut at the budget | answer read | "
             "tokens per question (prompt + completion) | whole bank at that rate | wall (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per, whole = r["tokens_per_question"], r["tokens_whole_benchmark"]
        lines.append(f"| {r['bank']} | {r['protocol']} | {r['budget']} | {r['n_items']} | "
                     f"{r['truncated_share']:.2f} | {r['read_share']:.2f} | "
                     f"{per['prompt']:,.0f} + {per['completion']:,.0f} | "
                     f"{whole['prompt'] + whole['completion']:,} ({r['bank_size']:,} questions) | "
                     f"{r['wall_s']:.0f} |")
    (out / "live_protocol.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
