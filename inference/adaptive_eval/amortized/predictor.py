"""Difficulty predictor: amortized IRT calibration from question text.

A new question gets an IRT difficulty ``b`` (and optionally a discrimination ``a``) without any
responses (Truong et al. 2025, section "amortized calibration"):

    e = normalize(mean_pool(encoder(question_text(question, options))))   # questions.question_text
    x = [e, onehot(category)]                                             # category is optional
    (u, v) = head(x)                                                      # small MLP
    b = offset_k + scale_k * u                 (difficulty, higher is harder)
    a = exp(log_a_offset_k + log_a_std * v)    (only when ``predict_discrimination``)

One difficulty scale per benchmark: each bank is calibrated on its own models, and its priors
(mostly the ``b`` prior over its many items, not the ability prior over its few models) fix its
origin and unit (``irt/calibration.py``), so its ``b`` scale is its own. ``config.benchmarks``
maps each benchmark the predictor was trained on to ``{"offset", "scale", "log_a_offset",
"residual_sd"}`` (learned with the head), so that ``predict(..., benchmarks=NAME)`` is on that
bank's scale.
A benchmark it does not know (``None``, or a name not in ``config.benchmarks``: a warning names
it) gets the pooled scale: ``b_mean`` = the mean of the offsets, ``b_std`` = the geometric mean of
the scales, ``log_a_mean`` = the mean of the ``log_a_offset`` s, and the pooled ``residual_sd``
(measured with the pooled scale against each bank's own ``b``, so it includes the scale
mismatch). A predictor without ``benchmarks`` uses ``b_mean``, ``b_std``, ``log_a_mean`` alone.

Mean pooling is sentence-transformers' (average of the last hidden states over real tokens), then
L2 normalisation (``normalize_embeddings``), exactly as ``all-MiniLM-L6-v2`` is meant to be used.

Predictive standard error: one number per benchmark (``benchmarks[k]["residual_sd"]``, or
``config.residual_sd`` for the pooled scale), estimated at training time on a validation split of
the training questions as the root mean squared difference between predicted and calibrated
difficulty, less the calibration noise:
``residual_sd**2 = mean((b_pred - b_cal)**2) - mean(b_cal_se**2)``
(see ``training/train_predictor.py``).
So ``se`` is the typical error of ``b_pred`` as an estimate of the item's true difficulty; it is
the same for every text of a benchmark (homoscedastic).

Text longer than ``config.max_length`` tokens (default 256, the encoder's training length) is
truncated: only its first ``max_length`` tokens (special tokens included) are encoded, so a long
question's last options may be cut. Empty text raises ``ValueError``.

Embeddings of the frozen encoder are cached on disk by SHA-256 of the text (see
:class:`EmbeddingCache`), in ``$ADAPTIVE_EVAL_CACHE`` or ``~/.cache/adaptive-eval``.

Saved as ``config.json`` (the :class:`PredictorConfig`, with ``"artifact": "difficulty-predictor"``,
the per-benchmark scales included) and ``model.safetensors`` holding the head only; the encoder
is stored by reference (its Hub id), unless it was fine-tuned (``train_encoder``), in which case
its weights are saved too.

How well predictions match calibrated difficulty on held-out questions, and the throughput of
``predict``, are measured by ``benchmarks/predictor.py`` (``benchmarks/results/predictor.md``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer

from ..hub.resolve import resolve_artifact
from .base_models import MINILM, resolve_base_model, user_cache_dir
from .embedding_cache import EmbeddingCache, text_key

ARTIFACT = "difficulty-predictor"
WEIGHTS = "model.safetensors"


@dataclass
class PredictorConfig:
    """Everything needed to rebuild a :class:`DifficultyPredictor` (saved as ``config.json``)."""

    encoder: str = MINILM
    """Hub id (or local folder) of the text encoder; resolved with ``resolve_base_model``."""
    encoder_revision: str | None = None
    max_length: int = 256
    """Tokens per text (special tokens included); longer text is truncated."""
    normalize_embeddings: bool = True
    train_encoder: bool = False
    """True when the encoder was fine-tuned: its weights are then saved in model.safetensors."""
    hidden_sizes: list[int] = field(default_factory=lambda: [256])
    dropout: float = 0.1
    predict_discrimination: bool = False
    categories: list[str] = field(default_factory=list)
    """Category vocabulary for the optional one-hot input; empty means the head ignores category."""
    b_mean: float = 0.0
    b_std: float = 1.0
    log_a_mean: float = 0.0
    log_a_std: float = 1.0
    residual_sd: float = 1.0
    """Predictive SE of ``b`` on the pooled scale (held-out residual SD, calibration noise
    removed)."""
    benchmarks: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per-benchmark scales: ``{name: {"offset", "scale", "log_a_offset", "residual_sd"}}``; the
    pooled ``b_mean``, ``b_std``, ``log_a_mean`` are derived from them (module docstring)."""
    log_a_residual_sd: float = 0.0
    """Same for ``log a`` (when the head predicts it): ``a_se = a * log_a_residual_sd``."""
    objective: str = "regression"
    """How the head was trained: "regression" or "joint" (informational)."""
    artifact: str = ARTIFACT

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictorConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _check_texts(texts: Sequence[str] | str) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text #{i} is a {type(text).__name__}, not a str")
        if not text.strip():
            raise ValueError(f"text #{i} is empty: a question needs some text to predict from")
    return texts


