"""The lm-eval examinee against the package's own hf examinee and a plain lm-eval run.

(Not named ``lm_eval.py``: run as a script, that name would shadow the ``lm_eval`` package.)

    .venv/bin/python benchmarks/lm_eval_agreement.py \
        [--items ../shared/data/mmlu_pro/items.csv.gz] [--n 50] [--out benchmarks/results]

Needs the ``lm-eval`` extra. On SmolLM2-135M-Instruct (the offline copy) and ``--n`` MMLU-Pro
questions drawn from the embedded bank (seed 0, question text from ``--items``):

- ``hf:`` (``HFExaminee``) and ``lm-eval:hf:`` (``LMEvalExaminee`` over lm-eval's ``HFLM``) answer
  every question: how many chosen letters agree, the largest difference of an option's
  log-probability, and seconds per question, batched (one call for all questions, batch size 8)
  and one question per call (as the adaptive test asks);
- a plain lm-eval run (``lm_eval.simple_evaluate`` with ``log_samples``) over a local
  ``multiple_choice`` task holding the same questions (the package's prompt, choices ``A``, ``B``,
  ...), on the same ``HFLM`` object: its seconds per question and its choices' agreement.

The local task and its JSON data go to a temporary folder (never into the repository). Writes
``lm_eval.md`` and ``lm_eval.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import lm_eval
import numpy as np
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.questions import LETTERS, format_prompt, load_questions
from adaptive_eval.examinees import examinee_from_spec
from adaptive_eval.examinees.hf import HFExaminee
from lm_eval.tasks import TaskManager

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
DATE = "2026-11-29"


def timed(answer, ids: list[str], one_by_one: bool) -> tuple[list, float]:
    """(answers, seconds per question) of ``answer(list of ids)``, in one call or one per id."""
    start = time.perf_counter()
    out = [a for q in ids for a in answer([q])] if one_by_one else answer(ids)
    return out, (time.perf_counter() - start) / len(ids)


def plain_lm_eval(lm, questions: dict, ids: list[str], folder: Path) -> tuple[list[str], float]:
    """Letters chosen by a plain ``simple_evaluate`` run over a local task of ``ids`` (in
    order), and its seconds per question."""
    docs = [{"question_id": q, "prompt": format_prompt(questions[q]),
             "letters": list(LETTERS[: len(questions[q].options)]),
             "answer_index": questions[q].answer_index} for q in ids]
    (folder / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "mmlu_pro_sample.yaml").write_text(
        "task: mmlu_pro_sample\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {folder / 'docs.jsonl'}\ntest_split: test\noutput_type: multiple_choice\n"
        "doc_to_text: \"{{prompt}}\"\ndoc_to_choice: \"{{letters}}\"\n"
        "doc_to_target: answer_index\nmetric_list:\n  - metric: acc\n")
    manager = TaskManager(include_path=str(folder))  # indexes lm-eval's tasks: not timed
    start = time.perf_counter()
    run = lm_eval.simple_evaluate(model=lm, tasks=["mmlu_pro_sample"], log_samples=True,
                                  task_manager=manager)
    seconds = (time.perf_counter() - start) / len(ids)
    samples = sorted(run["samples"]["mmlu_pro_sample"], key=lambda s: s["doc_id"])
    return [LETTERS[int(np.argmax([r[0][0] for r in s["resps"]]))] for s in samples], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", default="../shared/data/mmlu_pro/items.csv.gz")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()

    bank = ItemBank.load("mmlu-pro")
    questions = load_questions(args.items)
    pool = [q for q in bank.ids if q in questions]
    ids = [str(q) for q in np.random.default_rng(0).choice(pool, args.n, replace=False)]

    own = HFExaminee(MODEL, questions, dtype="float32")
    lm_eval_examinee = examinee_from_spec(f"lm-eval:hf:pretrained={MODEL},dtype=float32",
                                          questions=questions)
    rows = {}
    for name, answer in [("hf", own.answers), ("lm-eval:hf", lm_eval_examinee.answers)]:
        answer(ids[:1])  # warm-up, not timed
        batched, per_q = timed(answer, ids, one_by_one=False)
        single, per_q_single = timed(answer, ids, one_by_one=True)
        assert [a.extracted for a in batched] == [a.extracted for a in single]
        rows[name] = {"letters": [a.extracted for a in batched], "seconds_per_question": per_q,
                      "seconds_per_question_one_by_one": per_q_single,
                      "accuracy": float(np.mean([a.correct for a in batched]))}
        print(f"{name}: {per_q:.2f} s/question batched, {per_q_single:.2f} one by one", flush=True)
    own_logprobs = own.option_logprobs(ids)
    max_diff = max(float(np.max(np.abs(np.array([r[0] for r in
                                                 lm_eval_examinee.samples[q]["resps"]]) - lp)))
                   for q, lp in zip(ids, own_logprobs))
    with tempfile.TemporaryDirectory() as tmp:
        plain_letters, plain_seconds = plain_lm_eval(lm_eval_examinee.lm, questions, ids,
                                                     Path(tmp))
    rows["plain lm-eval (simple_evaluate)"] = {
        "letters": plain_letters, "seconds_per_question": plain_seconds,
        "seconds_per_question_one_by_one": None,
        "accuracy": float(np.mean([L == questions[q].answer for q, L in zip(ids, plain_letters)]))}
    agree = sum(a == b for a, b in zip(rows["hf"]["letters"], rows["lm-eval:hf"]["letters"]))
    agree_plain = sum(a == b for a, b in zip(rows["hf"]["letters"], plain_letters))
    machine = f"{platform.machine()}, {os.cpu_count()} cores (shared with 3 other jobs), CPU"
    result = {"date": DATE, "machine": machine, "model": MODEL, "question_ids": ids,
              "agree_hf_lm_eval": agree, "agree_hf_plain_lm_eval": agree_plain, "n": len(ids),
              "max_abs_logprob_difference": max_diff, "examinees": rows}
    out = Path(args.out)
    (out / "lm_eval.json").write_text(json.dumps(result, indent=1))
    table = "\n".join(
        f"| `{name}` | {r['accuracy']:.2f} | {r['seconds_per_question']:.2f} | "
        + (f"{r['seconds_per_question_one_by_one']:.2f} |"
           if r["seconds_per_question_one_by_one"] is not None else "- |")
        for name, r in rows.items())
    (out / "lm_eval.md").write_text(
        f"# lm-eval examinee vs the package's hf examinee\n\n"
        f"`benchmarks/lm_eval_agreement.py`, {DATE}, {machine}. {MODEL} (offline copy, float32), "
        f"{len(ids)} MMLU-Pro questions drawn from the embedded bank (seed 0), the package's "
        "prompt, option letters scored by log-likelihood.\n\n"
        f"- Same chosen letter, `hf:` vs `lm-eval:hf:`: **{agree} of {len(ids)}**; largest "
        f"difference of an option's log-probability: {max_diff:.1e}.\n"
        f"- Same chosen letter, `hf:` vs a plain lm-eval run over a local task of the same "
        f"questions: {agree_plain} of {len(ids)}.\n\n"
        "| examinee | accuracy | s / question, batched | s / question, one per call |\n"
        "|---|---|---|---|\n" + table + "\n\n"
        "Batched: all questions in one call (batch size 8); one per call: as the adaptive test "
        "asks. The plain run includes building the task (loading the local JSON), not "
        "indexing lm-eval's task folder. Timings on 2 cores shared with other jobs: expect "
        "noise of tens of percent.\n")
    print(f"agreement {agree}/{len(ids)}, plain {agree_plain}/{len(ids)}, max diff {max_diff:.1e}")


if __name__ == "__main__":
    main()
