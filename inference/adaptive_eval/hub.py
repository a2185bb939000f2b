"""Find artifacts (item banks, difficulty predictors, question generators); publish them to the Hub.

``resolve_artifact(name_or_path, kind=...)`` is the one resolver every ``load``/``from_pretrained``
uses. It tries, in order, and raises :class:`ArtifactNotFound` listing every place it tried:

1. ``None``: the embedded default shipped with the package (``embedded_path``);
2. an existing local folder;
3. a Hub repo id (+ ``revision``) through the Hugging Face cache (``snapshot_download``; a
   dataset repo for an item bank, a model repo otherwise). ``HF_HUB_OFFLINE=1`` is honoured:
   only the cache is used;
4. a bare name of an embedded artifact (``"mmlu-pro-bank"``).

Embedded defaults: the repository's ``models/<name>`` folders. A built wheel carries them as
``adaptive_eval/embedded/<name>`` (copied there by the build step in ``setup.py``); an editable
install or a source checkout reads ``models/<name>`` directly.

``publish(folder, repo_id)`` checks the folder (safetensors only, no pickle; a ``README.md`` card
with ``license``/``library_name`` and, for models, the ``base_model`` the config names; a
``config.json`` naming the artifact; the artifact loads), then creates the repo if needed and
uploads the folder in one commit. The Hub validates the card's YAML itself before the commit
(``create_commit`` posts it to ``/api/validate-yaml``), so an invalid card uploads nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

#: artifact kind -> (Hub repo type, name of the embedded default under ``models/``)
KINDS: dict[str, tuple[str, str]] = {
    "item-bank": ("dataset", "mmlu-pro-bank"),
    "difficulty-predictor": ("model", "difficulty-predictor"),
    "question-generator": ("model", "question-generator"),
}

#: file suffixes that may hold pickled Python objects (or non-safetensors weights): never published
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".joblib", ".ckpt", ".dill",
                   ".h5", ".msgpack", ".pb", ".onnx")

#: config.json keys that name a base model (its Hub id must appear as the card's ``base_model``)
BASE_MODEL_KEYS = ("base_model", "encoder")

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
_SKIP_PARTS = {".git", ".cache", "__pycache__", ".ipynb_checkpoints"}


class ArtifactNotFound(FileNotFoundError):
    """No place that was tried holds the artifact; ``tried`` lists each place and why it failed."""

    def __init__(self, what: str, tried: list[str]):
        self.tried = tried
        super().__init__(f"{what} not found. Tried:\n" + "\n".join(f"  - {t}" for t in tried))


class PublishError(ValueError):
    """A folder that must not be published as it is; the message names the file and the fix."""


def repo_type_for(kind: str) -> str:
    """Hub repo type for an artifact kind: "dataset" for an item bank, "model" otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind][0]


def _embedded_candidates(name: str) -> list[Path]:
    package = Path(__file__).resolve().parent
    return [package / "embedded" / name,  # installed wheel
            package.parents[1] / "models" / name]  # editable install / source checkout


def embedded_path(name: str) -> Path:
    """Folder of the embedded artifact ``name`` (e.g. ``"mmlu-pro-bank"``).

    Looks in ``adaptive_eval/embedded/<name>`` (installed wheel), then ``models/<name>`` of the
    checkout (editable install); a folder counts when it holds ``config.json``.
    Raises :class:`ArtifactNotFound` naming both places.
    """
    tried = []
    for folder in _embedded_candidates(name):
        if (folder / "config.json").is_file():
            return folder
        tried.append(f"embedded default {folder} (no config.json)")
    raise ArtifactNotFound(f"embedded artifact {name!r}", tried)


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1


def _hub_reason(err: Exception) -> str:
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(err, RevisionNotFoundError):
        return "the repository has no such revision"
    if isinstance(err, RepositoryNotFoundError):
        return "no such repository (or it is private and no valid token was given)"
    if isinstance(err, LocalEntryNotFoundError):
        return "not in the local cache, and the Hub could not be reached or offline mode is on"
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first}"


