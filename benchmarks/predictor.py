"""Benchmark the difficulty predictor on held-out MMLU-Pro questions.

    python benchmarks/predictor.py [--model models/difficulty-predictor]
        [--out benchmarks/results/predictor.md]

Held-out questions: the artifact's ``heldout_ids.json`` (never trained on). Abilities ``theta`` of
the 23 calibration models come from a 2PL calibration on the *training* questions only; the
held-out targets ``b`` come from a 2PL calibration on *all* questions (so the held-out questions'
responses are used only to score, never to predict). Both calibrations are cached.

Each method gives held-out parameters ``(b_j, a_j)``; we report

- Pearson / Spearman correlation of ``b_j`` with the fully calibrated difficulty;
- AUC and log-loss of ``P(y_ij = 1) = sigmoid(a_j (theta_i - b_j))`` on every held-out response;

for: a constant, the per-category and per-source (``src``) groups, the predictor (each objective,
with and without the category input; the other variants are trained here by
``training/train_predictor.py``, run as a subprocess with the artifact's YAML file and one
variant forced), cross-fitted calibration (each held-out item calibrated on the responses of
half the models and scored on the other half: what ~11 models' answers buy), and full
calibration (in-sample on the scored responses: an upper bound).

Group baselines: for correlations the group mean of the training questions' calibrated ``b``; for
responses the group's ``(b, a)`` fitted by maximum likelihood to the training responses (theta
fixed), the best any group-level model can do. "integrated over SE": the predictor's ``P`` with the
predictive uncertainty integrated out, ``sigmoid(a (theta - b) / sqrt(1 + pi a^2 se^2 / 8))``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from adaptive_eval.bank import ItemBank
from adaptive_eval.calibration import calibrate
from adaptive_eval.data import ResponseData
from adaptive_eval.irt import prob
from adaptive_eval.predictor import DifficultyPredictor, question_text
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import log_loss, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mmlu_pro"
TRAIN = ROOT / "training" / "train_predictor.py"


@dataclass
class Table:
    """Per-question data, rows aligned with ``ids``: text, category, and the responses of the
    calibration models (``y`` 0/1 and ``mask`` observed, both (n_questions, n_models))."""

    ids: list[str]
    texts: list[str]
    categories: list[str]
    y: torch.Tensor
    mask: torch.Tensor


def load_items(path: str | Path) -> pd.DataFrame:
    """Items with ``question_id`` as str and the encoder's ``text``."""
    items = pd.read_csv(path)
    items["question_id"] = items["question_id"].astype(str)
    items["text"] = [question_text(q, o) for q, o in zip(items.question, items.options,
                                                         strict=True)]
    return items.reset_index(drop=True)


def calibrated_bank(responses: pd.DataFrame, ids: list[str], log) -> ItemBank:
    """A 2PL bank calibrated on the responses to ``ids``, with the models' abilities."""
    data = ResponseData.from_long(responses[responses.question_id.isin(set(ids))],
                                  source="responses (subset)")
    log(f"calibrating 2pl on {data} ...")
    fit = calibrate(data, model="2pl")
    fit.bank.abilities = {m: {"theta": a.theta, "se": a.se} for m, a in fit.abilities.items()}
    return fit.bank


def response_table(items: pd.DataFrame, responses: pd.DataFrame, models: list[str]) -> Table:
    row = {q: k for k, q in enumerate(items.question_id)}
    col = {m: k for k, m in enumerate(models)}
    sub = responses[responses.question_id.isin(row) & responses.model.isin(col)]
    r, c = sub.question_id.map(row).to_numpy(), sub.model.map(col).to_numpy()
    y = torch.zeros(len(items), len(models))
    mask = torch.zeros(len(items), len(models), dtype=torch.bool)
    y[r, c] = torch.tensor(np.array(sub.correct, dtype=np.float32))
    mask[r, c] = True
    return Table(list(items.question_id), list(items.text), list(items.category), y, mask)


