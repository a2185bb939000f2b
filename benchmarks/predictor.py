"""Benchmark the difficulty predictor on the held-out questions of every bank it was trained on.

    python benchmarks/predictor.py [--model models/difficulty-predictor] [--baseline OLD_DIR]
        [--data-dir ../shared/data] [--out benchmarks/results/predictor.md]

Held-out questions: the artifact's ``heldout_ids.json`` (per bank; never trained on). For each
bank, the abilities ``theta`` of its models come from a 2PL calibration on its *training*
questions only; the held-out targets ``(b, a)`` are the shipped bank's (``models/banks/<name>``,
calibrated on all questions), so the held-out questions' responses are used only to score.

Each method gives held-out parameters ``(b_j, a_j)``; we report the Pearson correlation of
``b_j`` with the shipped bank's difficulty, and the AUC and log-loss of
``P(y_ij = 1) = sigmoid(a_j (theta_i - b_j))`` on every held-out response, for:

- constant / per-category / per-source (MMLU-Pro's ``src``): for correlations the group mean of
  the training questions' calibrated ``b``; for responses the group's ``(b, a)`` fitted by maximum
  a-posteriori to the training responses (theta fixed), the best any group-level model can do;
- kNN: the mean ``b`` and ``log a`` of the ``k`` training questions of the same bank nearest in
  the predictor's embedding space (cosine);
- the predictor, given the benchmark (its scale) and the category; and from the text alone
  (pooled scale, no category);
- ``--baseline``: another predictor (e.g. the previous one) on the banks it knows;
- full calibration (the shipped bank, in-sample on the scored responses: an upper bound).

"gap closed": ``(AUC_predictor - AUC_per-category) / (AUC_full - AUC_per-category)`` (per-source
... where a bank has no categories: the constant).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from adaptive_eval.amortized.predictor import DifficultyPredictor
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.items import bank_items, bank_responses
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.irt.calibration import calibrate
from adaptive_eval.irt.model import prob
from scipy.stats import pearsonr
from sklearn.metrics import log_loss, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@dataclass
class Table:
    """One bank's held-out questions: responses ``y`` 0/1 and ``mask`` observed
    (n_questions, n_models), the models' abilities ``theta`` (training calibration)."""

    y: np.ndarray
    mask: np.ndarray
    theta: np.ndarray


def heldout_of(model_dir: Path) -> dict[str, list[str]]:
    """``heldout_ids.json`` as ``{bank: ids}`` (a plain list is the MMLU-Pro-only predictor's)."""
    heldout = json.loads((model_dir / "heldout_ids.json").read_text())
    return heldout if isinstance(heldout, dict) else {"mmlu-pro": [str(q) for q in heldout]}


def response_table(data: ResponseData, ids: list[str], theta: dict[str, float]) -> Table:
    frame = data.to_long()
    frame = frame[frame.question_id.isin(set(ids)) & frame.model.isin(theta)]
    models = sorted(theta)
    row, col = {q: k for k, q in enumerate(ids)}, {m: k for k, m in enumerate(models)}
    r, c = frame.question_id.map(row).to_numpy(), frame.model.map(col).to_numpy()
    y = np.zeros((len(ids), len(models)))
    mask = np.zeros((len(ids), len(models)), dtype=bool)
    y[r, c], mask[r, c] = frame.correct.to_numpy(), True
    return Table(y, mask, np.array([theta[m] for m in models]))


