"""The named item banks: which benchmarks have a calibrated bank, and where each one lives.

A name (``mmlu-pro``, ``gsm8k``, ...) is what a user types (``--bank gsm8k``,
``ItemBank.load("gsm8k")``). Each bank is a Hub dataset repo (``repo_id``) and, when this
package or checkout carries it, a local folder ``models/banks/<name>`` (``adaptive_eval/
embedded/banks/<name>`` in a wheel). Banks derived from data whose licence passes on to them and
does not go with the wheel's Apache-2.0 (``NOT_IN_WHEEL``: non-commercial metabench, CC BY-NC-SA
4.0, and AlpacaEval, CC BY-NC 4.0; share-alike LiveCodeBench, CC BY-SA 4.0) are in the checkout but
not in the wheel: ``setup.py`` leaves them out, and they load from the Hub.

``score`` is ``"binary"`` (answers right or wrong) or ``"graded"`` (scores in [0, 1]:
LiveCodeBench's pass@1, AlpacaEval's judge preference); graded banks are replay banks
(``answers.GRADED``).

``source`` and ``prefix`` say which shared data a bank is built from (``training/calibrate.py``):
the responses in ``<data>/<source>/`` whose question ids start with ``prefix`` (all of them when
``prefix`` is None).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..hub.resolve import ArtifactNotFound, embedded_path
from .sources import catalog_record, read_record, source_of

HUB_ORG = "adaptive-eval"
NON_COMMERCIAL = "cc-by-nc-sa-4.0"
#: Licences of banks kept out of the wheel (the same list as ``setup.py``'s).
NOT_IN_WHEEL = (NON_COMMERCIAL, "cc-by-nc-4.0", "cc-by-sa-4.0")


@dataclass(frozen=True)
class BankInfo:
    name: str
    benchmark: str  # human-readable benchmark name
    answer_type: str  # answers.ANSWER_TYPES
    license: str  # SPDX-style id for the card
    source: str  # folder of the shared data it is calibrated from
    prefix: str | None  # question ids of this benchmark in that folder start with it
    chance: float | None = None  # chance accuracy when the data has no options to count
    score: str = "binary"  # binary | graded (module docstring)

    @property
    def repo_id(self) -> str:
        return f"{HUB_ORG}/{self.name}-bank"

    @property
    def embedded(self) -> str:
        return f"banks/{self.name}"


CATALOG: dict[str, BankInfo] = {
    info.name: info
    for info in [
        BankInfo("mmlu-pro", "MMLU-Pro", "multiple_choice", "apache-2.0", "mmlu_pro", None),
        BankInfo("mmlu-redux", "MMLU-Redux", "multiple_choice", "cc-by-4.0", "zeroeval",
                 "mmlu-redux-"),
        BankInfo("gsm8k", "GSM8K", "numeric", "mit", "zeroeval", "gsm8k-main-"),
        BankInfo("math-l5", "MATH (level 5)", "math", "mit", "zeroeval", "math-l5-"),
        BankInfo("cruxeval", "CRUXEval", "python_literal", "mit", "zeroeval", "crux-test-"),
        BankInfo("zebralogic", "ZebraLogic", "exact", "apache-2.0", "zeroeval", "lgp-test-"),
        *(BankInfo(f"metabench-{b}", f"{label} (metabench subset)", answer_type, NON_COMMERCIAL,
                   "metabench", f"{b}-", chance)
          for b, label, answer_type, chance in [
              ("arc", "ARC", "multiple_choice", 0.25),
              ("gsm8k", "GSM8K", "numeric", 0.0),
              ("mmlu", "MMLU", "multiple_choice", 0.25),
              ("truthfulqa", "TruthfulQA", "multiple_choice", None),  # mc2: a share, not a pick
              ("winogrande", "Winogrande", "multiple_choice", 0.5)]),
        BankInfo("livecodebench", "LiveCodeBench (code generation, pass@1)", "graded",
                 "cc-by-sa-4.0", "graded/livecodebench", None, 0.0, "graded"),
        BankInfo("alpacaeval", "AlpacaEval 2.0 (judge preference)", "graded", "cc-by-nc-4.0",
                 "graded/alpacaeval", None, 0.0, "graded"),
    ]
}


class UnknownBankError(KeyError):
    """A bank name that is not in the catalog; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0])


def bank_info(name: str) -> BankInfo:
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownBankError(
            f"unknown bank {name!r}; known banks: {', '.join(CATALOG)} (or a folder, or a Hub "
            "dataset id owner/name)"
        ) from None


def local_folder(name: str) -> Path | None:
    """The local copy of bank ``name`` (checkout or wheel), or None when there is none."""
    try:
        return embedded_path(bank_info(name).embedded)
    except ArtifactNotFound:
        return None


def list_banks() -> list[dict]:
    """One row per named bank: the catalog entry, its size from the local copy (None without
    one), ``path`` (None without a local copy), ``repo_id``, ``questions`` (where its questions
    are: ``{"dataset", "config", "split", "revision"}``, None without a public source) and
    ``live`` (whether a live examinee can be scored on it: a public source and gold answers),
    from the bank's ``questions.json`` (``banks.sources``)."""
    rows = []
    for name, info in CATALOG.items():
        folder = local_folder(name)
        config = json.loads((folder / "config.json").read_text()) if folder else {}
        metadata = config.get("metadata", {})
        record = (read_record(folder) if folder else None) or catalog_record(name)
        source = source_of(record)
        rows.append(asdict(info) | {
            "n_items": config.get("n_items"),
            "n_models": metadata.get("n_models"),
            "irt_model": config.get("model"),
            "path": str(folder) if folder else None,
            "repo_id": info.repo_id,
            "questions": source.summary() if source else None,
            "live": bool(record.get("live")),
        })
    return rows