def resolve_artifact(
    name_or_path: str | Path | None, *, kind: str, revision: str | None = None
) -> Path:
    """Return a local folder holding the artifact (see the module docstring for the order).

    ``kind`` is "item-bank", "difficulty-predictor" or "question-generator"; it picks the Hub
    repo type and the embedded default. ``revision`` (branch, tag or commit) applies to Hub repos
    only. Raises :class:`ArtifactNotFound` listing every place tried.
    """
    repo_type = repo_type_for(kind)  # also rejects an unknown kind
    default_name = KINDS[kind][1]
    if name_or_path is None:
        return embedded_path(default_name)
    text = str(name_or_path)
    what = f"{kind} {text!r}" + (f" (revision {revision!r})" if revision else "")
    tried: list[str] = []
    local = Path(text).expanduser()
    if local.is_dir():
        return local
    tried.append(f"local folder {local.resolve()}: "
                 + ("not a folder" if local.exists() else "does not exist"))
    if isinstance(name_or_path, Path) or _looks_like_path(text) or not _REPO_ID.match(text):
        raise ArtifactNotFound(what, tried + ["Hugging Face Hub: not tried, not a repo id"])

    from huggingface_hub import constants, snapshot_download

    offline = constants.is_offline_mode()
    where = (f"Hugging Face cache {constants.HF_HUB_CACHE} (offline: HF_HUB_OFFLINE=1)" if offline
             else f"Hugging Face Hub {constants.ENDPOINT} and cache {constants.HF_HUB_CACHE}")
    if "/" in text:
        try:
            return Path(snapshot_download(text, repo_type=repo_type, revision=revision))
        except Exception as err:  # noqa: BLE001 - every failure becomes one line of the report
            tried.append(f"{where}: {repo_type} repo {text!r} at revision "
                         f"{revision or 'main'!r}: {_hub_reason(err)}")
    else:
        tried.append(f"{where}: not tried, a Hub repo id has the form 'owner/name'")
    if "/" not in text and revision is None:
        try:
            return embedded_path(text)
        except ArtifactNotFound as err:
            tried.extend(err.tried)
    raise ArtifactNotFound(what, tried)


# ---- publishing -------------------------------------------------------------------------------


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


def _check_card(folder: Path, kind: str, config: dict) -> None:
    """README.md parses as a model/dataset card with the required card data."""
    from huggingface_hub import DatasetCard, ModelCard

    readme = folder / "README.md"
    if not readme.is_file():
        raise PublishError(f"{folder} has no README.md model card; render one with "
                           "adaptive_eval.cards.render_card (the artifact's save does it)")
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
            if isinstance(base, str) and _REPO_ID.match(base) and not Path(base).exists():
                listed = data.get("base_model")
                listed = [listed] if isinstance(listed, str) else list(listed or [])
                if base not in listed:
                    raise PublishError(f"{readme}: config.json names {key}={base!r} but the "
                                       f"card's base_model is {listed or 'missing'}")


def _load_artifact(folder: Path, kind: str) -> object:
    if kind == "item-bank":
        from adaptive_eval.bank import ItemBank

        return ItemBank.load(folder)
    if kind == "difficulty-predictor":
        from adaptive_eval.predictor import DifficultyPredictor

        return DifficultyPredictor.from_pretrained(folder)
    from adaptive_eval.generator import QuestionGenerator

    return QuestionGenerator.from_pretrained(folder)


def check_publishable(folder: str | Path) -> str:
    """Run every pre-upload check on ``folder``; return its artifact kind or raise PublishError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder")
    _check_no_pickle(folder)
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as err:
        raise PublishError(f"{config_path} is missing or not JSON: {err}") from None
    kind = config.get("artifact") if isinstance(config, dict) else None
    if kind not in KINDS:
        raise PublishError(f"{config_path} must say which artifact it is: \"artifact\": one of "
                           f"{sorted(KINDS)} (got {kind!r})")
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
    from huggingface_hub import CommitOperationAdd, HfApi

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
