"""Train the difficulty predictor (question text -> IRT difficulty) on every named bank with text.

    accelerate launch training/train_predictor.py --config training/configs/predictor.yaml

(``python training/train_predictor.py --config ...`` is the same on one CPU process.) Flags given
on the command line override the YAML file; ``--help`` lists every argument. Arguments, as in
TRL's example scripts (``TrlParser``): :class:`PredictorScriptArguments` (banks, head),
``transformers.TrainingArguments`` (``output_dir``, ``num_train_epochs`` = the most epochs,
``per_device_train_batch_size`` = questions per step, ``learning_rate``, ``weight_decay``,
``seed``, ``push_to_hub``, ``hub_model_id``) and TRL's ``ModelConfig`` (``model_name_or_path``
= the frozen text encoder, ``model_revision``). A quick run: ``--banks gsm8k cruxeval
--num_train_epochs 5``. The last line on stdout is the run's summary as JSON (progress goes to
stderr).

What it does:

1. The items of each bank in ``banks`` with their text (``adaptive_eval.banks.items``).
2. Split by question within each bank: ``heldout_fraction`` (20%) held out, stratified by
   category, fixed seed (on MMLU-Pro the same split as the single-benchmark predictor had); the
   ids go to ``heldout_ids.json``. The rest is split again (``validation_fraction``) into *fit*
   and *validation* questions: validation drives early stopping, the choice of the category
   input, and the predictive SEs.
3. Each bank is calibrated (2PL) on the responses to its training questions (fit + validation)
   only: targets ``b``, ``a`` and the abilities ``theta`` of its models. Held-out questions never
   enter training.
4. Embed every text once with the frozen encoder (cached on disk by text hash).
5. Train the head and the per-benchmark scales (``offset_k``, ``log scale_k``,
   ``log_a_offset_k``; initialised at each bank's mean / SD of ``b`` and mean ``log a``) on the
   joint amortized IRT likelihood, abilities fixed at their calibrated values, every question
   weighted alike:
   ``L = mean_j mean_{i answered j} -log Bernoulli(y_ij; sigmoid(a_hat_j (theta_i - b_hat_j)))``
   with ``(b_hat_j, a_hat_j)`` the head's output on the scale of question ``j``'s benchmark.
   At most ``max_cells_per_item`` responses per question (a seeded sample) enter the loss, so
   that metabench's thousands of models per question cost what a few hundred do. Minibatches of
   questions, AdamW, early stopping on the validation loss (``patience`` epochs). With
   ``use_category auto`` both with and without the category input are trained; the lower
   validation loss is kept.
6. Predictive SEs on validation questions, per benchmark and for the pooled scale:
   ``residual_sd^2 = mean((b_hat - b)^2) - mean(se(b)^2)`` (calibration noise removed); the same
   for ``log a`` (``log_a_residual_sd``, one for all benchmarks).
7. Save ``model.safetensors`` (head), ``config.json`` (with ``benchmarks``: the scales),
   ``heldout_ids.json`` and the model card to ``output_dir``; with ``--push_to_hub
   --hub_model_id ORG/NAME``, upload it (``adaptive_eval.hub.publish.publish``: checked first).

Response metrics: ``sklearn.metrics.roc_auc_score`` and ``log_loss`` of
``P(y_ij = 1) = irt.model.prob(theta_i, b_j, a_j)``. The encoder stays frozen: fine-tuning
it (``PredictorConfig.train_encoder``) is for a GPU and is not done by this script.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator
from adaptive_eval.amortized.predictor import DifficultyPredictor, PredictorConfig
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.catalog import CATALOG
from adaptive_eval.banks.items import bank_items, bank_responses
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.hub.cards import render_card
from adaptive_eval.hub.publish import publish
from adaptive_eval.irt.calibration import calibrate
from adaptive_eval.irt.model import prob
from huggingface_hub import ModelCardData
from sklearn.metrics import log_loss, roc_auc_score
from transformers import TrainingArguments
from trl import ModelConfig, TrlParser

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATASETS = {"mmlu_pro": ["TIGER-Lab/MMLU-Pro"],
            "zeroeval": ["WildEval/ZeroEval", "edinburgh-dawg/mmlu-redux"],
            "metabench": ["HCAI/metabench"]}


@dataclass
class PredictorScriptArguments:
    """What is specific to this script; trainer and model settings are TrainingArguments' and
    ModelConfig's own fields."""

    banks: list[str] = field(
        default_factory=lambda: list(CATALOG),
        metadata={"help": f"Named banks to train on ({', '.join(CATALOG)})."},
    )
    data_dir: str = field(
        default=str(DATA), metadata={"help": "Folder with mmlu_pro/, zeroeval/, metabench/."}
    )
    heldout_fraction: float = field(default=0.2, metadata={"help": "Questions held out."})
    validation_fraction: float = field(
        default=0.1, metadata={"help": "Share of the training questions used for validation."}
    )
    max_length: int = field(default=256, metadata={"help": "Tokens per text (truncation)."})
    hidden_sizes: list[int] = field(
        default_factory=lambda: [256], metadata={"help": "Hidden layer widths of the head."}
    )
    dropout: float = field(default=0.1, metadata={"help": "Dropout in the head."})
    use_category: str = field(
        default="auto", metadata={"help": "Category one-hot input: yes, no, or auto."}
    )
    category_dropout: float = field(
        default=0.2,
        metadata={"help": "Chance a training item's category is hidden (so it can be omitted)."},
    )
    predict_discrimination: bool = field(
        default=True, metadata={"help": "Predict the 2PL discrimination a as well as b."}
    )
    patience: int = field(
        default=10, metadata={"help": "Early stopping: epochs without a better validation loss."}
    )
    max_cells_per_item: int = field(
        default=400, metadata={"help": "Responses per question in the loss (a seeded sample)."}
    )
    embed_batch_size: int = field(default=64, metadata={"help": "Texts per encoder batch."})


