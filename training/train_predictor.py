"""Train the difficulty predictor (question text -> IRT difficulty) on MMLU-Pro.

    accelerate launch training/train_predictor.py --config training/configs/predictor.yaml

(``python training/train_predictor.py --config ...`` is the same on one CPU process.) Flags given
on the command line override the YAML file; ``--help`` lists every argument. Arguments, as in
TRL's example scripts (``TrlParser``): :class:`PredictorScriptArguments` (data, head, objective),
``transformers.TrainingArguments`` (``output_dir``, ``num_train_epochs`` = the most epochs,
``per_device_train_batch_size`` = questions per step, ``learning_rate``, ``weight_decay``,
``seed``, ``push_to_hub``, ``hub_model_id``) and TRL's ``ModelConfig`` (``model_name_or_path`` =
the text encoder, ``model_revision``; ``use_peft`` and the ``lora_*`` fields when fine-tuning the
encoder, turned into a peft config by ``get_peft_config``). A quick run: ``--max_items 200
--num_train_epochs 5``. The last line on stdout is the run's summary as JSON (progress goes to
stderr).

What it does:

1. Items and responses; the encoder's input is ``question_text(question, options)``.
2. Split by question: ``heldout_fraction`` (20%) held out, stratified by category, fixed seed;
   the ids go to ``heldout_ids.json``. The rest is split again (stratified, ``validation_fraction``)
   into *fit* and *validation* questions: validation drives early stopping, the choice of
   objective / category input, and the predictive SE.
3. Calibrate a 2PL bank on the responses to the training questions (fit + validation) only:
   targets ``b``, ``a`` with their SEs, and the abilities ``theta`` of the calibration models.
   Held-out questions never enter training, neither as targets nor through the abilities.
   (``benchmarks/predictor.py`` calibrates on all questions to get held-out targets.)
4. Embed every text once with the frozen encoder (cached on disk by text hash).
5. Train the head with one of two objectives (``objective``):

   - ``regression``: ``L = sum_j w_j (b_hat_j - b_j)^2 / sum_j w_j`` with ``w_j = 1 / se(b_j)^2``
     (plus the same on ``log a`` with ``w_j = a_j^2 / se(a_j)^2`` when predicting discrimination);
   - ``joint`` (the paper's amortized IRT fit): the Bernoulli likelihood of the responses with
     the item parameters given by the head,
     ``L = -mean_{(i,j) observed} log Bernoulli(y_ij; sigmoid(a_hat_j (theta_i - b_hat_j)))``,
     abilities fixed at their calibrated values (fixing them keeps predictions on the bank's
     scale);
   - ``auto``: train both (with and without the category input when ``use_category`` is
     ``auto``) and keep the variant with the lowest validation response log-loss.

   AdamW on minibatches of questions; early stopping on the validation loss (``patience``).
6. Predictive SE (``residual_sd``) on validation questions:
   ``residual_sd^2 = mean((b_hat - b)^2) - mean(se(b)^2)`` (calibration noise removed).
7. Save ``model.safetensors`` (head), ``config.json``, ``heldout_ids.json`` and the model card to
   ``output_dir``; with ``--push_to_hub --hub_model_id ORG/NAME``, upload it
   (``adaptive_eval.publish.publish``: checked first).

Response metrics: ``sklearn.metrics.roc_auc_score`` and ``log_loss`` of
``P(y_ij = 1) = adaptive_eval.irt.prob(theta_i, b_j, a_j)``.

``--train_encoder`` fine-tunes the encoder too (with LoRA when ``--use_peft``, merged before
saving); meant for a GPU.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate import Accelerator
from adaptive_eval.bank import ItemBank
from adaptive_eval.calibration import calibrate
from adaptive_eval.cards import render_card
from adaptive_eval.data import ResponseData
from adaptive_eval.irt import prob
from adaptive_eval.predictor import DifficultyPredictor, PredictorConfig, cache_dir, question_text
from adaptive_eval.publish import publish
from huggingface_hub import ModelCardData
from peft import get_peft_model
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import log_loss, roc_auc_score
from transformers import TrainingArguments
from trl import ModelConfig, TrlParser, get_peft_config

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlu_pro"


@dataclass
class PredictorScriptArguments:
    """What is specific to this script; trainer and model settings are TrainingArguments' and
    ModelConfig's own fields."""

    items: str = field(
        default=str(DATA / "items.csv.gz"),
        metadata={"help": "Items: question_id, category, src, question, options (JSON list)."},
    )
    responses: str = field(
        default=str(DATA / "responses.csv.gz"),
        metadata={"help": "Responses, long format: model, question_id, correct."},
    )
    irt_model: str = field(default="2pl", metadata={"help": "IRT model calibrated: 2pl or rasch."})
    heldout_fraction: float = field(default=0.2, metadata={"help": "Questions held out."})
    validation_fraction: float = field(
        default=0.1, metadata={"help": "Share of the training questions used for validation."}
    )
    max_length: int = field(default=256, metadata={"help": "Tokens per text (truncation)."})
    hidden_sizes: list[int] = field(
        default_factory=lambda: [256], metadata={"help": "Hidden layer widths of the head."}
    )
    dropout: float = field(default=0.1, metadata={"help": "Dropout in the head."})
    objective: str = field(
        default="auto", metadata={"help": "regression, joint, or auto (pick on validation)."}
    )
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
        default=25, metadata={"help": "Early stopping: epochs without a better validation loss."}
    )
    train_encoder: bool = field(
        default=False,
        metadata={"help": "Fine-tune the encoder as well (GPU advised); LoRA with --use_peft."},
    )
    embed_batch_size: int = field(default=64, metadata={"help": "Texts per encoder batch."})
    max_items: int = field(default=0, metadata={"help": "Use only this many items (0: all)."})


