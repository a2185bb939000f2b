"""Leave one benchmark out: does the difficulty predictor make a few models' answers enough?

    .venv/bin/python benchmarks/amortized.py [--targets mmlu-redux,gsm8k,...] [--ns 0,3,5,10]
        [--repeats 3] [--data-dir ../shared/data] [--work /tmp/amortized]
        [--out benchmarks/results/amortized.md]

For each target bank X (its questions with text, ``adaptive_eval.banks.items``):

1. Train the predictor without X: ``training/train_predictor.py --config
   training/configs/predictor.yaml --banks <the config's banks but X> --use_category no
   --patience 4`` (fewer epochs than the shipped run, for time)
   (a subprocess; the folder is kept in ``--work`` and reused); a bank the config does not train
   on (metabench) uses ``--model`` as it is. X is a benchmark the predictor never saw: its
   predictions are on the pooled scale with the pooled predictive SE.
2. X's models are split once (seed 0): a third are *evaluation* models, never calibrated on; the
   rest is the *pool*. For n in ``--ns``, n pool models are drawn at random (``--repeats`` draws,
   seeded) and X is calibrated (2PL, ``adaptive_eval.calibrate``) from their answers only:
   - *plain prior*: the shared weak prior (``b ~ N(0, 2^2)``, ``log a ~ N(0, 0.5^2)``); with
     n = 0 every item is at the prior mean (``b = 0``, ``a = 1``);
   - *predictor prior*: ``item_priors`` = the predictor's ``(b, b_se, a, a_se)`` per question;
     with n = 0 the predictions themselves.
   *Full calibration*: all pool models (the reference).
3. Score: the evaluation models' answers. Each evaluation model's ability is estimated (EAP,
   ``N(0, 2^2)`` prior, on a grid) from its answers to one random half of the questions and its
   answers to the other half are scored (then the halves swap), so no answer scores the
   parameters it helped estimate: held-out log-loss and AUC of
   ``P = sigmoid(a_j (theta_i - b_j))``.
4. Adaptive testing (n = 5, first draw, and full calibration): each evaluation model's (at most
   ``--adaptive-models``; those with 50 answers or more) recorded
   answers replayed through ``AdaptiveTest(bank, max_items=50, target_se=0)``; the absolute error
   of its predicted accuracy after 50 questions against its true accuracy (mean of all its
   answers to X's questions), for the banks from 5 models with either prior and from the pool.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from adaptive_eval.amortized.predictor import DifficultyPredictor
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.items import bank_items, bank_responses
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.cat.adaptive import AdaptiveTest
from adaptive_eval.irt.calibration import calibrate
from adaptive_eval.irt.model import prob
from banks import prepare, replay
from sklearn.metrics import log_loss, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CONFIG = ROOT / "training" / "configs" / "predictor.yaml"
TRAIN = ROOT / "training" / "train_predictor.py"
QUIET = {"progress": lambda line: None}
GRID = np.linspace(-8, 8, 641)


def predictor_without(target: str, work: Path, shipped: str, patience: int,
                      log) -> DifficultyPredictor:
    """The predictor trained on the config's banks except ``target`` (step 1); the ``shipped``
    one when the config does not train on ``target``."""
    banks = yaml.safe_load(CONFIG.read_text())["banks"]
    if target not in banks:
        return DifficultyPredictor.from_pretrained(shipped)
    out = work / f"without-{target}"
    if not (out / "config.json").exists():
        banks = [b for b in banks if b != target]
        log(f"training the predictor without {target} on {banks} ...")
        subprocess.run([sys.executable, str(TRAIN), "--config", str(CONFIG), "--banks", *banks,
                        "--use_category", "no", "--patience", str(patience),
                        "--output_dir", str(out)],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return DifficultyPredictor.from_pretrained(out)


def answers_matrix(data: ResponseData, models: list[str],
                   ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(y, mask)``, (len(models), len(ids)): the models' answers to ``ids``."""
    frame = data.to_long()
    frame = frame[frame.model.isin(set(models)) & frame.question_id.isin(set(ids))]
    r = frame.model.map({m: k for k, m in enumerate(models)}).to_numpy()
    c = frame.question_id.map({q: k for k, q in enumerate(ids)}).to_numpy()
    y = np.zeros((len(models), len(ids)))
    mask = np.zeros((len(models), len(ids)), dtype=bool)
    y[r, c], mask[r, c] = frame.correct.to_numpy(), True
    return y, mask