def difficulty_metrics(b_true: np.ndarray, b_pred: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(b_true)
    return {"pearson": float(pearsonr(b_true[ok], b_pred[ok])[0]),
            "spearman": float(spearmanr(b_true[ok], b_pred[ok])[0])}


def predicted(model: DifficultyPredictor, table: Table, rows: np.ndarray,
              with_category: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The predictor's ``(b, a)`` for ``rows`` (``a = 1`` when it predicts no discrimination)."""
    texts = [table.texts[i] for i in rows]
    cats = [table.categories[i] for i in rows] if with_category else None
    out = model.predict_parameters(texts, cats)
    return out["b"], out.get("a", np.ones_like(out["b"]))


def train_variant(config: str, items: str, responses: str, objective: str, use_category: bool,
                  out: Path) -> DifficultyPredictor:
    """One variant trained by the training script (a subprocess) with ``config``'s settings."""
    command = [sys.executable, str(TRAIN), "--config", config, "--items", items,
               "--responses", responses, "--objective", objective,
               "--use_category", "yes" if use_category else "no", "--output_dir", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return DifficultyPredictor.from_pretrained(out)


def fit_groups(groups, table, rows, theta, model_mask=None, prior_b_sd=2.0, prior_log_a_sd=0.5):
    """Maximum a-posteriori ``(b_g, a_g)`` per group from the responses of ``rows``, theta fixed.

    ``-sum log Bernoulli(y_ij; sigmoid(a_g (theta_i - b_g)))`` plus the calibration's priors
    ``b ~ N(0, 2^2)``, ``log a ~ N(0, 0.5^2)``; L-BFGS. ``model_mask`` (n_models,) restricts the
    responses used to some models.
    """
    groups = torch.as_tensor(groups, dtype=torch.long)
    n_groups = int(groups.max()) + 1
    y, mask = table.y[rows], table.mask[rows].clone()
    if model_mask is not None:
        mask &= torch.as_tensor(model_mask, dtype=torch.bool)[None, :]
    theta_t = torch.tensor(theta, dtype=torch.float32)
    b = torch.zeros(n_groups, requires_grad=True)
    log_a = torch.zeros(n_groups, requires_grad=True)
    optimizer = torch.optim.LBFGS([b, log_a], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        z = torch.exp(log_a)[groups, None] * (theta_t[None, :] - b[groups, None])
        nll = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")
        loss = (
            (nll * mask).sum()
            + (b**2).sum() / (2 * prior_b_sd**2)
            + (log_a**2).sum() / (2 * prior_log_a_sd**2)
        )
        loss.backward()
        return loss

    optimizer.step(closure)
    return b.detach().numpy().astype(np.float64), np.exp(log_a.detach().numpy()).astype(np.float64)


def scores(table, rows, theta, b, a, b_true, mask=None):
    """Correlations with ``b_true`` and response AUC / log-loss (on ``mask`` cells if given)."""
    out = difficulty_metrics(b_true, b) if np.ptp(b) > 0 else {"pearson": 0.0, "spearman": 0.0}
    return out | cell_scores(table, rows, prob(theta[None, :], b[:, None], a[:, None]), mask)


def cell_scores(table, rows, p, mask=None):
    m = table.mask[rows].numpy() if mask is None else mask
    y = table.y[rows].numpy()
    return {"auc": float(roc_auc_score(y[m], p[m])),
            "log_loss": float(log_loss(y[m], p[m], labels=[0, 1]))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "difficulty-predictor"))
    parser.add_argument("--config", default=str(ROOT / "training" / "configs" / "predictor.yaml"))
    parser.add_argument("--items", default=str(DATA / "items.csv.gz"))
    parser.add_argument("--responses", default=str(DATA / "responses.csv.gz"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "predictor.md"))
    parser.add_argument("--no-refit", action="store_true", help="skip refitting the variants")
    cli = parser.parse_args(argv)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731

    predictor = DifficultyPredictor.from_pretrained(cli.model)
    heldout_ids = json.loads((Path(cli.model) / "heldout_ids.json").read_text())
    items = load_items(cli.items)
    responses = pd.read_csv(cli.responses, dtype={"question_id": str})
    held = set(heldout_ids)
    train_ids = [q for q in items.question_id if q not in held]
    train_bank = calibrated_bank(responses, train_ids, log)
    full_bank = calibrated_bank(responses, list(items.question_id), log)
    models = sorted(train_bank.abilities)
    theta = np.array([train_bank.abilities[m]["theta"] for m in models])

    predictor.embed(list(items.text), progress=True)  # fills the embedding cache once
    table = response_table(items, responses, models)
    pos = {q: k for k, q in enumerate(items.question_id)}
    held_rows = np.array([pos[q] for q in heldout_ids])
    train_rows = np.array([pos[q] for q in train_ids])
    full = full_bank.index(heldout_ids)
    b_true, a_true = full_bank.b[full], full_bank.a[full]

    results: dict[str, dict] = {}
    train_b = train_bank.b[train_bank.index(train_ids)]
    for name, column in (("constant", None), ("per-category", "category"), ("per-source", "src")):
        keys = np.zeros(len(items), int) if column is None else pd.factorize(items[column])[0]
        g_b, g_a = fit_groups(keys[train_rows], table, train_rows, theta)
        mean_b = pd.Series(train_b).groupby(keys[train_rows]).mean()
        b_corr = mean_b.reindex(keys[held_rows]).fillna(float(np.mean(train_b))).to_numpy()
        group_index = {g: k for k, g in enumerate(keys[train_rows])}  # any row of the group
        rows_of = np.array([group_index.get(g, -1) for g in keys[held_rows]])
        gb = np.where(rows_of >= 0, g_b[keys[held_rows]], np.median(g_b))
        ga = np.where(rows_of >= 0, g_a[keys[held_rows]], np.median(g_a))
        r = scores(table, held_rows, theta, gb, ga, b_true)
        if column is not None:
            r |= difficulty_metrics(b_true, b_corr)
        results[name] = r
        log(f"{name}: {r}")

    def predictor_rows(model, label):
        for with_cat in [True, False] if model.config.categories else [True]:
            b, a = predicted(model, table, held_rows, with_category=with_cat)
            suffix = (
                ""
                if not model.config.categories
                else (", category given" if with_cat else ", text only")
            )
            results[f"{label}{suffix}"] = scores(table, held_rows, theta, b, a, b_true)
            se = model.config.residual_sd
            # sigmoid(a (theta - b) / sqrt(1 + pi a^2 se^2 / 8)) = prob(theta, b, a / sqrt(...))
            a_integrated = a / np.sqrt(1 + np.pi * (a * se) ** 2 / 8)
            p = prob(theta[None, :], b[:, None], a_integrated[:, None])
            results[f"{label}{suffix}, integrated over SE"] = difficulty_metrics(
                b_true, b
            ) | cell_scores(table, held_rows, p)
            log(f"{label}{suffix}: {results[f'{label}{suffix}']}")

    chosen = f"predictor ({predictor.config.objective}, shipped)"
    predictor_rows(predictor, chosen)

    if not cli.no_refit:  # every variant, trained by the training script itself
        with tempfile.TemporaryDirectory() as tmp:
            for objective in ("regression", "joint"):
                for use_category in (False, True):
                    out = Path(tmp) / f"{objective}-{use_category}"
                    model = train_variant(cli.config, cli.items, cli.responses, objective,
                                          use_category, out)
                    if json.loads((out / "heldout_ids.json").read_text()) != heldout_ids:
                        raise SystemExit(f"{cli.config} holds out other questions than "
                                         f"{cli.model}: not the artifact's settings")
                    label = f"refit: {objective}, " + (
                        "category input" if use_category else "text only"
                    )
                    b, a = predicted(model, table, held_rows)
                    results[label] = scores(table, held_rows, theta, b, a, b_true)
                    log(f"{label}: {results[label]}")

    # cross-fitted calibration: items calibrated on half the models, scored on the other half
    rng = np.random.default_rng(0)
    half = np.zeros(len(models), bool)
    half[rng.permutation(len(models))[: len(models) // 2]] = True
    p = np.zeros(table.y[held_rows].shape)
    for fold in (half, ~half):
        b_f, a_f = fit_groups(np.arange(len(held_rows)), table, held_rows, theta, model_mask=fold)
        z = a_f[:, None] * (theta[None, :] - b_f[:, None])
        p[:, ~fold] = (1 / (1 + np.exp(-z)))[:, ~fold]
    # (its b shares responses with the targets, so no correlation is reported for it)
    nan = {"pearson": float("nan"), "spearman": float("nan")}
    results["cross-fitted calibration (~11 models per item)"] = nan | cell_scores(
        table, held_rows, p
    )
    results["full calibration (in-sample, upper bound)"] = scores(
        table, held_rows, theta, b_true, a_true, b_true
    )

    # throughput of predict() on this machine, uncached (encoder + head) and cached
    texts = [table.texts[i] for i in held_rows[:128]]
    start = time.perf_counter()
    predictor.predict(texts, cache=False)
    uncached = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    predictor.predict([table.texts[i] for i in held_rows])
    cached = len(held_rows) / (time.perf_counter() - start)

    cat, top = (
        results["per-category"]["auc"],
        results["full calibration (in-sample, upper bound)"]["auc"],
    )
    ours = results[next(k for k in results if k.startswith(chosen))]["auc"]
    summary = {
        "results": results,
        "gap_closed": (ours - cat) / (top - cat),
        "throughput_uncached": uncached,
        "throughput_cached": cached,
        "n_heldout": len(held_rows),
        "n_cells": int(table.mask[held_rows].sum()),
        "chosen": chosen,
    }
    write_markdown(summary, predictor, Path(cli.out))
    log(json.dumps({k: v for k, v in summary.items() if k != "results"}, indent=1))
    return summary


def write_markdown(summary: dict, predictor: DifficultyPredictor, out: Path) -> None:
    cpu = "unknown CPU"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    lines = [
        "# Difficulty predictor: held-out MMLU-Pro",
        "",
        f"Run {datetime.date.today().isoformat()} on {platform.machine()} {cpu}, "
        f"{os.cpu_count()} cores (shared with other jobs), torch {torch.__version__}, no GPU.",
        "Produced by `python benchmarks/predictor.py` (see its docstring for every method).",
        "",
        f"{summary['n_heldout']} held-out questions "
        "(`models/difficulty-predictor/heldout_ids.json`),"
        f" {summary['n_cells']} responses of 23 models. Difficulty targets: 2PL calibration on all "
        "questions; abilities: 2PL calibration on the training questions only. Encoder "
        f"`{predictor.config.encoder}` (frozen, {predictor.config.max_length} tokens).",
        "",
        "| method | Pearson r | Spearman r | response AUC | response log-loss |",
        "|---|---|---|---|---|",
    ]
    for name, r in summary["results"].items():
        corr = [f"{r[k]:.3f}" if np.isfinite(r[k]) else "n/a" for k in ("pearson", "spearman")]
        lines.append(f"| {name} | {corr[0]} | {corr[1]} | {r['auc']:.4f} | {r['log_loss']:.4f} |")
    lines += [
        "",
        f"Share of the AUC gap between the per-category baseline and full calibration closed by "
        f"the shipped predictor: **{summary['gap_closed']:.0%}** (bar: 50%).",
        "",
        f"Throughput of `predict()` on this CPU: {summary['throughput_uncached']:.1f} questions/s "
        f"uncached (encoder + head), {summary['throughput_cached']:.0f} questions/s when the "
        "embeddings are cached.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = out.read_text() if out.exists() else ""
    notes = existing.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in existing else "\n"
    out.write_text("\n".join(lines) + "<!-- notes -->" + notes)


if __name__ == "__main__":
    main()