def make_parser() -> TrlParser:
    return TrlParser((PredictorScriptArguments, TrainingArguments, ModelConfig))


# ---- data ------------------------------------------------------------------------------------


def stratified_split(
    ids: list[str], strata: list[str], fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """``(rest, chosen)``: ``round(fraction * n_s)`` ids chosen at random within each stratum."""
    rng = np.random.default_rng(seed)
    ids_arr, strata_arr = np.asarray(ids), np.asarray(strata)
    chosen: list[str] = []
    for stratum in sorted(set(strata)):
        members = ids_arr[strata_arr == stratum]
        k = int(round(fraction * len(members)))
        chosen += list(rng.permutation(members)[:k])
    chosen_set = set(chosen)
    return [i for i in ids if i not in chosen_set], [i for i in ids if i in chosen_set]


def split_bank(items: pd.DataFrame, args: PredictorScriptArguments,
               seed: int) -> dict[str, list[str]]:
    """``{"fit", "validation", "heldout"}`` question ids of one bank (module docstring, step 2)."""
    ids = list(items.question_id)
    strata = [c or "" for c in items.category]
    train, heldout = stratified_split(ids, strata, args.heldout_fraction, seed)
    train_set = set(train)
    train_strata = [s for i, s in zip(ids, strata, strict=True) if i in train_set]
    fit_ids, validation = stratified_split(train, train_strata, args.validation_fraction, seed + 1)
    return {"fit": fit_ids, "validation": validation, "heldout": heldout}


@dataclass
class Cells:
    """Responses in long form: the question's row, the model's ability, the answer, and the
    cell's weight ``1 / (responses of its question in the loss)``."""

    row: torch.Tensor
    theta: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor


def bank_cells(data: ResponseData, row_of: dict[str, int], theta: dict[str, float],
               max_per_item: int, rng: np.random.Generator) -> Cells:
    """The responses of the models in ``theta`` to the questions in ``row_of``; at most
    ``max_per_item`` per question (seeded sample)."""
    frame = data.to_long()
    frame = frame[frame.question_id.isin(row_of) & frame.model.isin(theta)]
    frame = frame.sample(frac=1.0, random_state=int(rng.integers(2**31)))
    frame = frame.groupby("question_id", sort=False).head(max_per_item)
    rows = frame.question_id.map(row_of).to_numpy()
    counts = np.bincount(rows, minlength=max(row_of.values()) + 1)
    return Cells(
        torch.as_tensor(rows.copy(), dtype=torch.long),
        torch.as_tensor(frame.model.map(theta).to_numpy(), dtype=torch.float32),
        torch.as_tensor(frame.correct.to_numpy(), dtype=torch.float32),
        torch.as_tensor(1.0 / counts[rows], dtype=torch.float32),
    )


def train_calibration(data: ResponseData, train_ids: list[str]) -> ItemBank:
    """2PL bank on the responses to ``train_ids``, with its models' abilities."""
    frame = data.to_long()
    subset = ResponseData.from_long(frame[frame.question_id.isin(set(train_ids))],
                                    source="training questions")
    return calibrate(subset, model="2pl", progress=lambda line: None).bank


@dataclass
class Table:
    """Every question of every bank: rows aligned with ``items``."""

    items: pd.DataFrame  # question_id, benchmark, text, category, source, split
    emb: torch.Tensor  # (n, d)
    benchmark: torch.Tensor  # (n,) row of config.benchmarks
    b: np.ndarray  # training calibration (nan for held-out questions)
    b_se: np.ndarray
    a: np.ndarray
    a_se: np.ndarray
    cells: Cells

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.items.split.to_numpy() == split)


