"""Find artifacts (item banks, difficulty predictors, question generators): local, Hub or embedded.

``resolve_artifact(name_or_path, kind=...)`` is the one resolver every ``load``/``from_pretrained``
uses. It tries, in order, and raises :class:`ArtifactNotFound` listing every place it tried:

1. ``None``: the embedded default shipped with the package (``embedded_path``);
2. an existing local folder;
3. a Hub repo id (+ ``revision``) through the Hugging Face cache (``snapshot_download``; a
   dataset repo for an item bank, a model repo otherwise). ``HF_HUB_OFFLINE=1`` is honoured:
   only the cache is used;
4. a bare name of an embedded artifact (``"banks/mmlu-pro"``).

Embedded defaults: the repository's ``models/<name>`` folders. A built wheel carries them as
``adaptive_eval/embedded/<name>`` (copied there by the build step in ``setup.py``); an editable
install or a source checkout reads ``models/<name>`` directly.

This module only finds artifacts; it knows nothing of how each kind is loaded. Uploading them
(with the checks that come first) is :mod:`adaptive_eval.hub.publish`.
"""

from __future__ import annotations

import re
from pathlib import Path

from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import (
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

#: artifact kind -> (Hub repo type, name of the embedded default under ``models/``)
KINDS: dict[str, tuple[str, str]] = {
    "item-bank": ("dataset", "banks/mmlu-pro"),
    "difficulty-predictor": ("model", "difficulty-predictor"),
    "question-generator": ("model", "question-generator"),
}

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


class ArtifactNotFound(FileNotFoundError):
    """No place that was tried holds the artifact; ``tried`` lists each place and why it failed."""

    def __init__(self, what: str, tried: list[str]):
        self.tried = tried
        super().__init__(f"{what} not found. Tried:\n" + "\n".join(f"  - {t}" for t in tried))


def repo_type_for(kind: str) -> str:
    """Hub repo type for an artifact kind: "dataset" for an item bank, "model" otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind][0]


def is_repo_id(text: str) -> bool:
    """True when ``text`` has the shape of a Hub repo id (``name`` or ``owner/name``)."""
    return bool(_REPO_ID.match(text))


def _embedded_candidates(name: str) -> list[Path]:
    package = Path(__file__).resolve().parents[1]
    return [package / "embedded" / name,  # installed wheel
            package.parents[1] / "models" / name]  # editable install / source checkout


def embedded_path(name: str) -> Path:
    """Folder of the embedded artifact ``name`` (e.g. ``"banks/mmlu-pro"``).

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
    if isinstance(name_or_path, Path) or _looks_like_path(text) or not is_repo_id(text):
        raise ArtifactNotFound(what, tried + ["Hugging Face Hub: not tried, not a repo id"])

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
