"""The question text of the named banks' items, as the difficulty predictor reads it.

Each named bank (``banks.CATALOG``) is built from a folder of the shared data
(``<data_dir>/<source>/items.csv.gz`` and ``responses.csv.gz``); its items are the rows whose
``question_id`` starts with the bank's ``prefix``. The predictor's text of an item:

- MMLU-Pro and the ZeroEval benchmarks: ``question_text(question, options)`` (the question, then
  one line per option; no option lines for free-form items);
- metabench: the test question cut from the few-shot prompt (``question``), stripped.

Items without question text (ZebraLogic puzzles the data has no text for) are left out.

``items_file_questions``: a bank's ``Question``\\ s from the user's items files (``--items``),
each file's rows of the bank's benchmark only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from .bank import ItemBank
from .catalog import CATALOG, bank_info
from .questions import Question, load_questions, question_text
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


def items_file_questions(name: str, bank: ItemBank,
                         paths: list[str] | None) -> dict[str, Question] | None:
    """Question text for ``bank`` (named ``name``) from the items files ``paths``: each file read
    with the bank's answer type and, when it has a ``benchmark`` column, only that benchmark's
    rows (the value equal to the bank's name or benchmark, else the one whose ids start with the
    catalog prefix or match the bank's ids). Only the bank's ids are returned; the caller says
    how many have no text (``missing_text_note``). None without ``paths``: the
    examinee then reads the bank's questions from its Hub dataset
    (``hub_questions.bank_questions``). ``InputError`` when the files have none of the ids."""
    if not paths:
        return None
    answer_type = bank.metadata.get("answer_type")
    ids = set(bank.ids)
    info = CATALOG.get(bank.metadata.get("name", name)) or CATALOG.get(name)
    found: dict[str, Question] = {}
    for path in paths:
        frame = read_table(path)
        benchmark = None
        if "benchmark" in frame.columns:
            values = frame["benchmark"].astype(str)
            wanted = [str(v) for v in (name, bank.metadata.get("name"),
                                       bank.metadata.get("benchmark")) if v]
            matches = [v for v in wanted if (values == v).any()]
            if matches:
                benchmark = matches[0]
            else:
                qids = frame["question_id"].astype(str)
                hit = qids.isin(ids)
                if info is not None and info.prefix:
                    hit |= qids.str.startswith(info.prefix)
                if not hit.any():
                    continue
                benchmark = values[hit].value_counts().index[0]
        elif not frame["question_id"].astype(str).isin(ids).any():
            continue
        questions = load_questions(path, answer_type=answer_type, benchmark=benchmark)
        found.update({k: q for k, q in questions.items() if k in ids})
    if not found:
        raise InputError(f"the items file(s) {paths} have none of the bank's question ids "
                         f"(bank {name!r}; its ids look like {bank.ids[:3]})")
    return found


def missing_text_note(name: str, bank: ItemBank, found: dict | None) -> str | None:
    """The note saying how many of bank ``name``'s questions the items files gave no text
    (None when none is missing, or without items files)."""
    missing = len(set(bank.ids)) - len(found) if found is not None else 0
    if not missing:
        return None
    return (f"note: {missing} {name} questions have no text in the items file(s); the test "
            f"uses the other {len(found)}")
