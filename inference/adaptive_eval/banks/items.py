"""The question text of the named banks' items, as the difficulty predictor reads it.

Each named bank (``banks.CATALOG``) is built from a folder of the shared data
(``<data_dir>/<source>/items.csv.gz`` and ``responses.csv.gz``); its items are the rows whose
``question_id`` starts with the bank's ``prefix``. The predictor's text of an item:

- MMLU-Pro and the ZeroEval benchmarks: ``question_text(question, options)`` (the question, then
  one line per option; no option lines for free-form items);
- metabench: the test question cut from the few-shot prompt (``question``), stripped.

Items without question text (ZebraLogic puzzles the data has no text for) are left out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .catalog import bank_info
from .questions import question_text
from .responses import ResponseData
from .tables import read_table


def bank_items(name: str, data_dir: str | Path) -> pd.DataFrame:
    """Items of bank ``name`` with text: columns ``question_id``, ``benchmark`` (= ``name``),
    ``text``, ``category`` and ``source`` (None where the data has none; ``source`` is MMLU-Pro's
    ``src``), in the order of the items file."""
    info = bank_info(name)
    items = read_table(Path(data_dir) / info.source / "items.csv.gz")
    if info.prefix:
        items = items[items["question_id"].str.startswith(info.prefix)]
    items = items[items["question"].str.strip() != ""]
    if info.source == "metabench":
        texts = [q.strip() for q in items["question"]]
    else:
        texts = [question_text(q, o or None) for q, o in zip(items["question"], items["options"],
                                                             strict=True)]
    def column(name: str) -> list[str | None]:
        return [v or None for v in items[name]] if name in items else [None] * len(items)

    return pd.DataFrame({
        "question_id": items["question_id"].to_numpy(),
        "benchmark": name,
        "text": texts,
        "category": column("category"),
        "source": column("src"),
    })


def bank_responses(name: str, data_dir: str | Path, cache: dict[str, pd.DataFrame]) -> ResponseData:
    """The recorded responses to bank ``name``'s items (``cache``: the source folders' response
    tables, read once per folder)."""
    info = bank_info(name)
    if info.source not in cache:
        cache[info.source] = read_table(Path(data_dir) / info.source / "responses.csv.gz")
    frame = cache[info.source]
    if info.prefix:
        frame = frame[frame["question_id"].str.startswith(info.prefix)]
    return ResponseData.from_long(frame[["model", "question_id", "correct"]], source=name)
