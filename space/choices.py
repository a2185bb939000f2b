"""What a visitor picks from: the banks, and the examinees of a bank or a suite, by label.

An examinee's label says how it answers: ``replay: MODEL`` (a calibration model's recorded
answers, when the shared data is here), ``simulated: MODEL`` (answers drawn from its calibrated
ability, ``resources.simulated_responses``, when it is not) or ``LOCAL_MODEL`` (the live LM).
"""

from __future__ import annotations

import numpy as np
from adaptive_eval import ItemBank
from adaptive_eval.banks.catalog import CATALOG, local_folder
from resources import DEFAULT_BANK, LOCAL_MODEL_ID, bank, has_responses

MAX_MODELS_LISTED = 100  # a bank calibrated on more models lists this many, spread over ability
DEFAULT_SUITE = ["mmlu-redux", "gsm8k", "math-l5", "cruxeval"]  # ZeroEval: the same 30+ models
LOCAL_MODEL = f"live: {LOCAL_MODEL_ID.rstrip('/').rsplit('/', 1)[-1]} (local LM, slow)"
REPLAY, SIMULATED = "replay: ", "simulated: "
ANY = "(any)"  # no category


def recorded_model(choice: str | None) -> str | None:
    """The model of a ``replay:`` or ``simulated:`` label; None for any other choice."""
    if not choice or not choice.startswith((REPLAY, SIMULATED)):
        return None
    return choice.removeprefix(REPLAY).removeprefix(SIMULATED)


def bank_choices() -> list[tuple[str, str]]:
    """``(label, name)`` for every catalogued bank; a bank with no local copy says Hub only."""
    out = []
    for name, info in CATALOG.items():
        where = "" if local_folder(name) else ", Hub only"
        out.append((f"{name}: {info.benchmark} ({info.answer_type.replace('_', ' ')}{where})",
                    name))
    return out


def spread(ranked: list[str]) -> list[str]:
    """At most ``MAX_MODELS_LISTED`` of ``ranked``, evenly spread over the ranking."""
    if len(ranked) <= MAX_MODELS_LISTED:
        return list(ranked)
    keep = np.unique(np.linspace(0, len(ranked) - 1, MAX_MODELS_LISTED).round().astype(int))
    return [ranked[k] for k in keep]


def recorded_models(the_bank: ItemBank) -> list[str]:
    """The bank's calibration models (``bank.abilities``), strongest first, ``spread``."""
    return spread(sorted(the_bank.abilities, key=lambda m: -the_bank.abilities[m]["theta"]))


def examinee_choices(name: str = DEFAULT_BANK) -> list[str]:
    """The bank's recorded models (replayed when their answers are here, else simulated from
    their abilities), then the live LM when the bank's answers can be scored."""
    the_bank = bank(name)
    prefix = REPLAY if has_responses(name) else SIMULATED
    models = [prefix + m for m in recorded_models(the_bank)]
    return models + ([LOCAL_MODEL] if the_bank.metadata.get("answer_type") else [])


def suite_models(names) -> list[str]:
    """The models calibrated on every bank of ``names``, strongest (mean ability) first,
    ``spread``; replayed when every bank's answers are here, else simulated."""
    banks = [bank(n) for n in names or []]
    if not banks:
        return []
    shared = set.intersection(*(set(b.abilities) for b in banks))
    ranked = sorted(shared, key=lambda m: -np.mean([b.abilities[m]["theta"] for b in banks]))
    prefix = REPLAY if all(has_responses(n) for n in names) else SIMULATED
    return [prefix + m for m in spread(ranked)]
