"""IRT calibration: a Rasch or 2PL model fitted to response data, as an ``ItemBank``.

The estimation is MML-EM with adaptive quadrature (``em.py``, formulas there). Priors on the
items: by default one weak prior for all, ``b ~ N(0, prior_b_sd^2)``, ``log a ~
N(0, prior_log_a_sd^2)``. **Amortized calibration** (Truong et al. 2025): per-item priors
instead, ``b_i ~ N(b_i*, se_i^2)`` and ``log a_i ~ N(log a_i*, (a_se_i / a_i*)^2)``, from
``item_priors`` (a table) or from a difficulty predictor reading the items' text. Items many
models answered end up where their answers put them; an item nobody answered keeps its
prediction and SE (it is added to the bank, marked ``predicted``). The PX-EM expansion maximises
over the latent scale with the per-item prior means included (``em._EM.expand``), so the
predictions also anchor the scale.

How much of each item's difficulty came from the text: ``ItemBank.prior_share`` =
(prior precision) / (posterior precision) of ``b`` = ``b_se^2 / se_prior^2`` (1 for an item
nobody answered, near 0 for one many models answered, 0 under the shared prior).

The scale. The likelihood is unchanged by ``theta -> c + k theta``, ``b -> c + k b``,
``a -> a / k``; only the priors choose ``(c, k)`` (``em._EM.expand``): the abilities' ``N(0, 1)``
pulls the models' mean to 0 with weight ``J`` (the number of models), the items' ``b`` prior pulls
the items' mean ``b`` to its mean (0 under the shared prior) with weight ``sum_i 1 /
prior_b_sd^2``, and the ``log a`` prior holds the slopes near 1. With a few dozen models and
thousands of items the items win: the mean ``b`` lands near 0 and the models' abilities wherever
the data puts them relative to the items (the shipped zeroeval and mmlu-pro banks: mean theta
from -1.9 to +2.4, SD 0.8-1.3); with thousands of models (metabench) the models' mean is near 0.
So the calibration does **not** put its models on ``N(0, 1)``: the bank records their measured
mean and SD, ``metadata["theta_mean"]``, ``metadata["theta_sd"]`` (``bank.population``), and the
priors of adaptive tests use them (``AdaptiveTest``, ``SuiteTest``). ``theta_prior_sd`` is the SD
of the ability prior inside the fit (1 for 2PL, estimated for Rasch).

Graded scores in [0, 1] (``ResponseData.graded``) are fitted by the fractional-Bernoulli
quasi-likelihood (``em.py``): ``P`` is then the expected score, an ability's ``accuracy`` is the
model's mean score, and the bank's metadata says ``"score": "graded"``.

Each calibration model's ability record also holds ``curve_accuracy``, the mean of ``P_i(theta_j)``
over the items it answered (and ``curve_accuracy_item_se``, the same with ``P`` marginalised over
the difficulties' SEs, ``model.marginal_a``): what its observed accuracy is compared with by the
curve correction (``cat.accuracy.accuracy_residual``). A model that answered part of the bank is
compared on those items, not on the whole bank.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ..banks.bank import ItemBank, population
from ..banks.questions import question_text
from ..banks.responses import ResponseData
from ..banks.tables import read_table
from ..errors import InputError
from .em import EMFit, Priors, fit_em
from .model import marginal_a, mean_prob_per_examinee

if TYPE_CHECKING:
    from ..amortized.predictor import DifficultyPredictor

MODELS = ("rasch", "2pl")
PRIOR_COLUMNS = ("b", "b_se", "a", "a_se")
SCALE_CHECK_MIN_ITEMS = 30  # answered items with a prediction needed to check the scale
MAX_SCALE_SHIFT = 4.0  # median predicted - calibrated b beyond this: another scale


class ItemPriorError(ValueError):
    """Item priors (or the items and predictor that give them) that cannot be used; names them."""


@dataclass(frozen=True)
class Ability:
    theta: float  # EAP
    se: float  # posterior SD
    accuracy: float  # observed share correct over the model's answered questions
    n_answered: int
    curve_accuracy: float  # mean P_i(theta) over the answered questions (module docstring)
    curve_accuracy_item_se: float  # the same with P marginalised over the items' b_se


ABILITY_FIELDS = tuple(f.name for f in fields(Ability))  # asdict deep-copies: slow for thousands


@dataclass(frozen=True)
class Calibration:
    """The result of ``calibrate``: the item bank and the calibration models' abilities."""

    bank: ItemBank
    abilities: dict[str, Ability]
    log_likelihood: float  # marginal log-likelihood of the responses at the end
    n_iter: int
    converged: bool
    seconds: float