def fit_groups(groups: np.ndarray, table: Table, prior_b_sd: float = 2.0,
               prior_log_a_sd: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Maximum a-posteriori ``(b_g, a_g)`` per group, theta fixed:
    ``-sum log Bernoulli(y_ij; sigmoid(a_g (theta_i - b_g)))`` plus the calibration's priors
    ``b ~ N(0, 2^2)``, ``log a ~ N(0, 0.5^2)``; L-BFGS."""
    groups_t = torch.as_tensor(groups, dtype=torch.long)
    n_groups = int(groups.max()) + 1
    y, mask = torch.as_tensor(table.y), torch.as_tensor(table.mask, dtype=torch.float64)
    theta = torch.as_tensor(table.theta)
    b = torch.zeros(n_groups, dtype=torch.float64, requires_grad=True)
    log_a = torch.zeros(n_groups, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([b, log_a], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        z = torch.exp(log_a)[groups_t, None] * (theta[None, :] - b[groups_t, None])
        nll = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")
        loss = ((nll * mask).sum() + (b**2).sum() / (2 * prior_b_sd**2)
                + (log_a**2).sum() / (2 * prior_log_a_sd**2))
        loss.backward()
        return loss

    optimizer.step(closure)
    return b.detach().numpy(), np.exp(log_a.detach().numpy())


def scores(table: Table, b: np.ndarray, a: np.ndarray, b_true: np.ndarray,
           b_corr: np.ndarray | None = None) -> dict[str, float]:
    """Pearson r of ``b_corr`` (default ``b``) with ``b_true``; AUC / log-loss of ``(b, a)``."""
    b_corr = b if b_corr is None else b_corr
    r = float(pearsonr(b_true, b_corr)[0]) if np.ptp(b_corr) > 0 else 0.0
    p = prob(table.theta[None, :], b[:, None], a[:, None])
    y, p = table.y[table.mask], p[table.mask]
    return {"pearson": r, "auc": float(roc_auc_score(y, p)),
            "log_loss": float(log_loss(y, p, labels=[0, 1]))}


def group_baseline(keys: np.ndarray, train: np.ndarray, train_table: Table, held_table: Table,
                   train_b: np.ndarray, b_true: np.ndarray) -> dict[str, float]:
    """Group baseline (module docstring): ``keys`` per question, ``train`` marks training rows."""
    codes, uniques = pd.factorize(keys)
    g_b, g_a = fit_groups(codes[train], train_table)
    seen = np.isin(codes[~train], codes[train])
    held = codes[~train]
    gb = np.where(seen, g_b[np.clip(held, 0, len(g_b) - 1)], np.median(g_b))
    ga = np.where(seen, g_a[np.clip(held, 0, len(g_a) - 1)], np.median(g_a))
    mean_b = pd.Series(train_b).groupby(codes[train]).mean()
    b_corr = mean_b.reindex(held).fillna(float(train_b.mean())).to_numpy()
    return scores(held_table, gb, ga, b_true, b_corr)


def knn(emb: np.ndarray, train: np.ndarray, b: np.ndarray, a: np.ndarray,
        k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``b`` and geometric-mean ``a`` of each held-out question's ``k`` nearest training
    questions (cosine similarity of normalised embeddings)."""
    sim = emb[~train] @ emb[train].T
    nearest = np.argsort(-sim, axis=1)[:, :k]
    return b[nearest].mean(1), np.exp(np.log(a[nearest]).mean(1))


def evaluate_bank(name: str, heldout: list[str], predictor: DifficultyPredictor,
                  baseline: DifficultyPredictor | None, args, cache: dict, log) -> dict:
    items = bank_items(name, args.data_dir)
    held_set = set(heldout)
    train = ~items.question_id.isin(held_set).to_numpy()
    ids = list(items.question_id)
    train_ids = [q for q, t in zip(ids, train, strict=True) if t]
    held_ids = [q for q, t in zip(ids, train, strict=True) if not t]
    data = bank_responses(name, args.data_dir, cache)
    frame = data.to_long()
    train_data = ResponseData.from_long(frame[frame.question_id.isin(set(train_ids))],
                                        source=f"{name} training questions")
    fit = calibrate(train_data, model="2pl", progress=lambda line: None)
    theta = {m: a.theta for m, a in fit.abilities.items()}
    train_table = response_table(data, train_ids, theta)
    held_table = response_table(data, held_ids, theta)
    shipped = ItemBank.load(name)
    full = shipped.index(held_ids)
    b_true, a_true = shipped.b[full], shipped.a[full]
    tb = fit.bank.index(train_ids)
    train_b, train_a = fit.bank.b[tb], fit.bank.a[tb]

    results = {"constant": group_baseline(np.zeros(len(ids)), train, train_table, held_table,
                                          train_b, b_true)}
    for label, column in (("per-category", "category"), ("per-source", "source")):
        if items[column].notna().all():
            results[label] = group_baseline(items[column].to_numpy(), train, train_table,
                                            held_table, train_b, b_true)
    emb = predictor.embed(list(items.text))
    results[f"kNN (k={args.k}, embeddings)"] = scores(
        held_table, *knn(emb, train, train_b, train_a, args.k), b_true)
    texts = [t for t, keep in zip(items.text, train, strict=True) if not keep]
    cats = [c for c, keep in zip(items.category, train, strict=True) if not keep]
    known = predictor.predict_parameters(texts, cats, name)
    results["predictor, benchmark + category given"] = scores(
        held_table, known["b"], known["a"], b_true)
    alone = predictor.predict_parameters(texts)
    results["predictor, text only (pooled scale)"] = scores(
        held_table, alone["b"], alone["a"], b_true)
    if baseline is not None and (name in baseline.config.benchmarks
                                 or (not baseline.config.benchmarks and name == "mmlu-pro")):
        old = baseline.predict_parameters(texts, cats)
        results["baseline predictor (previous), category given"] = scores(
            held_table, old["b"], old["a"], b_true)
    results["full calibration (in-sample, upper bound)"] = scores(
        held_table, b_true, a_true, b_true)
    reference = results.get("per-category", results["constant"])["auc"]
    top = results["full calibration (in-sample, upper bound)"]["auc"]
    ours = results["predictor, benchmark + category given"]["auc"]
    out = {"results": results, "gap_closed": (ours - reference) / (top - reference),
           "gap_reference": "per-category" if "per-category" in results else "constant",
           "n_heldout": len(held_ids), "n_cells": int(held_table.mask.sum()),
           "n_models": len(theta)}
    log(f"{name}: r {results['predictor, benchmark + category given']['pearson']:.3f}, "
        f"gap closed {out['gap_closed']:.0%}")
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "difficulty-predictor"))
    parser.add_argument("--baseline", default=None, help="another predictor folder to compare")
    parser.add_argument("--data-dir", default=str(DATA))
    parser.add_argument("--k", type=int, default=20, help="neighbours of the kNN baseline")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "predictor.md"))
    args = parser.parse_args(argv)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    predictor = DifficultyPredictor.from_pretrained(args.model)
    baseline = DifficultyPredictor.from_pretrained(args.baseline) if args.baseline else None
    cache: dict = {}
    banks = {name: evaluate_bank(name, ids, predictor, baseline, args, cache, log)
             for name, ids in heldout_of(Path(args.model)).items()}
    summary = {"banks": banks, "model": args.model, "baseline": args.baseline}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    write_markdown(summary, predictor, out)
    return summary


