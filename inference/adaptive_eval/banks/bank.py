"""An item bank: calibrated (or predicted) IRT parameters of benchmark questions.

A bank folder (also a Hub dataset repo) holds:

- ``config.json``: ``{"artifact": "item-bank", "model": "rasch" | "2pl", "n_items": ..,
  "metadata": {..}, "abilities": {model: {"theta": .., "se": ..}}}``;
- ``params.safetensors``: float64 ``b``, ``b_se``, ``a``, ``a_se``, uint8 ``predicted``
  (1 where the parameters were predicted from text rather than calibrated), float64
  ``prior_share`` (how much of ``b`` came from the question text: prior precision / posterior
  precision) and float64 ``b_log_a_cov`` (the posterior covariance of ``b`` and ``log a``, which
  ``update`` needs). Banks saved before the last two existed load with ``prior_share`` 1 for
  predicted items and 0 for the others, and covariance 0;
- ``items.parquet``: one row per item, ``question_id``, ``category``, ``b``, ``b_se``, ``a``,
  ``a_se``, ``predicted``, ``prior_share``, ``flags`` (the quality flags' reasons, comma
  separated): the table the Hub's dataset viewer shows and ``datasets.load_dataset(repo)`` reads
  (the card's ``configs`` name it). Ids and categories load from it, the parameters from the
  safetensors (exact). Banks saved before it existed have ``items.json`` (``{"ids": [...],
  "category": [...] | null}``) instead, and still load;
- ``README.md``: the dataset card.

No pickle anywhere: tensors in safetensors, everything else JSON.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub import DatasetCardData
from safetensors.numpy import load_file, save_file

from ..hub.cards import render_card
from ..hub.resolve import resolve_artifact
from ..irt.em import Priors, fit_em
from ..irt.model import marginal_a, mean_prob_per_examinee, prob
from .catalog import CATALOG, bank_info, local_folder
from .responses import ResponseData

ARTIFACT = "item-bank"
ITEMS = "items.parquet"
#: the card's dataset configs: the viewer and ``datasets.load_dataset`` read the item table
CARD_CONFIGS = [{"config_name": "default", "data_files": ITEMS}]


def population(theta: np.ndarray, theta_se: np.ndarray) -> tuple[float, float]:
    """Models' ability mean and SD from their EAPs and posterior SDs: ``mean_j theta_j`` and
    ``sqrt(mean_j (theta_j - mean)^2 + mean_j se_j^2)`` (the spread of the EAPs plus the
    uncertainty they shrink away)."""
    theta, theta_se = np.asarray(theta, np.float64), np.asarray(theta_se, np.float64)
    mean = float(theta.mean())
    return mean, float(np.sqrt(np.mean((theta - mean) ** 2) + np.mean(theta_se**2)))


class ItemBankError(ValueError):
    """A bank that is malformed or cannot serve a request; the message names it."""


@dataclass
class ItemBank:
    ids: list[str]
    b: np.ndarray
    a: np.ndarray | None = None  # None: Rasch (all ones)
    b_se: np.ndarray | None = None
    a_se: np.ndarray | None = None
    predicted: np.ndarray | None = None  # bool; None: all calibrated
    category: list[str] | None = None
    metadata: dict = field(default_factory=dict)
    abilities: dict[str, dict[str, float]] = field(default_factory=dict)
    prior_share: np.ndarray | None = None  # float in [0, 1]; None: 1 if predicted, else 0
    b_log_a_cov: np.ndarray | None = None  # posterior Cov(b, log a); None: 0

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        n = len(self.ids)
        if n == 0:
            raise ItemBankError("an item bank needs at least one item")
        if len(set(self.ids)) != n:
            raise ItemBankError("item bank ids must be unique")
        self.b = np.asarray(self.b, dtype=np.float64)
        self.a = np.ones(n) if self.a is None else np.asarray(self.a, dtype=np.float64)
        self.b_se = np.zeros(n) if self.b_se is None else np.asarray(self.b_se, np.float64)
        self.a_se = np.zeros(n) if self.a_se is None else np.asarray(self.a_se, np.float64)
        self.predicted = (
            np.zeros(n, bool) if self.predicted is None else np.asarray(self.predicted, bool)
        )
        self.prior_share = (self.predicted.astype(np.float64) if self.prior_share is None
                            else np.asarray(self.prior_share, np.float64))
        self.b_log_a_cov = (np.zeros(n) if self.b_log_a_cov is None
                            else np.asarray(self.b_log_a_cov, np.float64))
        for name in ("b", "a", "b_se", "a_se", "predicted", "prior_share", "b_log_a_cov"):
            if getattr(self, name).shape != (n,):
                shape = getattr(self, name).shape
                raise ItemBankError(f"{name} has shape {shape}, expected ({n},)")
        if not np.all(np.isfinite(self.b)) or not np.all(np.isfinite(self.a)):
            raise ItemBankError("item parameters must be finite")
        if self.category is not None and len(self.category) != n:
            raise ItemBankError(f"category has {len(self.category)} entries, expected {n}")
        self._position = {item: k for k, item in enumerate(self.ids)}

    @property
    def model(self) -> str:
        return "rasch" if np.all(self.a == 1.0) and np.all(self.a_se == 0) else "2pl"

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"ItemBank({len(self)} items, {self.model}, {int(self.predicted.sum())} predicted)"

    def index(self, ids: Sequence[str]) -> np.ndarray:
        """Positions of ``ids`` in the bank; an unknown id raises ``ItemBankError`` naming it."""
        try:
            return np.array([self._position[str(i)] for i in ids], dtype=np.int64)
        except KeyError as err:
            raise ItemBankError(f"question id {err.args[0]!r} is not in the bank") from None

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the ids and the float64 bytes of ``b``, ``a``, ``b_se``, ``a_se``:
        equal for the same bank however it was loaded, different if any item or parameter
        differs (categories and metadata do not count)."""
        digest = hashlib.sha256(json.dumps(self.ids).encode())
        for values in (self.b, self.a, self.b_se, self.a_se):
            digest.update(np.ascontiguousarray(values, "<f8").tobytes())
        return digest.hexdigest()

    def subset(self, ids: Sequence[str]) -> ItemBank:
        """A bank of the given items, in that order."""
        k = self.index(ids)
        return ItemBank(
            [self.ids[i] for i in k], self.b[k], self.a[k], self.b_se[k], self.a_se[k],
            self.predicted[k], None if self.category is None else [self.category[i] for i in k],
            dict(self.metadata), dict(self.abilities), self.prior_share[k],
            self.b_log_a_cov[k],
        )

    def extend(
        self,
        ids: Sequence[str],
        params: Mapping[str, np.ndarray],
        categories: Sequence[str | None] | None = None,
        predicted_by: str | None = None,
    ) -> ItemBank:
        """A new bank: this bank's items, then new items with *predicted* parameters.

        ``params`` holds one entry per new id: ``b`` and ``b_se`` (the predicted difficulty and its
        predictive SE), and ``a``/``a_se`` when discrimination was predicted too, as
        ``DifficultyPredictor.predict_parameters`` returns them. New items are marked
        ``predicted``, with ``prior_share`` 1. Discrimination: ``a = 1`` in a Rasch bank; in a
        2PL bank the predicted ``a`` when given, else the median ``a`` of the bank's calibrated
        items with their SD as ``a_se``. ``categories`` (one per new id, ``None`` for unknown)
        extends the bank's category list; ``predicted_by`` is recorded in
        ``metadata["predicted_by"]``.
        """
        ids = [str(i) for i in ids]
        n = len(ids)
        b = np.asarray(params["b"], dtype=np.float64)
        b_se = np.asarray(params["b_se"], dtype=np.float64)
        if b.shape != (n,) or b_se.shape != (n,):
            raise ItemBankError(f"{n} new ids but predictions of shape b {b.shape}, "
                                f"b_se {b_se.shape}")
        if categories is not None and len(categories) != n:
            raise ItemBankError(f"{n} new ids but {len(categories)} categories")
        clash = sorted(set(ids) & set(self.ids)) or sorted({i for i in ids if ids.count(i) > 1})
        if clash:
            raise ItemBankError(f"question ids already in the bank or repeated: {clash[:5]}")
        if self.model == "rasch":
            a, a_se = np.ones(n), np.zeros(n)
        elif "a" in params:
            a = np.asarray(params["a"], dtype=np.float64)
            a_se = np.asarray(params.get("a_se", np.zeros(n)), dtype=np.float64)
        else:
            calibrated = self.a[~self.predicted] if (~self.predicted).any() else self.a
            a, a_se = np.full(n, np.median(calibrated)), np.full(n, np.std(calibrated))
        category = None
        if self.category is not None:
            new = list(categories) if categories is not None else [None] * n
            category = list(self.category) + [c if c is not None else "unknown" for c in new]
        metadata = dict(self.metadata)
        if predicted_by is not None:
            metadata["predicted_by"] = predicted_by
        return ItemBank(
            ids=list(self.ids) + ids,
            b=np.concatenate([self.b, b]),
            a=np.concatenate([self.a, a]),
            b_se=np.concatenate([self.b_se, b_se]),
            a_se=np.concatenate([self.a_se, a_se]),
            predicted=np.concatenate([self.predicted, np.ones(n, bool)]),
            category=category,
            metadata=metadata,
            abilities=dict(self.abilities),
            prior_share=np.concatenate([self.prior_share, np.ones(n)]),
            b_log_a_cov=np.concatenate([self.b_log_a_cov, np.zeros(n)]),
        )

    def update(
        self,
        responses: ResponseData,
        *,
        n_nodes: int = 5,
        max_iter: int = 500,
        tol: float = 1e-6,
        progress: Callable[[str], None] = lambda line: None,
    ) -> ItemBank:
        """Online calibration: a new bank refined by new models' answers, without a refit.

        The items the new models answered are re-estimated by MML-EM (``em.fit_em``) on those
        answers alone, each with its current posterior as prior: ``(b, log a)`` normal with
        means ``b``, ``log a``, SDs ``b_se``, ``a_se / a`` and covariance ``b_log_a_cov`` (a
        Gaussian summary of everything the bank saw before; without the covariance, an item
        far from the calibration models' abilities, pinned along one line of ``(b, log a)``,
        would move across it). The items' priors pin the scale, so the EM runs without the
        parameter expansion when they carry a covariance. The new models' abilities have the
        bank's population prior ``N(theta_mean, theta_sd^2)`` (``population``; the EM runs in
        standardised units ``(theta - theta_mean) / theta_sd``, items transformed alike, Rasch
        shifted only) and join ``abilities``, each with its ``curve_accuracy`` over the items it
        answered (``calibration.py``). Items nobody new answered are unchanged.
        Touched items are no longer ``predicted``; their ``prior_share`` (the text's share of
        the precision of ``b``) scales by ``b_se_new^2 / b_se_old^2``. What this drops against
        a refit on all answers: the correlations between items through the old models'
        abilities (how close it stays is measured in ``benchmarks/online_calibration.py``).
        A 2PL bank saved without ``b_log_a_cov`` (before it existed) is updated with independent
        priors, with a warning: recalibrate it to store the covariance. A model already in
        ``abilities``, an id not in the bank or a bank without SEs raise ``ItemBankError``.
        """
        if responses.n_observed == 0:
            raise ItemBankError("update: the responses have no observed cells")
        answering, model_index = np.unique(responses.model_index, return_inverse=True)
        models = [responses.models[j] for j in answering]
        known = sorted(set(models) & set(self.abilities))
        if known:
            raise ItemBankError(f"models already in the bank (their answers are in it): "
                                f"{known[:5]}")
        answered, item_index = np.unique(responses.item_index, return_inverse=True)
        ids = [responses.question_ids[i] for i in answered]
        touched = self.index(ids)
        if np.any(self.b_se[touched] <= 0) or (self.model == "2pl" and np.any(
                self.a_se[touched] <= 0)):
            raise ItemBankError("update needs the bank's standard errors (b_se, and a_se for "
                                "2PL) to be positive on the answered items")
        two_pl = self.model == "2pl"
        if two_pl and not np.any(self.b_log_a_cov):
            warnings.warn("this bank has no b_log_a_cov (saved before it existed): updating with "
                          "independent priors on b and a, which follows a refit less closely; "
                          "recalibrate the bank to store the covariance", stacklevel=2)
        mu, sd = self.population()
        unit = sd if two_pl else 1.0  # theta = mu + unit * z; Rasch keeps a = 1 (shift only)
        a, a_se = self.a[touched], self.a_se[touched]
        priors = Priors((self.b[touched] - mu) / unit, (self.b_se[touched] / unit) ** 2,
                        np.log(a * unit), (a_se / a) ** 2 if two_pl else np.ones(len(ids)),
                        self.b_log_a_cov[touched] / unit if two_pl else None)
        answers = ResponseData(models, ids, model_index.astype(np.int32),
                               item_index.astype(np.int32), responses.correct)
        fit = fit_em(answers, two_pl, priors, n_nodes=n_nodes, max_iter=max_iter, tol=tol,
                     progress=progress, label="update", rasch_sigma=sd)
        bank = self.subset(self.ids)  # a copy
        bank.b[touched], bank.b_se[touched] = mu + unit * fit.b, unit * fit.b_se
        if two_pl:
            bank.a[touched], bank.a_se[touched] = fit.a / unit, fit.a_se / unit
            bank.b_log_a_cov[touched] = unit * fit.b_log_a_cov
        bank.prior_share[touched] *= bank.b_se[touched] ** 2 / self.b_se[touched] ** 2
        bank.predicted[touched] = False
        accuracy = fit.n_right / fit.n_answered
        theta, theta_se = mu + unit * fit.theta, unit * fit.theta_se
        b, a = bank.b[touched], bank.a[touched]
        curves = [mean_prob_per_examinee(theta, b, slope, answers.model_index,
                                         answers.item_index, len(models))
                  for slope in (a, marginal_a(a, bank.b_se[touched]))]
        for k, model in enumerate(models):
            bank.abilities[model] = {"theta": float(theta[k]), "se": float(theta_se[k]),
                                     "accuracy": float(accuracy[k]),
                                     "n_answered": int(fit.n_answered[k]),
                                     "curve_accuracy": float(curves[0][k]),
                                     "curve_accuracy_item_se": float(curves[1][k])}
        bank.metadata["n_models"] = self.metadata.get("n_models", 0) + len(models)
        bank.metadata["n_observed"] = self.metadata.get("n_observed", 0) + responses.n_observed
        bank.metadata["online_updates"] = self.metadata.get("online_updates", 0) + 1
        return bank

    def population(self) -> tuple[float, float]:
        """Mean and SD of the calibration models' abilities: the bank's ``theta_mean`` and
        ``theta_sd`` (``calibration.py`` measures them), else measured from ``abilities``
        (``population``) for a bank saved without them, else ``(0, 1)`` (fewer than 2 models)."""
        if "theta_mean" in self.metadata and "theta_sd" in self.metadata:
            return float(self.metadata["theta_mean"]), float(self.metadata["theta_sd"])
        known = [(m["theta"], m.get("se", 0.0)) for m in self.abilities.values()]
        if len(known) < 2:
            return 0.0, 1.0
        return population(*np.array(known).T)

    def assign_categories(self, category: dict[str, str]) -> None:
        """Set each item's category from ``{question_id: category}`` ("unknown" if absent)."""
        self.category = [category.get(i, "unknown") for i in self.ids]

    def mean_probability(self, theta: float | np.ndarray) -> np.ndarray:
        """Mean over the bank's items of ``P(correct | theta)`` (vectorised over ``theta``): the
        bare curve, not an adaptive test's predicted accuracy (``cat.accuracy``)."""
        theta = np.asarray(theta, dtype=np.float64)
        return prob(theta[..., None], self.b, self.a).mean(axis=-1)

    def summary(self) -> dict:
        """Counts and parameter ranges, for printing."""
        q = [0.05, 0.5, 0.95]
        return {
            "model": self.model,
            "n_items": len(self),
            "n_predicted": int(self.predicted.sum()),
            "mean_prior_share": float(self.prior_share.mean()),
            "b_quantiles_5_50_95": np.quantile(self.b, q).round(3).tolist(),
            "a_quantiles_5_50_95": np.quantile(self.a, q).round(3).tolist(),
            "median_b_se": float(np.median(self.b_se)),
            "categories": sorted(set(self.category)) if self.category else [],
        }

    # persistence ----------------------------------------------------------------------------

    def save(self, folder: str | Path, *, card_variables: dict | None = None) -> Path:
        """Write the bank folder (module docstring), with a dataset card from the template."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            {"b": self.b, "b_se": self.b_se, "a": self.a, "a_se": self.a_se,
             "predicted": self.predicted.astype(np.uint8), "prior_share": self.prior_share,
             "b_log_a_cov": self.b_log_a_cov},
            str(folder / "params.safetensors"),
        )
        self.write_item_table(folder)
        config = {"artifact": ARTIFACT, "model": self.model, "n_items": len(self),
                  "metadata": self.metadata, "abilities": self.abilities}
        (folder / "config.json").write_text(json.dumps(config, indent=2))
        card_data = DatasetCardData(
            license=self.metadata.get("license", "apache-2.0"), library_name="adaptive-eval",
            tags=["irt", "adaptive-testing"], configs=CARD_CONFIGS,
        )
        variables = {"summary": self.summary(), "metadata": self.metadata,
                     "n_abilities": len(self.abilities)} | (card_variables or {})
        render_card("item_bank.md", card_data, **variables).save(folder / "README.md")
        return folder

    def write_item_table(self, folder: Path) -> Path:
        """Write ``items.parquet`` (module docstring) into ``folder``; an older ``items.json``
        there is removed (one table of the items)."""
        flags = self.metadata.get("flags") or {}
        table = pa.table({
            "question_id": self.ids,
            "category": self.category if self.category is not None else [None] * len(self),
            "b": self.b, "b_se": self.b_se, "a": self.a, "a_se": self.a_se,
            "predicted": self.predicted.astype(bool), "prior_share": self.prior_share,
            "flags": [", ".join(flags.get(q, [])) for q in self.ids],
        }, schema=pa.schema([("question_id", pa.string()), ("category", pa.string()),
                             ("b", pa.float64()), ("b_se", pa.float64()), ("a", pa.float64()),
                             ("a_se", pa.float64()), ("predicted", pa.bool_()),
                             ("prior_share", pa.float64()), ("flags", pa.string())]))
        pq.write_table(table, folder / ITEMS)
        (folder / "items.json").unlink(missing_ok=True)
        return folder / ITEMS

    @classmethod
    def load(cls, path_or_repo_id: str | Path | None = None, *, revision: str | None = None):
        """Load a bank from a folder, a bank name of the catalog (``banks.CATALOG``: its local
        copy, else its Hub repo), a Hub dataset repo id, or (None) the embedded default."""
        folder = Path(path_or_repo_id) if path_or_repo_id is not None else None
        if isinstance(path_or_repo_id, str) and not folder.is_dir() and "/" not in path_or_repo_id:
            folder = local_folder(bank_info(path_or_repo_id).name)  # unknown names: the list
            path_or_repo_id = folder or CATALOG[path_or_repo_id].repo_id
        if folder is None or not folder.is_dir():
            folder = resolve_artifact(path_or_repo_id, kind=ARTIFACT, revision=revision)
        try:
            config = json.loads((folder / "config.json").read_text())
            items = _read_items(folder)
            params = load_file(str(folder / "params.safetensors"))
        except (OSError, ValueError) as err:
            raise ItemBankError(f"{folder} is not a readable item bank: {err}") from None
        if config.get("artifact") != ARTIFACT:
            raise ItemBankError(f"{folder}/config.json does not describe an item bank")
        return cls(
            ids=items["ids"], b=params["b"], a=params["a"], b_se=params["b_se"],
            a_se=params["a_se"], predicted=params["predicted"].astype(bool),
            category=items.get("category"), metadata=config.get("metadata", {}),
            abilities=config.get("abilities", {}), prior_share=params.get("prior_share"),
            b_log_a_cov=params.get("b_log_a_cov"),
        )


def _read_items(folder: Path) -> dict:
    """``{"ids": [...], "category": [...] | None}`` from ``items.parquet`` (or an older bank's
    ``items.json``)."""
    if not (folder / ITEMS).is_file():
        return json.loads((folder / "items.json").read_text())
    columns = pq.read_table(folder / ITEMS, columns=["question_id", "category"]).to_pydict()
    category = columns["category"]
    return {"ids": columns["question_id"],
            "category": None if all(c is None for c in category) else category}