def calibrate(
    data: ResponseData,
    model: str = "2pl",
    *,
    items: str | Path | pd.DataFrame | None = None,
    predictor: DifficultyPredictor | None = None,
    item_priors: pd.DataFrame | None = None,
    n_nodes: int = 5,
    max_iter: int = 500,
    tol: float = 1e-6,
    prior_b_sd: float = 2.0,
    prior_log_a_sd: float = 0.5,
    chunk_cells: int = 262_144,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Fit a Rasch or 2PL model to ``data`` by MML-EM (``em.py``); return ``Calibration``.

    Per-item priors (module docstring), either:

    - ``item_priors``: a frame indexed by question_id with columns ``b``, ``b_se`` and optionally
      ``a``, ``a_se`` (``predict_parameters``' output indexed by id); or
    - ``items`` (a path or a table: ``question_id`` and ``text``, or ``question`` [+
      ``options``]; optional ``category``, ``benchmark``) with ``predictor``: its predictions
      (``predicted_priors``), after checking that its scale matches the data's
      (``check_predictor_scale``).

    Listed items nobody answered join the bank with their prior. Stops when an iteration raises
    the log posterior by less than ``tol`` per observed cell (or at ``max_iter``).
    ``chunk_cells``: cells x nodes handled at once. ``progress`` receives a line per iteration
    (default: stderr when it is a terminal).
    """
    if model not in MODELS:
        raise InputError(f"model={model!r}: expected one of {MODELS}")
    if data.n_observed == 0:
        raise InputError("calibrate: the response data has no observed cells")
    if (items is None) != (predictor is None):
        raise ItemPriorError("calibrate: items and predictor go together (the predictor reads "
                             "the items' text)")
    if predictor is not None and item_priors is not None:
        raise ItemPriorError("calibrate: give item_priors or items with a predictor, not both")
    if progress is None:
        progress = _stderr_progress
    start = time.perf_counter()
    options = {"n_nodes": n_nodes, "max_iter": max_iter, "tol": tol, "chunk_cells": chunk_cells}
    two_pl = model == "2pl"
    shared = {"b_sd": prior_b_sd, "log_a_sd": prior_log_a_sd}
    if predictor is not None:
        item_priors = predicted_priors(items, predictor)
        plain = fit_em(data, two_pl, Priors.shared(data.n_items, **shared), **options)
        check_predictor_scale(item_priors, data.question_ids, plain.b)
    priors, listed = None, np.zeros(data.n_items, bool)
    if item_priors is not None:
        item_priors = check_item_priors(item_priors)
        data = _with_unanswered(data, item_priors.index)
        priors = _per_item(item_priors, data.question_ids, **shared)
        listed = _listed(item_priors, data.question_ids)
    fit = fit_em(data, two_pl, priors or Priors.shared(data.n_items, **shared),
                 progress=progress, label=f"calibrate {model}", **options)
    share = np.zeros(data.n_items) if priors is None else np.where(
        listed, fit.b_se**2 / priors.b_var, 0.0)
    abilities = _abilities(data, fit)
    theta_mean, theta_sd = population(fit.theta, fit.theta_se)
    bank = ItemBank(
        ids=list(data.question_ids),
        b=fit.b,
        a=fit.a if two_pl else None,
        b_se=fit.b_se,
        a_se=fit.a_se if two_pl else None,
        predicted=np.bincount(data.item_index, minlength=data.n_items) == 0,
        b_log_a_cov=fit.b_log_a_cov if two_pl else None,
        metadata={"method": "MML-EM, adaptive Gauss-Hermite quadrature", "model": model,
                  "n_models": data.n_models, "n_observed": data.n_observed,
                  "prior_b_sd": prior_b_sd, "prior_log_a_sd": prior_log_a_sd,
                  "theta_mean": theta_mean, "theta_sd": theta_sd,
                  "theta_prior_sd": fit.sigma, "n_nodes": n_nodes}
        | ({} if priors is None else {"item_priors": int(listed.sum())})
        | ({"score": "graded", "likelihood": "fractional"} if data.graded else {}),
        abilities={m: {f: getattr(a, f) for f in ABILITY_FIELDS} for m, a in abilities.items()},
        prior_share=share,
    )
    seconds = time.perf_counter() - start
    progress(f"calibrate {model}: done in {fit.n_iter} iterations, {seconds:.1f} s")
    return Calibration(bank, abilities, fit.marginal_ll, fit.n_iter, fit.converged, seconds)


def check_item_priors(item_priors: pd.DataFrame) -> pd.DataFrame:
    """``item_priors`` with string ids, checked: unique ids, columns ``b`` and ``b_se`` (``a``
    and ``a_se`` together or not at all), finite values, SEs and ``a`` > 0."""
    if not isinstance(item_priors, pd.DataFrame):
        raise ItemPriorError(f"item_priors: expected a pandas DataFrame indexed by question_id, "
                             f"got {type(item_priors).__name__}")
    needed = ["b", "b_se"] + (["a", "a_se"] if {"a", "a_se"} & set(item_priors.columns) else [])
    missing = [c for c in needed if c not in item_priors.columns]
    if missing:
        raise ItemPriorError(f"item_priors: missing column(s) {missing}; found "
                             f"{list(item_priors.columns)}")
    table = item_priors[needed].set_axis(item_priors.index.astype(str))
    if table.index.duplicated().any():
        raise ItemPriorError(f"item_priors: question_id "
                             f"{table.index[table.index.duplicated()][0]!r} appears twice")
    values = table.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    for column in needed[1:]:  # b_se, a, a_se must be positive
        bad |= ~(table[column].to_numpy(dtype=np.float64) > 0)
    if bad.any():
        row = table[bad].iloc[0]
        raise ItemPriorError(f"item_priors: question_id {row.name!r} has {row.to_dict()}; "
                             f"values must be finite, {', '.join(needed[1:])} positive")
    return table


def predicted_priors(items: str | Path | pd.DataFrame,
                     predictor: DifficultyPredictor) -> pd.DataFrame:
    """The predictor's ``predict_parameters`` for the items' text, indexed by question_id.

    The text: a ``text`` column as is (the encoder's input, as ``bank_items`` writes it), else
    ``question_text(question, options)``; ``category`` and ``benchmark`` columns are passed on
    (a benchmark the predictor knows gives its scale; others get the pooled one)."""
    table = items if isinstance(items, pd.DataFrame) else read_table(items)
    source = "the items table" if isinstance(items, pd.DataFrame) else str(items)
    if "question_id" not in table.columns:
        raise ItemPriorError(f"{source}: needs a question_id column; found {list(table.columns)}")
    if "text" in table.columns:
        texts = [str(t) for t in table["text"]]
    elif "question" in table.columns:
        options = table["options"] if "options" in table.columns else [None] * len(table)
        texts = [question_text(str(q), o or None) for q, o in zip(table["question"], options)]
    else:
        raise ItemPriorError(f"{source}: the predictor needs the question text, a text or "
                             f"question column; found {list(table.columns)}")
    empty = [q for q, t in zip(table["question_id"], texts) if not t.strip()]
    if empty:
        raise ItemPriorError(f"{source}: question_id {str(empty[0])!r} has no text")

    def column(name: str) -> list[str | None] | None:
        return ([str(v) if v is not None and str(v).strip() else None for v in table[name]]
                if name in table.columns else None)

    benchmarks = {"benchmarks": column("benchmark")} if "benchmark" in table.columns else {}
    params = predictor.predict_parameters(texts, column("category"), **benchmarks)
    return pd.DataFrame(params, index=pd.Index(table["question_id"].astype(str),
                                               name="question_id"))


def check_predictor_scale(item_priors: pd.DataFrame, question_ids: list[str],
                          calibrated_b: np.ndarray) -> None:
    """Refuse predictions on another difficulty scale than the data's own calibration.

    Compared on the answered items that have a prediction (at least ``SCALE_CHECK_MIN_ITEMS``),
    against ``calibrated_b`` from the shared prior. With a handful of models those ``b`` are
    coarse (a few distinct values) and legitimately offset by a unit or two (the bank's scale is
    its own: the priors fix it, module docstring), and predictions are shrunk towards
    their mean (their spread is about ``r`` times the true one), so only what is robust is
    checked: a significantly negative rank correlation (one-sided p < 0.01: a flipped sign,
    e.g. easiness for difficulty) and a median shift beyond ``MAX_SCALE_SHIFT`` (another
    origin or unit)."""
    listed = _listed(item_priors, question_ids)
    if listed.sum() < SCALE_CHECK_MIN_ITEMS:
        return
    ids = [q for q, keep in zip(question_ids, listed) if keep]
    predicted, calibrated = item_priors.loc[ids, "b"].to_numpy(), calibrated_b[listed]
    rho = spearmanr(predicted, calibrated, alternative="less")
    shift = float(np.median(predicted - calibrated))
    if rho.pvalue < 0.01 or abs(shift) > MAX_SCALE_SHIFT:
        raise ItemPriorError(
            f"the predictor's difficulties are not on this data's scale: on {len(ids)} answered "
            f"items, rank correlation with the calibrated b {rho.statistic:+.2f} (p = "
            f"{rho.pvalue:.1g}), median shift {shift:+.2f} (expected not significantly "
            f"negative, within +-{MAX_SCALE_SHIFT:g}); use a predictor trained on this scale, "
            f"or name a benchmark it knows in the items' benchmark column")


def _listed(item_priors: pd.DataFrame, question_ids: list[str]) -> np.ndarray:
    """Which of ``question_ids`` have a per-item prior (bool; a set: ``Index.isin`` on arrow
    strings takes 90 ms for 12,000 ids)."""
    listed = set(item_priors.index)
    return np.fromiter((q in listed for q in question_ids), bool, len(question_ids))


def _with_unanswered(data: ResponseData, ids: pd.Index) -> ResponseData:
    """``data`` with the ids it lacks appended as items without cells."""
    known = set(data.question_ids)
    extra = [q for q in ids if q not in known]
    if not extra:
        return data
    return ResponseData(data.models, list(data.question_ids) + extra, data.model_index,
                        data.item_index, data.correct)


def _per_item(item_priors: pd.DataFrame, question_ids: list[str], b_sd: float,
              log_a_sd: float) -> Priors:
    """The listed items' priors from ``item_priors``; the shared prior for the others."""
    shared = Priors.shared(len(question_ids), b_sd, log_a_sd)
    table = item_priors.reindex(question_ids)
    listed = table["b"].notna().to_numpy()
    b_mean = np.where(listed, table["b"].to_numpy(), shared.b_mean)
    b_var = np.where(listed, table["b_se"].to_numpy() ** 2, shared.b_var)
    if "a" not in table.columns:
        return Priors(b_mean, b_var, shared.log_a_mean, shared.log_a_var)
    a, a_se = table["a"].to_numpy(), table["a_se"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return Priors(b_mean, b_var, np.where(listed, np.log(a), shared.log_a_mean),
                      np.where(listed, (a_se / a) ** 2, shared.log_a_var))


def _abilities(data: ResponseData, fit: EMFit) -> dict[str, Ability]:
    accuracy = fit.n_right / fit.n_answered
    curves = [mean_prob_per_examinee(fit.theta, fit.b, slope, data.model_index, data.item_index,
                                     data.n_models)
              for slope in (fit.a, marginal_a(fit.a, fit.b_se))]
    return {m: Ability(float(t), float(s), float(acc), int(n), float(c), float(c_se))
            for m, t, s, acc, n, c, c_se in zip(data.models, fit.theta, fit.theta_se, accuracy,
                                                fit.n_answered, *curves)}


def _stderr_progress(line: str) -> None:
    if sys.stderr.isatty():
        print(line, file=sys.stderr, flush=True)