def make_parser() -> TrlParser:
    return TrlParser((PredictorScriptArguments, TrainingArguments, ModelConfig))


# ---- data ------------------------------------------------------------------------------------


def load_items(path: str | Path) -> pd.DataFrame:
    """Items with ``question_id`` as str and the encoder's ``text``."""
    items = pd.read_csv(path)
    items["question_id"] = items["question_id"].astype(str)
    pairs = zip(items.question, items.options, strict=True)
    items["text"] = [question_text(q, o) for q, o in pairs]
    return items.reset_index(drop=True)


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


def responses_for(responses: pd.DataFrame, ids: list[str]) -> ResponseData:
    subset = responses[responses["question_id"].isin(set(ids))]
    return ResponseData.from_long(subset, source="responses (subset)")


def calibrated_bank(data: ResponseData, irt_model: str, log=print) -> ItemBank:
    """Calibrate ``data`` (cached in the user's cache dir by a hash of the responses).

    The bank carries the calibration models' abilities in ``bank.abilities``. The cache key is
    the responses, the IRT model and the source of ``adaptive_eval.calibration``.
    """
    import adaptive_eval.calibration as calibration_module

    h = hashlib.sha256(irt_model.encode())
    h.update(Path(calibration_module.__file__).read_bytes())
    for part in (data.model_index, data.item_index, data.correct):
        h.update(np.ascontiguousarray(part).tobytes())
    h.update(json.dumps([data.models, data.question_ids]).encode())
    folder = cache_dir() / "calibrations" / h.hexdigest()[:24]
    if (folder / "config.json").exists():
        return ItemBank.load(folder)
    log(f"calibrating {irt_model} on {data} ...")
    fit = calibrate(data, model=irt_model, progress=log)
    bank = fit.bank
    bank.abilities = {m: {"theta": a.theta, "se": a.se} for m, a in fit.abilities.items()}
    bank.save(folder)
    return bank


@dataclass
class ItemTable:
    """Per-question tensors, rows aligned with ``ids``."""

    ids: list[str]
    texts: list[str]
    categories: list[str]
    emb: torch.Tensor  # (n, d) sentence embeddings
    b: torch.Tensor  # (n,) calibrated difficulty (nan when not calibrated)
    b_se: torch.Tensor
    a: torch.Tensor
    a_se: torch.Tensor
    y: torch.Tensor  # (n, m) 0/1 responses of the calibration models
    mask: torch.Tensor  # (n, m) observed


