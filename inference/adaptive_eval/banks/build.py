"""From response data (and optionally the items file) to a saved, documented item bank.

``build_bank`` is the one calibration pipeline, used by ``adaptive-eval calibrate`` and by
``training/calibrate.py``:

1. **Held-out fit** of each candidate IRT model: hide a random share of the observed cells, fit on
   the rest, score ``P(correct)`` on the hidden cells (log-loss, AUC). ``model="auto"`` keeps the
   model with the lower held-out log-loss.
2. **Held-out misfit** (``misfit.heldout_errors``): leave calibration models out in turn; the RMS
   error of the bank's predicted accuracy widens adaptive tests' intervals.
3. **Fit on all cells**, then attach what the items file says (read once): categories, each
   item's chance level (``1 / n_options`` for multiple choice, 0 for free-form; the bank keeps
   their mean as ``chance_accuracy``) and the answer type.
4. **Quality flags** (``quality_flags``): items whose answers run against ability.

With a difficulty ``predictor`` (amortized calibration, ``calibration.py``), the items file's
text gives every listed item its predicted prior, in the held-out fits and the fit on all cells
(the final fit checks the predictor's scale); items of the file nobody answered join the bank
with their prediction. The held-out misfit stays with the shared prior.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from ..cat.misfit import heldout_errors, record_heldout_errors
from ..errors import InputError
from ..irt.calibration import MODELS, Calibration, calibrate, predicted_priors
from ..irt.model import prob
from .answers import GRADED, MULTIPLE_CHOICE, chance, check_answer_type
from .bank import ItemBank
from .responses import ResponseData
from .tables import read_table

if TYPE_CHECKING:
    from ..amortized.predictor import DifficultyPredictor


class ItemsFileError(ValueError):
    """An items file that cannot describe the bank's questions; the message names it."""