class DifficultyPredictor(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="adaptive-eval",
    tags=["adaptive-eval", "item-response-theory", "difficulty-prediction"],
):
    """Question text -> IRT difficulty (and discrimination); see the module docstring."""

    def __init__(self, config: PredictorConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = PredictorConfig()
        elif isinstance(config, dict):
            config = PredictorConfig.from_dict(config)
        self.config = config
        self._hub_mixin_config = config  # save_pretrained writes the live config
        folder = resolve_base_model(config.encoder, config.encoder_revision)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.encoder = AutoModel.from_pretrained(folder)
        limit = getattr(self.encoder.config, "max_position_embeddings", None)
        if limit is not None and config.max_length > limit:
            raise ValueError(
                f"max_length {config.max_length} exceeds the encoder's {limit} positions"
            )
        self.encoder.requires_grad_(config.train_encoder)
        if not config.train_encoder:
            self.encoder.eval()
        width = self.encoder.config.hidden_size + len(config.categories)
        layers: list[nn.Module] = []
        for size in config.hidden_sizes:
            layers += [nn.Linear(width, size), nn.GELU(), nn.Dropout(config.dropout)]
            width = size
        layers.append(nn.Linear(width, 2 if config.predict_discrimination else 1))
        self.head = nn.Sequential(*layers)
        scales = list(config.benchmarks.values())
        self.b_offset = nn.Parameter(torch.tensor([s["offset"] for s in scales]))
        self.b_log_scale = nn.Parameter(torch.log(torch.tensor([s["scale"] for s in scales])))
        self.log_a_offset = nn.Parameter(torch.tensor([s["log_a_offset"] for s in scales]))
        self._fingerprint: str | None = None

    # ---- encoder -------------------------------------------------------------------------
    def train(self, mode: bool = True) -> DifficultyPredictor:
        """Like ``nn.Module.train``, but a frozen encoder stays in eval mode (no dropout)."""
        super().train(mode)
        if not self.config.train_encoder:
            self.encoder.eval()
        return self

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenize with truncation to ``config.max_length`` tokens and padding."""
        return self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.config.max_length,
            padding=True,
            return_tensors="pt",
        )

    def encode_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled (and L2-normalised) last hidden states: the sentence embedding."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.config.normalize_embeddings:
            pooled = nn.functional.normalize(pooled, p=2, dim=1)
        return pooled

    def fingerprint(self) -> str:
        """Identity of the embedding function (encoder files + settings), for the cache."""
        if self._fingerprint is None:
            folder = resolve_base_model(self.config.encoder, self.config.encoder_revision)
            h = hashlib.sha256()
            revision = self.config.encoder_revision
            settings = [
                self.config.encoder,
                None if revision == "main" else revision,  # "main" is the default: no revision
                self.config.max_length,
                self.config.normalize_embeddings,
                "mean",
            ]
            h.update(json.dumps(settings).encode())
            for name in ("config.json", "tokenizer.json", "vocab.txt"):
                if (folder / name).exists():
                    h.update((folder / name).read_bytes())
            for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
                h.update(f"{weights.name}:{weights.stat().st_size}".encode())
            self._fingerprint = h.hexdigest()[:24]
        return self._fingerprint

    @torch.no_grad()
    def embed(
        self,
        texts: Sequence[str] | str,
        batch_size: int = 64,
        cache: bool = True,
        progress: bool = False,
    ) -> np.ndarray:
        """Sentence embeddings (n, d) float32 of ``texts``, cached on disk by text hash.

        Texts are encoded in batches sorted by length (less padding). The cache is skipped
        when the encoder is being fine-tuned (``config.train_encoder``).
        """
        texts = _check_texts(texts)
        use_cache = cache and not self.config.train_encoder
        store = EmbeddingCache(user_cache_dir() / "embeddings" / self.fingerprint())
        known = store.load() if use_cache else {}
        keys = [text_key(t) for t in texts]
        todo = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items(),
            key=lambda kv: len(kv[1]),
        )
        new: dict[str, np.ndarray] = {}
        unsaved: list[str] = []
        was_training = self.encoder.training
        self.encoder.eval()
        device = next(self.encoder.parameters()).device
        started = time.time()
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            tokens = self.tokenize([t for _, t in chunk]).to(device)
            emb = self.encode_tokens(tokens["input_ids"], tokens["attention_mask"])
            new.update(zip((k for k, _ in chunk), emb.float().cpu().numpy(), strict=True))
            unsaved += [k for k, _ in chunk]
            done = min(start + batch_size, len(todo))
            if use_cache and (len(unsaved) >= 1024 or done == len(todo)):
                store.save(unsaved, np.stack([new[k] for k in unsaved]))  # a shard per ~1k texts
                unsaved = []
            if progress:
                rate = done / max(time.time() - started, 1e-9)
                print(f"embedded {done}/{len(todo)} ({rate:.1f} texts/s)", file=sys.stderr)
        self.encoder.train(was_training)
        known.update(new)
        return np.stack([known[k] for k in keys]).astype(np.float32)

    # ---- head ----------------------------------------------------------------------------
    def category_features(self, categories: Sequence[str | None] | None, n: int) -> torch.Tensor:
        """One-hot (n, len(config.categories)).

        ``None``, or a category the predictor does not know (a warning names it), gives a zero
        row: the question is predicted from its text alone (training hides the category of a
        share of questions, ``category_dropout``, so that this works).
        """
        vocab = self.config.categories
        out = torch.zeros(n, len(vocab))
        if not vocab or categories is None:
            return out
        categories = list(categories)
        if len(categories) != n:
            raise ValueError(f"{len(categories)} categories given for {n} texts")
        index = {c: i for i, c in enumerate(vocab)}
        unknown = sorted({c for c in categories if c is not None and c not in index})
        if unknown:
            warnings.warn(
                f"categories {unknown} are not among the predictor's ({', '.join(vocab)}); "
                "predicting those questions from their text alone",
                stacklevel=3,
            )
        for row, cat in enumerate(categories):
            if cat in index:
                out[row, index[cat]] = 1.0
        return out

    def benchmark_index(
        self, benchmarks: Sequence[str | None] | str | None, n: int
    ) -> torch.Tensor:
        """Row ``k`` of ``config.benchmarks`` per text; ``len(config.benchmarks)`` = pooled.

        ``benchmarks``: one name for every text, one per text, or None (all pooled). A name the
        predictor does not know gets the pooled scale (a warning names it).
        """
        pooled = len(self.config.benchmarks)
        if benchmarks is None:
            return torch.full((n,), pooled, dtype=torch.long)
        if isinstance(benchmarks, str):
            benchmarks = [benchmarks] * n
        benchmarks = list(benchmarks)
        if len(benchmarks) != n:
            raise ValueError(f"{len(benchmarks)} benchmarks given for {n} texts")
        index = {name: k for k, name in enumerate(self.config.benchmarks)}
        unknown = sorted({b for b in benchmarks if b is not None and b not in index})
        if unknown:
            known = ", ".join(index) or "none"
            warnings.warn(
                f"benchmarks {unknown} are not among the predictor's ({known}); predicting "
                "those questions on the pooled difficulty scale",
                stacklevel=3,
            )
        return torch.tensor([index.get(b, pooled) for b in benchmarks], dtype=torch.long)

    def scales(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(offset, scale, log_a_offset)``, one entry per known benchmark, then the pooled one
        (module docstring)."""
        if not self.config.benchmarks:
            c = self.config
            return (torch.tensor([c.b_mean]), torch.tensor([c.b_std]),
                    torch.tensor([c.log_a_mean]))
        return (
            torch.cat([self.b_offset, self.b_offset.mean()[None]]),
            torch.exp(torch.cat([self.b_log_scale, self.b_log_scale.mean()[None]])),
            torch.cat([self.log_a_offset, self.log_a_offset.mean()[None]]),
        )

    def forward(
        self,
        embeddings: torch.Tensor | None = None,
        category_features: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        benchmark_index: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Embeddings (n, d) [+ one-hot categories] -> ``{"b": (n,)[, "a": (n,)]}``, on the scale
        of ``benchmark_index`` (:meth:`benchmark_index`; None = pooled).

        Pass ``input_ids``/``attention_mask`` instead of ``embeddings`` to run the encoder too
        (fine-tuning).
        """
        if embeddings is None:
            embeddings = self.encode_tokens(input_ids, attention_mask)
        x = embeddings
        if self.config.categories:
            if category_features is None:
                category_features = torch.zeros(len(x), len(self.config.categories))
            x = torch.cat([x, category_features.to(x)], dim=1)
        raw = self.head(x)
        if benchmark_index is None:
            benchmark_index = torch.full((len(x),), len(self.config.benchmarks), dtype=torch.long)
        offset, scale, log_a_offset = (s.to(x)[benchmark_index.to(x.device)] for s in self.scales())
        out = {"b": offset + scale * raw[:, 0]}
        if self.config.predict_discrimination:
            out["a"] = torch.exp(log_a_offset + self.config.log_a_std * raw[:, 1])
        return out

    def residual_sds(self, benchmark_index: torch.Tensor) -> np.ndarray:
        """Predictive SE of ``b`` per text: its benchmark's ``residual_sd`` (pooled: the
        config's)."""
        sds = [s["residual_sd"] for s in self.config.benchmarks.values()]
        return np.array(sds + [self.config.residual_sd])[benchmark_index.numpy()]

    @torch.no_grad()
    def predict_parameters(
        self,
        texts: Sequence[str] | str,
        categories: Sequence[str | None] | None = None,
        benchmarks: Sequence[str | None] | str | None = None,
        batch_size: int = 64,
        cache: bool = True,
    ) -> dict[str, np.ndarray]:
        """``{"b", "b_se"}`` (and ``"a", "a_se"`` when the head predicts them) as numpy arrays,
        on the scale of ``benchmarks`` (one name, one per text, or None: pooled)."""
        texts = _check_texts(texts)
        index = self.benchmark_index(benchmarks, len(texts))
        categories = self.category_features(categories, len(texts))
        emb = torch.from_numpy(self.embed(texts, batch_size=batch_size, cache=cache))
        was_training = self.training
        self.eval()
        device = next(self.head.parameters()).device
        out = self.forward(emb.to(device), categories, benchmark_index=index)
        self.train(was_training)
        result = {k: v.float().cpu().numpy().astype(np.float64) for k, v in out.items()}
        result["b_se"] = self.residual_sds(index)
        if "a" in result:
            result["a_se"] = result["a"] * float(self.config.log_a_residual_sd)
        return result

    def predict(
        self,
        texts: Sequence[str] | str,
        categories: Sequence[str | None] | None = None,
        benchmarks: Sequence[str | None] | str | None = None,
        batch_size: int = 64,
        cache: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(difficulty, se)`` numpy arrays, one entry per text.

        ``categories`` (optional, one per text, ``None`` for unknown) is used only when the
        model was trained with category features (``config.categories``). ``benchmarks`` (one
        name or one per text; None = unknown) picks the difficulty scale. See the module
        docstring for the scales, truncation and what ``se`` means.
        """
        out = self.predict_parameters(texts, categories, benchmarks, batch_size=batch_size,
                                      cache=cache)
        return out["b"], out["b_se"]

    # ---- persistence ---------------------------------------------------------------------
    def store_scales(self) -> None:
        """Write the learned per-benchmark scales, and the pooled scale derived from them, into
        ``config`` (which is what is saved and what a loaded predictor builds them from)."""
        if not self.config.benchmarks:
            return
        offset, scale, log_a_offset = (s.detach().cpu().tolist() for s in self.scales())
        for k, name in enumerate(self.config.benchmarks):
            self.config.benchmarks[name] |= {
                "offset": offset[k], "scale": scale[k], "log_a_offset": log_a_offset[k]}
        self.config.b_mean, self.config.b_std = offset[-1], scale[-1]
        self.config.log_a_mean = log_a_offset[-1]

    def _save_pretrained(self, save_directory: Path) -> None:
        """``model.safetensors``: the head (``head.*``), plus ``encoder.*`` if fine-tuned; the
        per-benchmark scales go into the config (:meth:`store_scales`)."""
        self.store_scales()
        state = {
            k: v.detach().cpu().contiguous()
            for k, v in self.state_dict().items()
            if k.startswith("head.") or (self.config.train_encoder and k.startswith("encoder."))
        }
        save_file(state, str(Path(save_directory) / WEIGHTS), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path | None = None,
        *,
        revision: str | None = None,
        **kwargs,
    ) -> DifficultyPredictor:
        """Load a predictor: no argument = the embedded default ``models/difficulty-predictor``;
        a local folder; or a Hub repo id (with ``revision``). Returns the model in eval mode."""
        source = resolve_artifact(pretrained_model_name_or_path, kind=ARTIFACT, revision=revision)
        return super().from_pretrained(str(source), revision=revision, **kwargs)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        config: dict | PredictorConfig | None = None,
        **model_kwargs,
    ) -> DifficultyPredictor:
        if isinstance(config, dict) and config.get("artifact", ARTIFACT) != ARTIFACT:
            raise ValueError(f"{model_id} holds a {config['artifact']!r}, not a {ARTIFACT!r}")
        model = cls(config)
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, WEIGHTS)
        else:
            weights = hf_hub_download(
                model_id,
                WEIGHTS,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        state = load_file(weights, device=map_location)
        missing, unexpected = model.load_state_dict(state, strict=False)
        needed = [k for k in missing if k.startswith("head.")
                  or (model.config.train_encoder and k.startswith("encoder."))]
        if needed or unexpected:
            raise ValueError(
                f"{weights} does not match the config: missing {needed}, unexpected {unexpected}"
            )
        model.to(map_location)
        model.eval()
        return model

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