def item_table(
    items: pd.DataFrame,
    responses: pd.DataFrame,
    models: list[str],
    emb: np.ndarray,
    bank: ItemBank | None,
) -> ItemTable:
    n = len(items)
    col = {m: k for k, m in enumerate(models)}
    row = {q: k for k, q in enumerate(items.question_id)}
    sub = responses[responses.question_id.isin(row) & responses.model.isin(col)]
    r = sub.question_id.map(row).to_numpy()
    c = sub.model.map(col).to_numpy()
    y = torch.zeros(n, len(models))
    mask = torch.zeros(n, len(models), dtype=torch.bool)
    y[r, c] = torch.tensor(np.array(sub.correct, dtype=np.float32))
    mask[r, c] = True
    params = {k: torch.full((n,), float("nan")) for k in ("b", "b_se", "a", "a_se")}
    if bank is not None:
        known = [q for q in items.question_id if q in set(bank.ids)]
        k = torch.tensor([row[q] for q in known], dtype=torch.long)
        pos = bank.index(known)
        for name in params:
            params[name][k] = torch.tensor(getattr(bank, name)[pos], dtype=torch.float32)
    return ItemTable(
        list(items.question_id),
        list(items.text),
        list(items.category),
        torch.tensor(emb, dtype=torch.float32),
        y=y,
        mask=mask,
        **params,
    )


# ---- metrics ---------------------------------------------------------------------------------


def response_metrics(
    table: ItemTable, rows: np.ndarray, theta: np.ndarray, b: np.ndarray, a: np.ndarray
) -> dict[str, float]:
    """AUC and log-loss of ``P = prob(theta_i, b_j, a_j)`` on the observed cells of ``rows``."""
    mask = table.mask[rows].numpy()
    p = prob(theta[None, :], b[:, None], a[:, None])
    y = table.y[rows].numpy()
    return {"auc": float(roc_auc_score(y[mask], p[mask])),
            "log_loss": float(log_loss(y[mask], p[mask], labels=[0, 1]))}


