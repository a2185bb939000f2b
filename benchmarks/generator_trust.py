"""Benchmark trustworthy generation: how many generated items are well-formed, near the target and
verified, how long each takes, and whether adaptive testing gains from generating where the bank
is thin.

    python benchmarks/generator_trust.py --server http://127.0.0.1:8765/v1:smollm2
    # writes benchmarks/results/generator_trust.md and .json

Part 1, per backend (the embedded generator; ``ServerGenerator`` on an OpenAI-compatible server,
prompted with MMLU-Pro bank items near the target): ``--samples`` raw samples at each of
``--targets``, with the backend's own sampling settings. Well-formed: share of raw samples that
parse (and are no near duplicate). Hit rate: share of raw samples that are valid with predicted
difficulty within 0.5 of the target. Spearman(target, predicted) over the valid ones. Verified:
share of the valid ones whose key the solver (``--solver``, default the embedded generator's
base model) agreed with (``Verifier``, options rotated ``--repeats`` times). Seconds: wall time
of sampling per raw sample and per valid item, and of verification per item.

Part 2: a real model answering live (``--examinee``, default SmolLM2-135M-Instruct via ``hf:``)
on the MMLU-Pro bank. Reference: its plain accuracy on ``--reference`` random bank questions.
Adaptive tests of ``--max-items`` questions (seeds ``0..--cat-seeds-1``), with and without
``--generate-when-thin`` (embedded generator, the same solver), each scored as the error of the
predicted bank accuracy against the reference.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from adaptive_eval.amortized.generator import QuestionGenerator, known_categories
from adaptive_eval.amortized.server_generator import ServerGenerator, bank_examples
from adaptive_eval.amortized.verify import Verifier
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.questions import load_questions, question_text
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.cat.thin_bank import ThinBankItems
from adaptive_eval.examinees import examinee_from_spec
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ROOT.parent / "shared" / "data" / "mmlu_pro" / "items.csv.gz"
SMOLLM2 = "hf:HuggingFaceTB/SmolLM2-135M-Instruct"


def measure_backend(generator: QuestionGenerator, verifier: Verifier, targets: list[float],
                    samples: int, seed: int) -> dict:
    """Part 1 for one backend (module docstring)."""
    rng = np.random.default_rng(seed)
    pool = generator.config.categories or ["general"]
    wanted = [t for t in targets for _ in range(samples)]
    categories = [str(c) for c in rng.choice(pool, size=len(wanted))]
    start = time.perf_counter()
    texts = generator.sample(wanted, categories, seed=seed)
    sample_s = time.perf_counter() - start
    valid = [(k, item) for k, item in enumerate(map(generator.validate, texts)) if item]
    out = {"raw": len(texts), "valid": len(valid), "well_formed": len(valid) / len(texts),
           "seconds_per_raw_sample": sample_s / len(texts),
           "seconds_per_valid_item": sample_s / len(valid) if valid else None}
    if not valid:
        return out | {"hit_rate": 0.0, "spearman": None, "verified": None, "examples": []}
    predictor = generator.predictor
    texts_valid = [generator.validate(texts[k]) for k, _ in valid]
    pred, _ = predictor.predict(
        [question_text(i.question, i.options) for i in texts_valid],
        known_categories(predictor, [categories[k] for k, _ in valid]))
    target = np.array([wanted[k] for k, _ in valid])
    hits = np.abs(pred - target) <= 0.5
    start = time.perf_counter()
    verdicts = [verifier.check(i.question, i.options, i.answer, generator.answer_type)
                for _, i in valid]
    verify_s = time.perf_counter() - start
    rho = spearmanr(target, pred).statistic if len(set(target)) > 1 else None
    examples = [{"target": float(t), "predicted": float(p), "text": texts[k],
                 "verified": v.verified, "agreement": v.agreement, "problem": v.problem,
                 "solver_answers": v.solver_answers}
                for (k, _), t, p, v in zip(valid, target, pred, verdicts)][:6]
    return out | {
        "hit_rate": float(hits.sum() / len(texts)),
        "spearman": None if rho is None or np.isnan(rho) else float(rho),
        "verified": float(np.mean([bool(v.verified) for v in verdicts])),
        "rejected_by_structure": int(sum(v.problem is not None for v in verdicts)),
        "mean_agreement": float(np.mean([v.agreement or 0.0 for v in verdicts])),
        "seconds_per_verification": verify_s / len(valid), "examples": examples}


def measure_cat(args: argparse.Namespace, verifier: Verifier) -> dict:
    """Part 2 (module docstring)."""
    bank = ItemBank.load("mmlu-pro")
    questions = {k: q for k, q in load_questions(args.items).items() if k in set(bank.ids)}
    examinee = examinee_from_spec(args.examinee, questions=questions)
    ids = [i for i in bank.ids if i in questions]
    sample = list(np.random.default_rng(args.seed).choice(ids, args.reference, replace=False))
    start = time.perf_counter()
    reference = float(np.mean(examinee.answer_batch(sample)))
    reference_s = time.perf_counter() - start
    generator = QuestionGenerator.from_pretrained()
    runs = []
    for seed in range(args.cat_seeds):
        for generate in (False, True):
            source = ThinBankItems(generator, verifier, examinee.questions, bank=bank,
                                   seed=seed) \
                if generate else None
            test = AdaptiveTest(bank, max_items=args.max_items, target_se=0, seed=seed,
                                item_source=source, thin_information=args.thin_information)
            start = time.perf_counter()
            result = test.run(examinee)
            runs.append({"seed": seed, "generate_when_thin": generate,
                         "expected_accuracy": result.expected_accuracy,
                         "interval": list(result.expected_accuracy_interval),
                         "error": abs(result.expected_accuracy - reference),
                         "theta": result.theta, "se": result.se,
                         "generation_calls": source.calls if source else 0,
                         "generated_asked": sum(s.item is not None for s in result.history),
                         "seconds": time.perf_counter() - start})
            print(json.dumps(runs[-1]), flush=True)
    return {"examinee": args.examinee, "reference_n": args.reference,
            "reference_accuracy": reference, "reference_seconds": reference_s,
            "reference_se": float(np.sqrt(reference * (1 - reference) / args.reference)),
            "max_items": args.max_items, "thin_information": args.thin_information,
            "runs": runs}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=None, help="BASE_URL:MODEL of an OpenAI-compatible "
                        "server (part 1, server backend)")
    parser.add_argument("--items", default=str(ITEMS))
    parser.add_argument("--targets", default="-1,0.5,2")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--server-samples", type=int, default=3)
    parser.add_argument("--solver", default=SMOLLM2)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--examinee", default=SMOLLM2)
    parser.add_argument("--reference", type=int, default=300)
    parser.add_argument("--max-items", type=int, default=15)
    parser.add_argument("--cat-seeds", type=int, default=1)
    parser.add_argument("--thin-information", type=float, default=0.5)
    parser.add_argument("--parts", default="embedded,server,cat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "generator_trust.json"))
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    out_path = Path(args.out)
    report = json.loads(out_path.read_text()) if out_path.exists() else {}
    report |= {"date": "2026-11-29", "machine": f"{platform.machine()}, "
               f"{torch.get_num_threads()} torch threads, 2 CPU cores shared with 3 other jobs",
               "solver": args.solver, "repeats": args.repeats}
    verifier = Verifier([args.solver], repeats=args.repeats)
    targets = [float(t) for t in args.targets.split(",")]
    if "embedded" in parts:
        report["embedded"] = measure_backend(QuestionGenerator.from_pretrained(), verifier,
                                             targets, args.samples, args.seed)
        _save(report, out_path, "embedded")
    if "server" in parts and args.server:
        bank = ItemBank.load("mmlu-pro")
        examples = bank_examples(bank, load_questions(args.items))
        generator = ServerGenerator(f"openai:{args.server}", examples, shots=2)
        report["server"] = measure_backend(generator, verifier, targets, args.server_samples,
                                           args.seed) | {"backend": args.server, "shots": 2}
        _save(report, out_path, "server")
    if "cat" in parts:
        report["cat"] = measure_cat(args, verifier)
        _save(report, out_path, "cat")
    return report


def _save(report: dict, path: Path, part: str) -> None:
    """Print the part's numbers and write the report so far (merged with the file's parts)."""
    print(json.dumps({k: v for k, v in report[part].items() if k not in ("examples", "runs")}),
          flush=True)
    merged = (json.loads(path.read_text()) if path.exists() else {}) | report
    path.write_text(json.dumps(merged, indent=1) + "\n")


if __name__ == "__main__":
    main()