def write_markdown(summary: dict, predictor: DifficultyPredictor, out: Path) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    lines = [
        "# Difficulty predictor: held-out questions of every bank",
        "",
        f"Run {datetime.date.today().isoformat()} on {platform.machine()} {cpu}, "
        f"{os.cpu_count()} cores (shared with other jobs), torch {torch.__version__}, no GPU.",
        "Produced by `python benchmarks/predictor.py"
        + (" --baseline <previous predictor>" if summary["baseline"] else "")
        + "` (see its docstring for every method).",
        f"Encoder `{predictor.config.encoder}` (frozen, {predictor.config.max_length} tokens). "
        "Targets: each shipped bank's 2PL difficulties; abilities: 2PL calibration on the bank's "
        "training questions only.",
        "",
    ]
    for name, bank in summary["banks"].items():
        lines += [
            f"## {name}",
            "",
            f"{bank['n_heldout']} held-out questions, {bank['n_cells']} responses of "
            f"{bank['n_models']} models. AUC gap between the {bank['gap_reference']} baseline "
            f"and full calibration closed by the predictor: **{bank['gap_closed']:.0%}**.",
            "",
            "| method | Pearson r | response AUC | response log-loss |",
            "|---|---|---|---|",
        ]
        lines += [f"| {m} | {r['pearson']:.3f} | {r['auc']:.4f} | {r['log_loss']:.4f} |"
                  for m, r in bank["results"].items()]
        lines.append("")
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = out.read_text() if out.exists() else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else "\n"
    out.write_text("\n".join(lines) + "<!-- notes -->" + notes)


if __name__ == "__main__":
    main()