def difficulty_metrics(b_true: np.ndarray, b_pred: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(b_true)
    return {
        "pearson": float(pearsonr(b_true[ok], b_pred[ok])[0]),
        "spearman": float(spearmanr(b_true[ok], b_pred[ok])[0]),
    }


# ---- training --------------------------------------------------------------------------------


def new_predictor(args: PredictorScriptArguments, model_args: ModelConfig, seed: int,
                  table: ItemTable, fit_rows, use_category):
    """A predictor whose target normalisation comes from the fit questions' calibration."""
    b, a = table.b[fit_rows].numpy(), table.a[fit_rows].numpy()
    ok = np.isfinite(b)
    config = PredictorConfig(
        encoder=model_args.model_name_or_path,
        encoder_revision=model_args.model_revision,
        max_length=args.max_length,
        hidden_sizes=list(args.hidden_sizes),
        dropout=args.dropout,
        predict_discrimination=args.predict_discrimination and args.irt_model == "2pl",
        categories=sorted(set(table.categories)) if use_category else [],
        b_mean=float(b[ok].mean()) if ok.any() else 0.0,
        b_std=float(b[ok].std()) if ok.sum() > 1 else 1.0,
        log_a_mean=float(np.log(a[ok]).mean()) if ok.any() else 0.0,
        log_a_std=float(np.log(a[ok]).std()) if ok.sum() > 1 else 1.0,
        train_encoder=args.train_encoder,
    )
    torch.manual_seed(seed)
    return DifficultyPredictor(config)


def _features(model, table, rows, dropout=0.0, generator=None, device="cpu"):
    cats = [table.categories[i] for i in rows.tolist()]
    onehot = model.category_features(cats, len(rows))
    if dropout > 0 and onehot.shape[1]:
        keep = torch.rand(len(rows), 1, generator=generator) >= dropout
        onehot = onehot * keep
    return onehot.to(device)


def loss_on(model, out, table, rows, theta, objective, device):
    """The training loss of one batch of questions (module docstring, step 5)."""
    if objective == "regression":
        b, b_se = table.b[rows].to(device), table.b_se[rows].to(device)
        w = 1 / b_se.clamp(min=1e-3) ** 2
        loss = (w * (out["b"] - b) ** 2).sum() / w.sum()
        if "a" in out:
            a, a_se = table.a[rows].to(device), table.a_se[rows].to(device)
            wa = a**2 / a_se.clamp(min=1e-3) ** 2
            loss = loss + (wa * (torch.log(out["a"]) - torch.log(a)) ** 2).sum() / wa.sum()
        return loss
    a = out["a"] if "a" in out else torch.ones_like(out["b"])
    z = a[:, None] * (theta[None, :] - out["b"][:, None])
    y, mask = table.y[rows].to(device), table.mask[rows].to(device)
    nll = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")
    return (nll * mask).sum() / mask.sum().clamp(min=1)


@torch.no_grad()
def predict_rows(model, table, rows, with_category=True, device="cpu"):
    """Predicted ``(b, a)`` numpy arrays for ``rows`` from the cached embeddings."""
    model.eval()
    cats = _features(model, table, rows, device=device) if with_category else None
    out = model(table.emb[rows].to(device), cats)
    b = out["b"].cpu().numpy().astype(np.float64)
    a = out["a"].cpu().numpy().astype(np.float64) if "a" in out else None
    return b, a


def tokens_for(model, table, rows, device):
    tok = model.tokenize([table.texts[i] for i in rows.tolist()])
    return {k: tok[k].to(device) for k in ("input_ids", "attention_mask")}


def fit(
    model: DifficultyPredictor,
    table: ItemTable,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    theta: np.ndarray,
    objective: str,
    args: PredictorScriptArguments,
    training_args: TrainingArguments,
    model_args: ModelConfig,
    accelerator: Accelerator,
    log=print,
) -> dict[str, list[float]]:
    """Train ``model`` in place; keep the weights of the best validation epoch. Returns losses."""
    generator = torch.Generator().manual_seed(training_args.seed)
    peft_config = get_peft_config(model_args) if args.train_encoder else None
    if peft_config is not None:
        model.encoder = get_peft_model(model.encoder, peft_config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=training_args.learning_rate,
                                  weight_decay=training_args.weight_decay)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.as_tensor(fit_rows)),
        batch_size=training_args.per_device_train_batch_size,
        shuffle=True,
        generator=generator,
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    plain = accelerator.unwrap_model(model)
    device = accelerator.device
    theta_t = torch.tensor(theta, dtype=torch.float32, device=device)
    val_t = torch.as_tensor(val_rows)
    history: dict[str, list[float]] = {"train": [], "validation": []}
    best, best_state, stale = float("inf"), None, 0
    for epoch in range(int(training_args.num_train_epochs)):
        model.train()
        total, steps = 0.0, 0
        for (rows,) in loader:
            rows = rows.cpu()
            cats = _features(plain, table, rows, args.category_dropout, generator, device)
            if args.train_encoder:
                out = model(category_features=cats, **tokens_for(plain, table, rows, device))
            else:
                out = model(table.emb[rows].to(device), cats)
            loss = loss_on(plain, out, table, rows, theta_t, objective, device)
            optimizer.zero_grad()
            accelerator.backward(loss)
            optimizer.step()
            total, steps = total + float(loss.detach()), steps + 1
        with torch.no_grad():
            model.eval()
            cats = _features(plain, table, val_t, device=device)
            if args.train_encoder:
                out = model(category_features=cats, **tokens_for(plain, table, val_t, device))
            else:
                out = model(table.emb[val_t].to(device), cats)
            val = float(loss_on(plain, out, table, val_t, theta_t, objective, device))
        history["train"].append(total / max(steps, 1))
        history["validation"].append(val)
        if val < best - 1e-5:
            best, stale = val, 0
            best_state = {
                k: v.detach().clone()
                for k, v in plain.state_dict().items()
                if k.startswith("head.") or args.train_encoder
            }
        else:
            stale += 1
        if epoch % 10 == 0 or stale == 0 and epoch < 3:
            log(
                f"  {objective} epoch {epoch}: train {history['train'][-1]:.4f}, "
                f"validation {val:.4f}"
            )
        if stale >= args.patience:
            break
    if best_state is not None:
        plain.load_state_dict(best_state, strict=False)
    if peft_config is not None:
        plain.encoder = plain.encoder.merge_and_unload()
    plain.eval()
    return history