# ---- training --------------------------------------------------------------------------------


def new_predictor(args: PredictorScriptArguments, model_args: ModelConfig, table: Table,
                  use_category: bool, seed: int) -> DifficultyPredictor:
    """A predictor whose per-benchmark scales start at each bank's fit questions' mean / SD."""
    fit = table.items.split.to_numpy() == "fit"
    benchmarks = {}
    for name in args.banks:
        own = fit & (table.items.benchmark.to_numpy() == name)
        benchmarks[name] = {"offset": float(table.b[own].mean()),
                            "scale": float(table.b[own].std()),
                            "log_a_offset": float(np.log(table.a[own]).mean()),
                            "residual_sd": 1.0}
    categories = sorted({c for c in table.items.category[fit] if c}) if use_category else []
    config = PredictorConfig(
        encoder=model_args.model_name_or_path,
        encoder_revision=model_args.model_revision,
        max_length=args.max_length,
        hidden_sizes=list(args.hidden_sizes),
        dropout=args.dropout,
        predict_discrimination=args.predict_discrimination,
        categories=categories,
        log_a_std=float(np.log(table.a[fit]).std()),
        objective="joint",
        benchmarks=benchmarks,
    )
    torch.manual_seed(seed)
    return DifficultyPredictor(config)


def rows_loss(model: DifficultyPredictor, table: Table, rows: torch.Tensor,
              onehot: torch.Tensor) -> torch.Tensor:
    """Per-question mean negative log-likelihood of the responses, averaged over ``rows``."""
    out = model(table.emb[rows], onehot, benchmark_index=table.benchmark[rows])
    position = torch.full((len(table.items),), -1, dtype=torch.long)
    position[rows] = torch.arange(len(rows))
    cell_pos = position[table.cells.row]
    keep = cell_pos >= 0
    pos, cells = cell_pos[keep], table.cells
    b = out["b"][pos]
    a = out["a"][pos] if "a" in out else torch.ones_like(b)
    nll = torch.nn.functional.binary_cross_entropy_with_logits(
        a * (cells.theta[keep] - b), cells.y[keep], reduction="none")
    return (nll * cells.weight[keep]).sum() / len(rows)


def fit(model: DifficultyPredictor, table: Table, args: PredictorScriptArguments,
        training_args: TrainingArguments, log=print) -> dict[str, list[float]]:
    """Train head and scales in place (minibatches of questions, AdamW); keep the weights of the
    best validation epoch."""
    generator = torch.Generator().manual_seed(training_args.seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=training_args.learning_rate,
                                  weight_decay=training_args.weight_decay)
    fit_rows = torch.as_tensor(table.rows("fit"))
    val_rows = torch.as_tensor(table.rows("validation"))
    onehot = model.category_features(list(table.items.category), len(table.items))
    batch = training_args.per_device_train_batch_size
    history: dict[str, list[float]] = {"train": [], "validation": []}
    best, best_state, stale = float("inf"), None, 0
    for epoch in range(int(training_args.num_train_epochs)):
        model.train()
        order = fit_rows[torch.randperm(len(fit_rows), generator=generator)]
        total = 0.0
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            keep = torch.rand(len(rows), 1, generator=generator) >= args.category_dropout
            loss = rows_loss(model, table, rows, onehot[rows] * keep)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        with torch.no_grad():
            model.eval()
            val = float(rows_loss(model, table, val_rows, onehot[val_rows]))
        history["train"].append(total / len(order))
        history["validation"].append(val)
        if val < best - 1e-6:
            best, stale = val, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()
                          if not k.startswith("encoder.")}
        else:
            stale += 1
        log(f"  epoch {epoch}: train {history['train'][-1]:.4f}, validation {val:.4f}")
        if stale >= args.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.eval()
    return history