def eap(y: np.ndarray, mask: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Posterior mean ability per row of ``y`` on ``GRID``, prior ``N(0, 2^2)``."""
    p = np.clip(prob(GRID[None, :], b[:, None], a[:, None]), 1e-9, 1 - 1e-9)  # items x grid
    loglik = (y * mask) @ np.log(p) + ((1 - y) * mask) @ np.log1p(-p) - GRID**2 / 8
    w = np.exp(loglik - loglik.max(1, keepdims=True))
    return (w @ GRID) / w.sum(1)


def crossfit_scores(y: np.ndarray, mask: np.ndarray, b: np.ndarray, a: np.ndarray,
                    half: np.ndarray) -> dict[str, float]:
    """Held-out log-loss and AUC (step 3): abilities from one half of the items, scored on the
    other."""
    ys, ps = [], []
    for fit_half in (half, ~half):
        theta = eap(y[:, fit_half], mask[:, fit_half], b[fit_half], a[fit_half])
        score = ~fit_half
        p = prob(theta[:, None], b[None, score], a[None, score])
        keep = mask[:, score]
        ys.append(y[:, score][keep])
        ps.append(p[keep])
    y_all, p_all = np.concatenate(ys), np.concatenate(ps)
    return {"log_loss": float(log_loss(y_all, p_all, labels=[0, 1])),
            "auc": float(roc_auc_score(y_all, p_all))}


def parameters(bank: ItemBank | None, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(b, a)`` of ``ids`` from ``bank``; items it lacks (or no bank) at the prior means."""
    b, a = np.zeros(len(ids)), np.ones(len(ids))
    if bank is not None:
        pos = {q: k for k, q in enumerate(bank.ids)}
        have = np.array([q in pos for q in ids])
        index = [pos[q] for q in ids if q in pos]
        b[have] = bank.b[index]
        a[have] = bank.a[index] if bank.a is not None else 1.0
    return b, a


def evaluate_target(target: str, predictor: DifficultyPredictor, args, cache: dict,
                    log) -> dict:
    items = bank_items(target, args.data_dir)
    ids = list(items.question_id)
    data = bank_responses(target, args.data_dir, cache)
    frame = data.to_long()
    frame = frame[frame.question_id.isin(set(ids))]
    rng = np.random.default_rng(0)
    models = sorted(set(frame.model))
    evaluation = sorted(rng.choice(models, len(models) // 3, replace=False))
    pool = [m for m in models if m not in set(evaluation)]
    y, mask = answers_matrix(data, evaluation, ids)
    half = rng.random(len(ids)) < 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the target is unknown to the predictor: pooled scale
        priors = pd.DataFrame(predictor.predict_parameters(list(items.text), list(items.category),
                                                           target), index=pd.Index(ids))

    def fit(models_: list[str], with_prior: bool) -> ItemBank | None:
        if not models_:
            return None
        subset = ResponseData.from_long(frame[frame.model.isin(set(models_))],
                                        source=f"{target}: {len(models_)} models")
        return calibrate(subset, "2pl", item_priors=priors if with_prior else None,
                         **QUIET).bank

    full_bank = fit(pool, False)
    results = {"full calibration": crossfit_scores(y, mask, *parameters(full_bank, ids), half)}
    banks_at_5 = {}
    for n in args.ns:
        rows = {"plain prior": [], "predictor prior": []}
        for r in range(args.repeats if n else 1):
            chosen = list(np.random.default_rng([r, n]).choice(pool, n, replace=False))
            plain = fit(chosen, False)
            informed = fit(chosen, True)
            b_inf, a_inf = (parameters(informed, ids) if informed is not None
                            else (priors["b"].to_numpy(), priors["a"].to_numpy()))
            rows["plain prior"].append(crossfit_scores(y, mask, *parameters(plain, ids), half))
            rows["predictor prior"].append(crossfit_scores(y, mask, b_inf, a_inf, half))
            if n == 5 and r == 0:
                banks_at_5 = {"5 models, plain prior": plain, "5 models, predictor prior": informed}
        for label, scores in rows.items():
            results[f"n={n}, {label}"] = {
                k: float(np.mean([s[k] for s in scores])) for k in ("log_loss", "auc")}
        log(f"{target} n={n}: plain {results[f'n={n}, plain prior']}, "
            f"predictor {results[f'n={n}, predictor prior']}")
    adaptive = adaptive_errors(target, banks_at_5 | {"full calibration": full_bank},
                               data, evaluation[:args.adaptive_models], ids) if banks_at_5 else {}
    return {"n_items": len(ids), "n_models": len(models), "n_evaluation": len(evaluation),
            "n_pool": len(pool), "results": results, "adaptive_50": adaptive,
            "pooled_residual_sd": predictor.config.residual_sd}


def adaptive_errors(target: str, banks: dict[str, ItemBank], data: ResponseData,
                    evaluation: list[str], ids: list[str]) -> dict[str, float]:
    """Mean absolute error of the predicted accuracy after 50 adaptive questions (step 4)."""
    shipped = ItemBank.load(target)
    keep = set(ids)
    out = {}
    for label, bank in banks.items():
        bank = prepare(bank, shipped)
        errors = []
        for model in evaluation:
            answers = {q: y for q, y in data.responses_of(model).items() if q in keep}
            if len(answers) < 50:
                continue  # fewer answers than the test length
            truth = float(np.mean(list(answers.values())))
            estimate, _ = replay(AdaptiveTest(bank, max_items=50, target_se=0, seed=0),
                                 answers, [50])[50]
            errors.append(abs(estimate - truth))
        out[label] = float(np.mean(errors))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="mmlu-redux,gsm8k,math-l5,cruxeval,zebralogic,"
                                             "mmlu-pro")
    parser.add_argument("--ns", default="0,3,5,10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=str(DATA))
    parser.add_argument("--work", default="/tmp/amortized", help="predictors trained without X")
    parser.add_argument("--model", default=str(ROOT / "models" / "difficulty-predictor"),
                        help="the predictor for targets the training config leaves out")
    parser.add_argument("--patience", type=int, default=4,
                        help="early stopping of the predictors trained without X (epochs)")
    parser.add_argument("--adaptive-models", type=int, default=40,
                        help="evaluation models replayed adaptively (the first, sorted)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "amortized.md"))
    args = parser.parse_args(argv)
    args.ns = [int(n) for n in args.ns.split(",")]
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    out = Path(args.out)
    previous = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(
        ".json").exists() else {"targets": {}}
    cache: dict = {}
    for target in args.targets.split(","):
        predictor = predictor_without(target, Path(args.work), args.model, args.patience, log)
        previous["targets"][target] = evaluate_target(target, predictor, args, cache, log)
        out.with_suffix(".json").write_text(json.dumps(previous, indent=1))
        write_markdown(previous, out)
    return previous


def write_markdown(summary: dict, out: Path) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    lines = [
        "# Amortized calibration: leave one benchmark out",
        "",
        f"Run {datetime.date.today().isoformat()} on {platform.machine()} {cpu}, "
        f"{os.cpu_count()} cores (shared with other jobs), no GPU. Produced by "
        "`python benchmarks/amortized.py` (its docstring states the protocol).",
        "",
    ]
    for target, r in summary["targets"].items():
        lines += [
            f"## {target}",
            "",
            f"{r['n_items']} questions with text, {r['n_models']} models: {r['n_evaluation']} "
            f"evaluation models, a pool of {r['n_pool']}. Predictor trained without {target} "
            f"(pooled scale, predictive SE {r['pooled_residual_sd']:.2f}).",
            "",
            "| calibration | held-out log-loss | held-out AUC |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {v['log_loss']:.4f} | {v['auc']:.4f} |"
                  for k, v in r["results"].items()]
        if r["adaptive_50"]:
            lines += ["", "Adaptive testing, mean absolute accuracy error after 50 questions: "
                      + ", ".join(f"{k} {v:.4f}" for k, v in r["adaptive_50"].items()) + "."]
        lines.append("")
    existing = out.read_text() if out.exists() else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else "\n"
    out.write_text("\n".join(lines) + "<!-- notes -->" + notes)


if __name__ == "__main__":
    main()