def read_items(items: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The items table (a path or a frame) indexed by ``question_id`` (as strings)."""
    table = items if isinstance(items, pd.DataFrame) else read_table(items)
    source = "the items table" if isinstance(items, pd.DataFrame) else str(items)
    if "question_id" not in table.columns:
        raise ItemsFileError(f"{source}: needs a question_id column; found {list(table.columns)}")
    table = table.assign(question_id=table["question_id"].astype(str))
    if table["question_id"].duplicated().any():
        duplicate = table["question_id"][table["question_id"].duplicated()].iloc[0]
        raise ItemsFileError(f"{source}: question_id {duplicate!r} appears twice")
    return table.set_index("question_id")


def item_chance(table: pd.DataFrame) -> pd.Series:
    """Per item of an items table, the accuracy of answering at random (``answers.chance``:
    ``1 / n_options`` for multiple choice, 0 for a free-form item or one without options)."""
    if "options" not in table.columns:
        return pd.Series(0.0, index=table.index)

    def at_random(options) -> float:
        if isinstance(options, str):
            options = json.loads(options) if options.strip() else []
        count = 0 if options is None or isinstance(options, float) else len(options)
        return chance(MULTIPLE_CHOICE, count) if count else 0.0

    return table["options"].map(at_random).astype(float)


def heldout_fit(data: ResponseData, model: str, fraction: float = 0.1, seed: int = 0,
                progress: Callable[[str], None] | None = None,
                item_priors: pd.DataFrame | None = None) -> dict:
    """Fit ``model`` (with ``item_priors`` when given) on all but a random ``fraction`` of the
    observed cells; the log-loss and AUC (Mann-Whitney U / (n_1 n_0)) of ``P(correct)`` on the
    hidden cells.

    Graded scores ``y`` in [0, 1]: ``P`` is the predicted score; the log-loss is the fractional
    one, ``-mean(y log P + (1 - y) log(1 - P))`` (a proper score for a mean: the expected loss is
    least at ``P = E[y]``), ``mae`` is ``mean |y - P|``, and the AUC ranks ``P`` against
    ``y >= 0.5``."""
    hide = np.random.default_rng(seed).random(data.n_observed) < fraction
    fit = calibrate(data.select(~hide), model, item_priors=item_priors,
                    progress=progress or (lambda line: None))
    theta = np.array([fit.abilities[m].theta if m in fit.abilities else 0.0
                      for m in data.models])
    items = data.item_index[hide]
    p = np.clip(prob(theta[data.model_index[hide]], fit.bank.b[items], fit.bank.a[items]),
                1e-9, 1 - 1e-9)
    graded = {}
    if data.graded:
        score = data.correct[hide]
        log_loss = float(-np.mean(score * np.log(p) + (1 - score) * np.log1p(-p)))
        graded = {"mae": float(np.mean(np.abs(score - p))), "likelihood": "fractional"}
        y = score >= 0.5
    else:
        y = data.correct[hide].astype(bool)
        log_loss = float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))
    auc = (float(mannwhitneyu(p[y], p[~y]).statistic / (y.sum() * (~y).sum()))
           if 0 < y.sum() < len(y) else float("nan"))
    return {"model": model, "log_loss": log_loss, "auc": auc, "n_hidden": int(hide.sum()),
            "fraction": fraction, "seed": seed, "seconds": round(fit.seconds, 3)} | graded


def quality_flags(data: ResponseData, fit: Calibration, min_models: int = 10,
                  max_correlation: float = 0.0) -> dict[str, list[str]]:
    """Items whose answers say they may be broken, ``{question_id: [reasons]}``:

    - ``"answers_against_ability"``: the correlation between the answering models' abilities and
      their correctness on the item is at most ``max_correlation`` (the item is answered right
      mostly by weaker models, as a wrong key makes it), among at least ``min_models`` answers,
      at least one right and one wrong;
    - ``"near_zero_discrimination"``: a 2PL slope ``a < 0.25`` that the data pins down
      (``a + 2 se(a) < 0.5``).
    """
    theta = np.array([fit.abilities[m].theta for m in data.models])[data.model_index]
    y = data.correct.astype(float)
    n = np.bincount(data.item_index, minlength=data.n_items)
    s_t = np.bincount(data.item_index, theta, data.n_items)
    s_y = np.bincount(data.item_index, y, data.n_items)
    s_tt = np.bincount(data.item_index, theta**2, data.n_items)
    s_ty = np.bincount(data.item_index, theta * y, data.n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = s_ty / n - (s_t / n) * (s_y / n)
        var_t = s_tt / n - (s_t / n) ** 2
        var_y = s_y / n * (1 - s_y / n)  # 0/1 answers; graded scores: their own variance
        if data.graded:
            var_y = np.bincount(data.item_index, y * y, data.n_items) / n - (s_y / n) ** 2
        r = cov / np.sqrt(var_t * var_y)
    bank = fit.bank
    index = bank.index(data.question_ids)
    a, a_se = bank.a[index], bank.a_se[index]
    flags: dict[str, list[str]] = {}
    for k, question_id in enumerate(data.question_ids):
        reasons = []
        if n[k] >= min_models and 0 < s_y[k] < n[k] and r[k] <= max_correlation:
            reasons.append("answers_against_ability")
        if bank.model == "2pl" and a[k] < 0.25 and a[k] + 2 * a_se[k] < 0.5:
            reasons.append("near_zero_discrimination")
        if reasons:
            flags[question_id] = reasons
    return flags


@dataclass
class BuiltBank:
    bank: ItemBank
    fit: Calibration
    heldout: dict[str, dict] = field(default_factory=dict)  # per candidate model
    misfit_errors: dict[str, float] = field(default_factory=dict)
    flags: dict[str, list[str]] = field(default_factory=dict)


def build_bank(
    data: ResponseData,
    model: str = "2pl",
    *,
    items: str | Path | pd.DataFrame | None = None,
    predictor: DifficultyPredictor | None = None,
    answer_type: str | None = None,
    misfit_models: int | None = 50,
    heldout_fraction: float = 0.1,
    seed: int = 0,
    metadata: dict | None = None,
    progress: Callable[[str], None] | None = None,
    max_iter: int = 500,
) -> BuiltBank:
    """Calibrate ``data`` into a bank (module docstring). ``model``: ``"rasch"``, ``"2pl"`` or
    ``"auto"`` (lower held-out log-loss). ``answer_type`` overrides the items file's (or the
    multiple-choice / free-form guess from its ``options``); graded data (``ResponseData.graded``)
    default to ``"graded"`` (``answers.GRADED``) and record ``"score": "graded"``.
    ``misfit_models``: how many models to leave out in turn (0 skips, None all). ``metadata``
    is merged into the bank's.
    ``predictor`` (needs ``items`` with text): predicted priors (module docstring)."""
    say = progress or (lambda line: None)
    if model not in (*MODELS, "auto"):
        raise InputError(f"model {model!r}: expected one of {[*MODELS, 'auto']}")
    if answer_type is not None and answer_type != GRADED:
        check_answer_type(answer_type)
    if misfit_models is not None and misfit_models < 0:
        raise InputError(f"misfit models {misfit_models}: expected >= 0")
    table = read_items(items) if items is not None else None
    if predictor is not None and table is None:
        raise ItemsFileError("a predictor needs the items file: it reads the question text")
    priors = None
    if predictor is not None:
        say(f"predicting the difficulty of {len(table)} items from their text")
        priors = predicted_priors(items, predictor)
    candidates = MODELS if model == "auto" else (model,)
    heldout = {}
    if heldout_fraction > 0:
        for name in candidates:
            heldout[name] = heldout_fit(data, name, heldout_fraction, seed, item_priors=priors)
            say(f"held-out fit {name}: log-loss {heldout[name]['log_loss']:.4f}, "
                f"AUC {heldout[name]['auc']:.4f}")
    if model == "auto":
        model = min(heldout, key=lambda m: heldout[m]["log_loss"]) if heldout else "2pl"
        say(f"model: {model} (lower held-out log-loss)")
    categories = None
    if table is not None and "category" in table.columns:
        categories = {q: str(c) for q, c in table["category"].items() if str(c).strip()}
    errors = {}
    if misfit_models != 0 and data.n_models > 2:
        errors = heldout_errors(data, model, categories, progress=say, max_models=misfit_models)
    fit = (calibrate(data, model, items=items, predictor=predictor, progress=say,
                     max_iter=max_iter)
           if predictor is not None else calibrate(data, model, progress=say, max_iter=max_iter))
    bank = fit.bank
    if categories:
        bank.assign_categories(categories)
    if table is not None:
        known = table.reindex(bank.ids)
        bank.metadata["chance_accuracy"] = float(item_chance(known.fillna("")).mean())
        if answer_type is None and not data.graded:
            answer_type = _answer_type_of(known)
    if data.graded:
        answer_type = answer_type or GRADED
        bank.metadata["score"] = "graded"
    if answer_type is not None:
        bank.metadata["answer_type"] = answer_type
        if answer_type != "multiple_choice":
            bank.metadata["chance_accuracy"] = 0.0
    if predictor is not None:
        bank.metadata["predicted_by"] = f"{predictor.config.artifact}: {predictor.config.encoder}"
        bank.metadata["n_text_only"] = int(bank.predicted.sum())
    if heldout:
        bank.metadata["heldout"] = heldout[model]
        bank.metadata["heldout_by_model"] = heldout
    if errors:
        record_heldout_errors(bank, errors)
    flags = quality_flags(data, fit)
    bank.metadata["flags"] = flags
    bank.metadata.update(metadata or {})
    say(f"{len(flags)} items flagged as possibly broken")
    return BuiltBank(bank, fit, heldout, errors, flags)


def _answer_type_of(table: pd.DataFrame) -> str | None:
    """The items' answer type: their ``answer_type`` column if they agree, else multiple choice
    when every item has options; None when it cannot tell."""
    if "answer_type" in table.columns:
        types = set(table["answer_type"].dropna().astype(str)) - {""}
        if len(types) == 1:
            return check_answer_type(types.pop())
        if len(types) > 1:
            raise ItemsFileError(f"the items mix answer types {sorted(types)}; one bank, one type")
    if "options" in table.columns and (item_chance(table.fillna("")) > 0).all():
        return "multiple_choice"
    return None
