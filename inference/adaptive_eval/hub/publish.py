"""Publish an artifact folder (item bank, difficulty predictor, question generator) to the Hub.

``publish(folder, repo_id)`` first runs every check of ``check_publishable``, then creates the repo
if needed and uploads the folder in one commit. The checks, in order:

1. no file that may hold pickled objects or non-safetensors weights (``UNSAFE_SUFFIXES``;
   ``.npy``/``.npz`` files must load with ``allow_pickle=False``);
2. ``config.json`` names the artifact (``"artifact"``: one of :data:`.resolve.KINDS`);
3. ``README.md`` parses as a model/dataset card with ``license`` and ``library_name`` and, for a
   model, lists as ``base_model`` every Hub id the config names (``BASE_MODEL_KEYS``);
4. the folder loads as that artifact (``ItemBank.load``, ``DifficultyPredictor.from_pretrained``,
   ``QuestionGenerator.from_pretrained``), once.

The Hub validates the card's YAML itself before the commit (``create_commit`` posts it to
``/api/validate-yaml``), so an invalid card uploads nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi, ModelCard

from ..amortized.generator import QuestionGenerator
from ..amortized.predictor import DifficultyPredictor
from ..banks.bank import ItemBank
from ..errors import UserError
from .resolve import KINDS, is_repo_id, repo_type_for

#: file suffixes that may hold pickled Python objects (or non-safetensors weights): never published
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".joblib", ".ckpt", ".dill",
                   ".h5", ".msgpack", ".pb", ".onnx")

#: config.json keys that name a base model (its Hub id must appear as the card's ``base_model``)
BASE_MODEL_KEYS = ("base_model", "encoder")

_SKIP_PARTS = {".git", ".cache", "__pycache__", ".ipynb_checkpoints"}

#: artifact kind -> how a folder of that kind is loaded
LOADERS = {
    "item-bank": ItemBank.load,
    "difficulty-predictor": DifficultyPredictor.from_pretrained,
    "question-generator": QuestionGenerator.from_pretrained,
}


class PublishError(UserError, ValueError):
    """A folder that must not be published as it is; the message names the file and the fix."""


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not _SKIP_PARTS.intersection(p.relative_to(folder).parts))


def _check_no_pickle(folder: Path) -> None:
    """Refuse any file that may hold pickled objects or non-safetensors weights."""
    for path in _files(folder):
        rel = path.relative_to(folder)
        if path.name.lower().endswith(UNSAFE_SUFFIXES):
            raise PublishError(
                f"refusing to publish {folder}: {rel} may hold pickled objects or non-safetensors "
                "weights; save tensors with safetensors (model.safetensors) and delete it"
            )
        if path.suffix.lower() in (".npy", ".npz"):
            try:
                loaded = np.load(path, allow_pickle=False)
                for key in getattr(loaded, "files", []):  # .npz: load every member
                    loaded[key]
                getattr(loaded, "close", lambda: None)()
            except (ValueError, OSError) as err:
                raise PublishError(
                    f"refusing to publish {folder}: {rel} holds object arrays (pickle) or is "
                    f"unreadable ({err}); use safetensors or JSON"
                ) from None


def _read_config(folder: Path) -> tuple[str, dict]:
    """``(kind, config)`` from ``config.json``; PublishError unless it names a known artifact."""
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as err:
        raise PublishError(f"{config_path} is missing or not JSON: {err}") from None
    kind = config.get("artifact") if isinstance(config, dict) else None
    if kind not in KINDS:
        raise PublishError(f"{config_path} must say which artifact it is: \"artifact\": one of "
                           f"{sorted(KINDS)} (got {kind!r})")
    return kind, config


def artifact_kind(folder: str | Path) -> str:
    """The kind ``config.json`` of ``folder`` declares ("item-bank", ...), without loading it."""
    return _read_config(Path(folder))[0]


def _check_card(folder: Path, kind: str, config: dict) -> None:
    """README.md parses as a model/dataset card with the required card data."""
    readme = folder / "README.md"
    if not readme.is_file():
        raise PublishError(f"{folder} has no README.md model card; render one with "
                           "adaptive_eval.hub.cards.render_card (the artifact's save does it)")
    card_class = DatasetCard if repo_type_for(kind) == "dataset" else ModelCard
    try:
        card = card_class.load(readme)
    except Exception as err:  # noqa: BLE001 - yaml/parse errors of every sort
        raise PublishError(f"{readme}: the card's YAML header does not parse: {err}") from None
    data = card.data.to_dict()
    missing = [k for k in ("license", "library_name") if not data.get(k)]
    if missing:
        raise PublishError(f"{readme}: card data lacks {', '.join(missing)}")
    if repo_type_for(kind) == "model":
        for key in BASE_MODEL_KEYS:
            base = config.get(key)
            if isinstance(base, str) and is_repo_id(base) and not Path(base).exists():
                listed = data.get("base_model")
                listed = [listed] if isinstance(listed, str) else list(listed or [])
                if base not in listed:
                    raise PublishError(f"{readme}: config.json names {key}={base!r} but the "
                                       f"card's base_model is {listed or 'missing'}")


def _load_artifact(folder: Path, kind: str) -> object:
    return LOADERS[kind](folder)


def check_publishable(folder: str | Path) -> str:
    """Run every pre-upload check on ``folder`` (module docstring); return its artifact kind or
    raise PublishError naming what is wrong. Loads the artifact once."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder")
    _check_no_pickle(folder)
    kind, config = _read_config(folder)
    _check_card(folder, kind, config)
    try:
        _load_artifact(folder, kind)
    except Exception as err:  # noqa: BLE001 - any load failure is a reason not to publish
        raise PublishError(
            f"{folder} does not load as a {kind}: {type(err).__name__}: {err}"
        ) from None
    return kind


def publish(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision_note: str | None = None,
    token: str | None = None,
) -> str:
    """Check ``folder`` (``check_publishable``) and upload it to ``repo_id`` in one commit.

    The repo is created if needed (a dataset repo for an item bank, a model repo otherwise) with
    ``private``; an existing public repo is refused when ``private`` is asked for. ``revision_note``
    becomes the commit message. ``token`` defaults to the logged-in one. Returns the commit URL.
    """
    folder = Path(folder)
    kind = check_publishable(folder)
    repo_type = repo_type_for(kind)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    if private and not api.repo_info(repo_id, repo_type=repo_type).private:
        raise PublishError(f"{repo_type} repo {repo_id!r} already exists and is public; "
                           "refusing to upload what was meant to be private")
    operations = [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(),
                                     path_or_fileobj=str(p)) for p in _files(folder)]
    info = api.create_commit(
        repo_id, operations, repo_type=repo_type,
        commit_message=revision_note or f"Upload {kind} with adaptive-eval",
    )
    return info.commit_url