def residual_sds(model, table, val_rows, device="cpu") -> tuple[float, float]:
    """Predictive SEs of b and log a on validation questions, calibration noise removed."""
    b_hat, a_hat = predict_rows(model, table, val_rows, device=device)
    b, b_se = table.b[val_rows].numpy(), table.b_se[val_rows].numpy()
    var_b = np.mean((b_hat - b) ** 2) - np.mean(b_se**2)
    sd_a = 0.0
    if a_hat is not None:
        a, a_se = table.a[val_rows].numpy(), table.a_se[val_rows].numpy()
        var_a = np.mean((np.log(a_hat) - np.log(a)) ** 2) - np.mean((a_se / a) ** 2)
        sd_a = float(np.sqrt(max(var_a, 0.01)))
    return float(np.sqrt(max(var_b, 0.01))), sd_a


def evaluate(model, table, rows, theta, device="cpu", with_category=True) -> dict[str, float]:
    """Difficulty correlation (where calibrated) and response AUC / log-loss on ``rows``."""
    b, a = predict_rows(model, table, rows, with_category, device)
    if a is None:
        a = np.ones_like(b)
    out = response_metrics(table, rows, theta, b, a)
    if np.isfinite(table.b[rows].numpy()).sum() > 2:
        out |= difficulty_metrics(table.b[rows].numpy().astype(np.float64), b)
    return out


# ---- main ------------------------------------------------------------------------------------


