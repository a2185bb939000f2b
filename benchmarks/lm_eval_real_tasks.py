"""The installed lm-eval ``gsm8k`` and ``mmlu_pro`` tasks against the gsm8k and mmlu-pro banks.

    .venv/bin/python benchmarks/lm_eval_real_tasks.py [--data ../shared/data] [--answer 3] \
        [--out benchmarks/results]

Needs the ``lm-eval`` extra. The tasks' Hub datasets cannot be downloaded here, so the script
builds local copies in the Hub layout in a temporary folder (never in the repository) from the
shared data: openai/gsm8k (``main/test-*.parquet``: ZeroEval's 1,319 GSM8K questions in id order,
answers as ``#### N``) and TIGER-Lab/MMLU-Pro (``data/test-*.parquet``: the 12,032 questions).
Their few-shot splits are not in the shared data: gsm8k's train split is its last 20 test
questions, MMLU-Pro's validation split the first 5 questions of each category with a made-up
chain of thought. Task YAMLs include the installed ones and set only ``dataset_path``
(``gsm8k_local``, the 14 ``mmlu_pro_<category>_local`` and a group ``mmlu_pro_local``).

Measured: how many bank ids get a document (``load_task_prompts``) and in how many seconds; how
many prompts end with the task's own ``doc_to_text`` of the question the bank id names (gsm8k:
``Question: ...\\nAnswer:``; mmlu_pro: its ``utils.doc_to_text``, options ``A. ...``) and have the
right gold answer; then SmolLM2-135M-Instruct (``lm-eval:hf``) answers the first ``--answer``
gsm8k questions through the task (5-shot prompt, ``generate_until``, strict-match filter):
seconds per question, the extracted answers. Writes ``lm_eval_real_tasks.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import datasets.config
import lm_eval
import pandas as pd
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.examinees import examinee_from_spec
from adaptive_eval.examinees.lm_eval import load_task_prompts
from lm_eval.tasks.mmlu_pro import utils as mmlu_pro_utils

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DATE = "2026-11-29"
TASKS = Path(lm_eval.__path__[0]) / "tasks"


def write_parquet(stem: Path, rows: list[dict]) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(stem.with_suffix(".parquet"))


def build(data: Path, root: Path) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """The local dataset copies and task YAMLs (see the module docstring); returns the GSM8K and
    MMLU-Pro question tables and the task folder."""
    zeroeval = pd.read_csv(data / "zeroeval" / "items.csv.gz")
    gsm8k = zeroeval[zeroeval.benchmark == "gsm8k"].reset_index(drop=True)
    rows = [{"question": q, "answer": f"#### {a}"} for q, a in zip(gsm8k.question, gsm8k.answer)]
    write_parquet(root / "gsm8k" / "main" / "test-00000-of-00001", rows)
    write_parquet(root / "gsm8k" / "main" / "train-00000-of-00001", rows[-20:])
    (root / "gsm8k" / "README.md").write_text(
        "---\nconfigs:\n- config_name: main\n  data_files:\n  - split: train\n    path: "
        "main/train-*\n  - split: test\n    path: main/test-*\n---\n")
    mmlu = pd.read_csv(data / "mmlu_pro" / "items.csv.gz")
    rows = [{"question_id": int(r.question_id), "question": r.question,
             "options": json.loads(r.options), "answer": r.answer,
             "answer_index": int(r.answer_index), "category": r.category, "src": r.src,
             "cot_content": f"A: Let's think step by step. The answer is ({r.answer})."}
            for r in mmlu.itertuples()]
    write_parquet(root / "MMLU-Pro" / "data" / "test-00000-of-00001", rows)
    shots = pd.DataFrame(rows).groupby("category").head(5).to_dict("records")
    write_parquet(root / "MMLU-Pro" / "data" / "validation-00000-of-00001", shots)
    tasks = root / "tasks"
    tasks.mkdir()
    (tasks / "gsm8k_local.yaml").write_text(
        f"include: {TASKS / 'gsm8k' / 'gsm8k.yaml'}\ntask: gsm8k_local\n"
        f"dataset_path: {root / 'gsm8k'}\n")
    names = []
    for installed in sorted((TASKS / "mmlu_pro").glob("mmlu_pro_*.yaml")):
        names.append(f"{installed.stem}_local")
        (tasks / f"{names[-1]}.yaml").write_text(
            f"include: {installed}\ntask: {names[-1]}\ndataset_path: {root / 'MMLU-Pro'}\n")
    (tasks / "mmlu_pro_local.yaml").write_text(
        "group: mmlu_pro_local\ntask:\n" + "".join(f"  - {n}\n" for n in names))
    return gsm8k, mmlu, tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--answer", type=int, default=3, help="gsm8k questions SmolLM2 answers")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        datasets.config.HF_DATASETS_CACHE = str(Path(tmp) / "datasets-cache")
        gsm8k, mmlu, tasks = build(args.data, Path(tmp))
        start = time.perf_counter()
        gsm8k_prompts = load_task_prompts("gsm8k_local", ItemBank.load("gsm8k").ids, "numeric",
                                          include_path=tasks)
        gsm8k_seconds = time.perf_counter() - start
        start = time.perf_counter()
        mmlu_prompts = load_task_prompts("mmlu_pro_local", ItemBank.load("mmlu-pro").ids,
                                         "multiple_choice", include_path=tasks)
        mmlu_seconds = time.perf_counter() - start
        gsm8k_ok = sum(
            p.requests[0].args[0].endswith(f"Question: {row.question}\nAnswer:")
            and p.doc_id == int(row.question_id.split("#")[1]) and p.gold == str(row.answer)
            for row in gsm8k.itertuples() if (p := gsm8k_prompts.get(row.question_id)))
        mmlu_ok = sum(
            p.requests[0].args[0].endswith(mmlu_pro_utils.doc_to_text(
                {"question": row.question, "options": json.loads(row.options)}))
            and p.gold == row.answer
            for row in mmlu.itertuples() if (p := mmlu_prompts.get(str(row.question_id))))
        ids = [f"gsm8k-main-test-#{i}" for i in range(args.answer)]
        examinee = examinee_from_spec(f"lm-eval:hf:pretrained={MODEL},dtype=float32",
                                      prompts={q: gsm8k_prompts[q] for q in ids})
        start = time.perf_counter()
        answers = [examinee.answer(q) for q in ids]
        answer_seconds = (time.perf_counter() - start) / len(ids)
    result = {
        "date": DATE, "machine": f"{platform.machine()}, {os.cpu_count()} shared CPU cores",
        "lm_eval": lm_eval.__version__, "model": MODEL,
        "gsm8k": {"bank_ids": len(ItemBank.load("gsm8k").ids), "mapped": len(gsm8k_prompts),
                  "task_prompt_and_gold_ok": int(gsm8k_ok),
                  "load_seconds": round(gsm8k_seconds, 1),
                  "first_question": gsm8k.question[0][:60]},
        "mmlu_pro": {"bank_ids": len(ItemBank.load("mmlu-pro").ids), "mapped": len(mmlu_prompts),
                     "task_prompt_and_gold_ok": int(mmlu_ok),
                     "tasks": len({p.task for p in mmlu_prompts.values()}),
                     "load_seconds": round(mmlu_seconds, 1)},
        "answered": {"seconds_per_question": round(answer_seconds, 1),
                     "items": [{"question_id": q, "gold": gsm8k_prompts[q].gold,
                                "extracted": a.extracted, "correct": a.correct,
                                "response_tail": (a.response or "")[-80:]}
                               for q, a in zip(ids, answers)]},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lm_eval_real_tasks.json").write_text(json.dumps(result, indent=2))
    g, m, a = result["gsm8k"], result["mmlu_pro"], result["answered"]
    lines = [
        "# The installed lm-eval gsm8k and mmlu_pro tasks against the banks",
        "",
        f"{DATE}, {result['machine']}, lm-eval {result['lm_eval']}; "
        "`benchmarks/lm_eval_real_tasks.py` (local dataset copies built from ../shared/data in a "
        "temporary folder, task YAMLs including the installed tasks with only `dataset_path` set).",
        "",
        "| task | bank ids | with a document | task prompt + gold right | tasks | load (s) |",
        "|---|---|---|---|---|---|",
        f"| gsm8k_local | {g['bank_ids']} | {g['mapped']} | {g['task_prompt_and_gold_ok']} | 1 | "
        f"{g['load_seconds']} |",
        f"| mmlu_pro_local (group) | {m['bank_ids']} | {m['mapped']} | "
        f"{m['task_prompt_and_gold_ok']} | {m['tasks']} | {m['load_seconds']} |",
        "",
        f"`gsm8k-main-test-#0` is \"{g['first_question']}...\", the first question of "
        "openai/gsm8k's test split: ZeroEval's ids are the test split's indices.",
        "",
        f"{MODEL} (`lm-eval:hf`) through the gsm8k task (5-shot, generate_until, strict-match): "
        f"{a['seconds_per_question']} s per question, one at a time.",
        "",
        "| question | gold | extracted | correct | end of reply |",
        "|---|---|---|---|---|",
        *[f"| {i['question_id']} | {i['gold']} | {i['extracted']} | {i['correct']} | "
          f"`{i['response_tail']!r}` |" for i in a["items"]],
    ]
    (args.out / "lm_eval_real_tasks.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