@torch.no_grad()
def predict_rows(model: DifficultyPredictor, table: Table, rows: np.ndarray,
                 with_category: bool = True,
                 known_benchmark: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Predicted ``(b, a)`` for ``rows`` from the cached embeddings (``a = 1`` without a head
    for it)."""
    model.eval()
    cats = list(table.items.category.iloc[rows]) if with_category else None
    index = table.benchmark[rows] if known_benchmark else None
    out = model(table.emb[rows], model.category_features(cats, len(rows)), benchmark_index=index)
    b = out["b"].numpy().astype(np.float64)
    return b, out["a"].numpy().astype(np.float64) if "a" in out else np.ones_like(b)


def residual_sd(b_hat: np.ndarray, b: np.ndarray, b_se: np.ndarray) -> float:
    """``sqrt(mean((b_hat - b)^2) - mean(se^2))``, at least 0.1 (also used for ``log a``)."""
    return float(np.sqrt(max(np.mean((b_hat - b) ** 2) - np.mean(b_se**2), 0.01)))


def store_residual_sds(model: DifficultyPredictor, table: Table) -> None:
    """Per-benchmark and pooled predictive SEs of ``b`` from the validation questions (step 6),
    and one of ``log a`` (benchmarks known), noise ``se(a) / a`` removed."""
    rows = table.rows("validation")
    if model.config.predict_discrimination:
        _, a_hat = predict_rows(model, table, rows)
        a, a_se = table.a[rows], table.a_se[rows]
        model.config.log_a_residual_sd = residual_sd(np.log(a_hat), np.log(a), a_se / a)
    for k, name in enumerate(model.config.benchmarks):
        own = rows[table.benchmark[rows].numpy() == k]
        b_hat, _ = predict_rows(model, table, own)
        model.config.benchmarks[name]["residual_sd"] = residual_sd(b_hat, table.b[own],
                                                                   table.b_se[own])
    b_hat, _ = predict_rows(model, table, rows, known_benchmark=False)
    model.config.residual_sd = residual_sd(b_hat, table.b[rows], table.b_se[rows])


def response_metrics(table: Table, rows: np.ndarray, b: np.ndarray,
                     a: np.ndarray) -> dict[str, float]:
    """AUC and log-loss of ``prob(theta_i, b_j, a_j)`` on the cells of ``rows``."""
    position = np.full(len(table.items), -1)
    position[rows] = np.arange(len(rows))
    cell_pos = position[table.cells.row.numpy()]
    keep = cell_pos >= 0
    p = prob(table.cells.theta.numpy()[keep], b[cell_pos[keep]], a[cell_pos[keep]])
    y = table.cells.y.numpy()[keep]
    return {"auc": float(roc_auc_score(y, p)), "log_loss": float(log_loss(y, p, labels=[0, 1]))}


def evaluate(model: DifficultyPredictor, table: Table, split: str) -> dict[str, dict]:
    """Response metrics per benchmark on ``split``, with the benchmark known and unknown."""
    out = {}
    rows = table.rows(split)
    for k, name in enumerate(model.config.benchmarks):
        own = rows[table.benchmark[rows].numpy() == k]
        out[name] = {
            "known": response_metrics(table, own, *predict_rows(model, table, own)),
            "unknown": response_metrics(table, own, *predict_rows(
                model, table, own, with_category=False, known_benchmark=False)),
        }
    return out


# ---- main ------------------------------------------------------------------------------------


def build_table(args: PredictorScriptArguments, model_args: ModelConfig, seed: int,
                log=print) -> tuple[Table, dict[str, list[str]]]:
    """Items, splits, training calibrations, responses and embeddings of every bank."""
    unknown = [b for b in args.banks if b not in CATALOG]
    if unknown:
        raise SystemExit(f"--banks: unknown {unknown}; known: {', '.join(CATALOG)}")
    rng = np.random.default_rng(seed)
    frames, heldout, params, cell_parts, cache = [], {}, [], [], {}
    offset = 0
    for name in args.banks:
        items = bank_items(name, args.data_dir)
        split = split_bank(items, args, seed)
        items["split"] = items.question_id.map(
            {q: s for s, ids in split.items() for q in ids})
        heldout[name] = split["heldout"]
        data = bank_responses(name, args.data_dir, cache)
        bank = train_calibration(data, split["fit"] + split["validation"])
        log(f"{name}: {len(items)} questions ({len(split['heldout'])} held out), "
            f"{len(bank.abilities)} models")
        pos = {q: k for k, q in enumerate(bank.ids)}
        index = np.array([pos.get(q, -1) for q in items.question_id])
        params.append({k: np.where(index >= 0, getattr(bank, k)[index], np.nan)
                       for k in ("b", "b_se", "a", "a_se")})
        row_of = {q: offset + k for k, q in enumerate(items.question_id)}
        theta = {m: v["theta"] for m, v in bank.abilities.items()}
        cell_parts.append(bank_cells(data, row_of, theta, args.max_cells_per_item, rng))
        frames.append(items)
        offset += len(items)
    items = pd.concat(frames, ignore_index=True)
    probe = DifficultyPredictor(PredictorConfig(
        encoder=model_args.model_name_or_path, encoder_revision=model_args.model_revision,
        max_length=args.max_length))
    log(f"embedding {len(items)} questions (cached) ...")
    emb = probe.embed(list(items.text), batch_size=args.embed_batch_size, progress=True)
    bench_index = {name: k for k, name in enumerate(args.banks)}
    table = Table(
        items,
        torch.as_tensor(emb),
        torch.as_tensor(items.benchmark.map(bench_index).to_numpy(), dtype=torch.long),
        *(np.concatenate([p[k] for p in params]) for k in ("b", "b_se", "a", "a_se")),
        cells=Cells(*(torch.cat([getattr(c, f) for c in cell_parts])
                      for f in ("row", "theta", "y", "weight"))),
    )
    return table, heldout


def main(args: PredictorScriptArguments, training_args: TrainingArguments,
         model_args: ModelConfig) -> dict:
    """Train, choose a variant, save ``output_dir`` (and upload it with ``--push_to_hub``);
    return the summary (also printed as JSON on stdout)."""
    if not model_args.model_name_or_path:
        raise SystemExit("--model_name_or_path: the text encoder (e.g. "
                         "sentence-transformers/all-MiniLM-L6-v2) is required")
    accelerator = Accelerator()

    started = time.time()

    def log(line: str) -> None:
        if accelerator.is_main_process:
            print(f"[{time.time() - started:.0f} s] {line}", file=sys.stderr, flush=True)

    seed = training_args.seed
    table, heldout = build_table(args, model_args, seed, log)
    categories = {"auto": [False, True], "yes": [True], "no": [False]}[args.use_category]
    if not table.items.category.notna().any():
        categories = [False]  # no bank has categories
    variants = []
    for use_category in categories:
        log(f"training: category input={use_category}")
        model = new_predictor(args, model_args, table, use_category, seed)
        history = fit(model, table, args, training_args, log)
        variants.append({"use_category": use_category, "epochs": len(history["train"]),
                         "validation_loss": min(history["validation"]), "model": model})
        log(f"  validation loss {variants[-1]['validation_loss']:.4f}")
    chosen = min(variants, key=lambda v: v["validation_loss"])
    model = chosen["model"]
    store_residual_sds(model, table)
    model.store_scales()
    summary = {
        "chosen": {"use_category": chosen["use_category"]},
        "variants": [{k: v for k, v in var.items() if k != "model"} for var in variants],
        "heldout_responses": evaluate(model, table, "heldout"),
        "n_models": {name: int(len(set(table.cells.theta[
            (table.benchmark[table.cells.row] == k)].tolist())))
            for k, name in enumerate(args.banks)},
        "n_questions": {s: int((table.items.split == s).sum())
                        for s in ("fit", "validation", "heldout")},
        "seconds": round(time.time() - started, 1),
    }
    log(json.dumps({k: v for k, v in summary.items() if k != "variants"}, indent=1))
    if accelerator.is_main_process:
        out = save(model, args, training_args, heldout, summary)
        if training_args.push_to_hub:
            if not training_args.hub_model_id:
                raise SystemExit("--push_to_hub needs --hub_model_id ORG/NAME")
            log(f"pushed: {publish(out, training_args.hub_model_id)}")
        print(json.dumps(summary))
    return summary


def save(model: DifficultyPredictor, args: PredictorScriptArguments,
         training_args: TrainingArguments, heldout: dict[str, list[str]], summary: dict) -> Path:
    """Write the artifact folder: weights, config, held-out ids (per bank) and the model card."""
    out = Path(training_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").unlink(missing_ok=True)
    model.save_pretrained(out)
    (out / "heldout_ids.json").write_text(json.dumps(heldout))
    sources = {CATALOG[name].source for name in args.banks}
    noncommercial = any(CATALOG[name].license == "cc-by-nc-sa-4.0" for name in args.banks)
    card_data = ModelCardData(
        license="cc-by-nc-sa-4.0" if noncommercial else "apache-2.0",
        library_name="adaptive-eval",
        base_model=model.config.encoder,
        datasets=sorted(d for s in sources for d in DATASETS[s]),
        tags=["adaptive-eval", "item-response-theory", "difficulty-prediction"],
        model_name="difficulty-predictor",
        eval_results=None,
    )
    card_data.metrics = ["auc", "log_loss"]
    card = render_card("difficulty_predictor.md", card_data, config=model.config,
                       summary=summary, n_heldout=sum(len(v) for v in heldout.values()),
                       args=args, command=" ".join(sys.argv[1:]),
                       repo_id=training_args.hub_model_id)
    card.save(out / "README.md")
    return out


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