def main(args: PredictorScriptArguments, training_args: TrainingArguments,
         model_args: ModelConfig) -> dict:
    """Train, choose a variant, save ``output_dir`` (and upload it with ``--push_to_hub``);
    return the summary (also printed as JSON on stdout)."""
    if not model_args.model_name_or_path:
        raise SystemExit("--model_name_or_path: the text encoder (e.g. "
                         "sentence-transformers/all-MiniLM-L6-v2) is required")
    if model_args.use_peft and not args.train_encoder:
        raise SystemExit("--use_peft fine-tunes the encoder with LoRA: it needs --train_encoder")
    accelerator = Accelerator()

    def log(line: str) -> None:
        if accelerator.is_main_process:
            print(line, file=sys.stderr, flush=True)

    started = time.time()
    seed = training_args.seed
    items = load_items(args.items)
    if args.max_items:
        items = items.sample(n=min(args.max_items, len(items)), random_state=seed)
        items = items.sort_values(
            "question_id", key=lambda s: s.map(int) if s.str.isdigit().all() else s
        ).reset_index(drop=True)
    responses = pd.read_csv(args.responses, dtype={"question_id": str})
    ids, cats = list(items.question_id), list(items.category)
    train_ids, heldout_ids = stratified_split(ids, cats, args.heldout_fraction, seed)
    train_set = set(train_ids)
    train_cats = [c for i, c in zip(ids, cats, strict=True) if i in train_set]
    fit_ids, val_ids = stratified_split(train_ids, train_cats, args.validation_fraction, seed + 1)
    log(
        f"{len(ids)} questions: {len(fit_ids)} fit, {len(val_ids)} validation, "
        f"{len(heldout_ids)} held out"
    )

    bank = calibrated_bank(responses_for(responses, train_ids), args.irt_model, log)
    models = sorted(bank.abilities)
    theta = np.array([bank.abilities[m]["theta"] for m in models])

    encoder = model_args.model_name_or_path
    probe = DifficultyPredictor(PredictorConfig(
        encoder=encoder, encoder_revision=model_args.model_revision, max_length=args.max_length))
    log(f"embedding {len(items)} questions with {encoder} (cached) ...")
    emb = probe.embed(list(items.text), batch_size=args.embed_batch_size, progress=True)
    table = item_table(items, responses, models, emb, bank)
    position = {q: k for k, q in enumerate(ids)}
    fit_rows = np.array([position[q] for q in fit_ids])
    val_rows = np.array([position[q] for q in val_ids])
    held_rows = np.array([position[q] for q in heldout_ids])

    objectives = ["regression", "joint"] if args.objective == "auto" else [args.objective]
    categories = {"auto": [False, True], "yes": [True], "no": [False]}[args.use_category]
    variants = []
    for objective in objectives:
        for use_category in categories:
            log(f"training: objective={objective}, category input={use_category}")
            model = new_predictor(args, model_args, seed, table, fit_rows, use_category)
            model.config.objective = objective
            history = fit(model, table, fit_rows, val_rows, theta, objective, args,
                          training_args, model_args, accelerator, log)
            model = model.cpu()
            validation = evaluate(model, table, val_rows, theta)
            log(f"  validation: {json.dumps({k: round(v, 4) for k, v in validation.items()})}")
            variants.append(
                {
                    "objective": objective,
                    "use_category": use_category,
                    "validation": validation,
                    "epochs": len(history["train"]),
                    "history": history,
                    "model": model,
                }
            )
    chosen = min(variants, key=lambda v: v["validation"]["log_loss"])
    model = chosen["model"]
    model.config.residual_sd, model.config.log_a_residual_sd = residual_sds(model, table, val_rows)
    heldout = evaluate(model, table, held_rows, theta)
    heldout_no_category = evaluate(model, table, held_rows, theta, with_category=False)
    summary = {
        "chosen": {"objective": chosen["objective"], "use_category": chosen["use_category"]},
        "variants": [{k: v for k, v in var.items() if k != "model"} for var in variants],
        "heldout_responses": heldout,
        "heldout_responses_without_category": heldout_no_category,
        "residual_sd": model.config.residual_sd,
        "n_models": len(models),
        "n_questions": {
            "fit": len(fit_ids),
            "validation": len(val_ids),
            "heldout": len(heldout_ids),
        },
        "seconds": round(time.time() - started, 1),
    }
    log(json.dumps({k: v for k, v in summary.items() if k != "variants"}, indent=1))
    if accelerator.is_main_process:
        out = save(model, args, training_args, heldout_ids, summary)
        if training_args.push_to_hub:
            if not training_args.hub_model_id:
                raise SystemExit("--push_to_hub needs --hub_model_id ORG/NAME")
            log(f"pushed: {publish(out, training_args.hub_model_id)}")
        print(json.dumps(summary))
    return summary


def save(model: DifficultyPredictor, args: PredictorScriptArguments,
         training_args: TrainingArguments, heldout_ids: list[str], summary: dict) -> Path:
    """Write the artifact folder: weights, config, held-out ids and the model card."""
    out = Path(training_args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").unlink(missing_ok=True)
    model.save_pretrained(out)
    (out / "heldout_ids.json").write_text(json.dumps(heldout_ids))
    card_data = ModelCardData(
        license="apache-2.0",
        library_name="adaptive-eval",
        base_model=model.config.encoder,
        datasets=["TIGER-Lab/MMLU-Pro"],
        tags=["adaptive-eval", "item-response-theory", "difficulty-prediction"],
        model_name="difficulty-predictor",
        eval_results=None,
    )
    card_data.metrics = ["auc", "log_loss"]
    card = render_card(
        "difficulty_predictor.md",
        card_data,
        config=model.config,
        summary=summary,
        heldout=summary["heldout_responses"],
        n_heldout=len(heldout_ids),
        args=args,
        command=" ".join(sys.argv[1:]),
        repo_id=training_args.hub_model_id,
    )
    card.save(out / "README.md")
    return out


if __name__ == "__main__":
    main(*make_parser().parse_args_and_config())
