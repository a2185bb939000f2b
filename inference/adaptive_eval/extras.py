"""The optional parts of the install: which extra brings what, and the error when one is missing.

The core install (``pip install adaptive-eval``) calibrates, loads banks, runs adaptive tests with
replayed answers or an OpenAI-compatible server, and has the whole command line; it has no torch.
The rest comes with extras named after what they enable (``pyproject.toml``)::

    hf         a local transformers model as examinee (torch, transformers, gguf)
    predictor  the difficulty predictor (torch, transformers, the MiniLM encoder)
    generator  the question generator (torch, transformers, peft, gguf)
    plots      trajectory and suite plots (matplotlib)
    lm-eval    lm-evaluation-harness backends and tasks
    space      the Gradio Space
    train      the training scripts (accelerate, TRL, datasets, scikit-learn)
    all        every one of them

``require(extra, what)`` is called where a command first needs an extra; it raises
``MissingExtra`` naming the ``pip install`` that brings it.
"""

from __future__ import annotations

import importlib.util

#: extra -> the importable modules it brings (checked without importing them)
EXTRAS: dict[str, tuple[str, ...]] = {
    "hf": ("torch", "transformers", "gguf"),
    "predictor": ("torch", "transformers"),
    "generator": ("torch", "transformers", "peft", "gguf"),
    "plots": ("matplotlib",),
    "lm-eval": ("lm_eval",),
    "space": ("gradio",),
    "train": ("accelerate", "trl", "datasets", "sklearn"),
}


class MissingExtra(ImportError):
    """What the user asked for needs an optional part of the install that is not there."""


def require(extra: str, what: str) -> None:
    """Raise ``MissingExtra`` when a module of ``extra`` is not installed; ``what`` names the
    feature (``"a local transformers model (hf:)"``)."""
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"{what} needs the '{extra}' extra ({', '.join(missing)} not "
                           f"installed): pip install 'adaptive-eval[{extra}]'")
