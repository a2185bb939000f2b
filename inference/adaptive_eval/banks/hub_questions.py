"""``bank_questions``: a bank's questions from the Hub dataset its record names.

The record (``sources.RECORD_FILE`` in the bank's folder, see ``banks.sources``) says which
dataset, config, split and revision hold the questions and how rows become ``Question``\\ s.
The data files are fetched with ``huggingface_hub`` (``hf_hub_download`` of the dataset card,
``snapshot_download`` of the files; the client's progress bar shows, and the files land in the
Hugging Face cache, so the second use reads the cache). With ``HF_HUB_OFFLINE=1`` only the
cache is read. Which files: those that the card's ``configs`` (README.md front matter, the way
``datasets`` reads it) lists for the config and split, else the Hub's conventional
``<config>/<split>-*`` (``data/<split>-*`` for the ``default`` config). Parquet, JSON Lines and
JSON are read with pandas: neither ``datasets`` nor torch is needed.

The questions are then checked against the record's fingerprint
(``sources.check_fingerprint``: a ``QuestionSourceWarning`` naming the questions whose text or
key differ from those the bank was calibrated on).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
from huggingface_hub import constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    HTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
)
from huggingface_hub.repocard import metadata_load

from .answers import MULTIPLE_CHOICE
from .catalog import CATALOG, local_folder
from .questions import Question
from .sources import (
    RECORD_FILE,
    QuestionSource,
    QuestionSourceError,
    ReplayBankError,
    catalog_record,
    check_fingerprint,
    questions_from_frame,
    read_record,
    source_of,
)


def bank_questions(bank: str | Path, ids: Iterable[str] | None = None) -> dict[str, Question]:
    """The questions of ``bank`` (a catalog name or a bank folder) from its public source.

    ``ids`` keeps only those question ids (default: every row the source has). Raises
    ``ReplayBankError`` for a replay bank (no public source or gold answers), and
    ``QuestionSourceError`` when the bank records no source, or the dataset is neither in the
    Hugging Face cache nor downloadable (the message names the dataset and both ways out: an
    items file or a download), or none of its rows is a question of the bank. Warns
    (``QuestionSourceWarning``) naming the questions that differ from the fingerprint.
    """
    name, record = bank_record(bank)
    if record is None:
        raise QuestionSourceError(
            f"bank {name!r} records no source of its questions (no {RECORD_FILE}); pass an "
            "items file (--items FILE) with question_id, question, options / answer")
    source = source_of(record)
    if source is None or not source.has_gold:
        why = record.get("reason") or ("no public source of its questions" if source is None
                                       else "no public gold answers")
        raise ReplayBankError(
            f"bank {name!r} is a replay bank ({why}): use a replay: examinee, or pass an items "
            "file (--items FILE) with its question text and gold answers")
    frame = read_source(source)
    questions = questions_from_frame(frame, source, record.get("answer_type") or MULTIPLE_CHOICE)
    if ids is not None:
        wanted = {str(i) for i in ids}
        questions = {k: q for k, q in questions.items() if k in wanted}
    if not questions:
        raise QuestionSourceError(
            f"{source.where()}: none of its {len(frame)} rows is a question of bank {name!r} "
            f"(id rule: {source.id_rule})")
    check_fingerprint(name, questions, record.get("fingerprint") or {}, source.where())
    return questions


def bank_record(bank: str | Path) -> tuple[str, dict | None]:
    """``(name, record)`` of a catalog bank or a bank folder; a catalog bank without a local
    copy is known by its ``sources.SOURCES`` entry, a folder without a record by None."""
    text = str(bank)
    folder = Path(text)
    if not folder.is_dir():
        if text not in CATALOG:
            raise QuestionSourceError(
                f"bank {text!r} is neither a folder nor a bank of the catalog, so where its "
                "questions are is not known: pass an items file (--items FILE) with its "
                "question text")
        folder = local_folder(text)
        if folder is None:
            return text, catalog_record(text, CATALOG[text].answer_type)
    record = read_record(folder)
    if text in CATALOG:
        return text, record
    return ((record or {}).get("bank") or text), record


def read_source(source: QuestionSource) -> pd.DataFrame:
    """The rows of the source's config and split, from the Hugging Face cache or the Hub."""
    frames = [_read_data_file(path) for path in data_files(source)]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def data_files(source: QuestionSource) -> list[Path]:
    """Local paths of the source's data files (its config and split), fetched into the HF cache
    when not there; ``QuestionSourceError`` (``unavailable``) when they can be had neither way."""
    common = dict(repo_type="dataset", revision=source.revision)
    try:
        try:
            card = hf_hub_download(source.dataset, "README.md", **common)
            patterns = card_patterns(metadata_load(card) or {}, source)
        except EntryNotFoundError:  # no dataset card: the conventional layout
            patterns = None
        patterns = patterns or conventional_patterns(source)
        folder = Path(snapshot_download(source.dataset, allow_patterns=patterns, **common))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError, HTTPError,
            OSError) as err:
        raise QuestionSourceError(unavailable(source, err)) from None
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "README.md" and any(
        fnmatch.fnmatch(p.relative_to(folder).as_posix(), pattern) for pattern in patterns))
    if not files and constants.is_offline_mode():  # a cached card without the data files
        raise QuestionSourceError(unavailable(source, FileNotFoundError(patterns)))
    if not files:
        raise QuestionSourceError(f"{source.where()}: no data files match {patterns}")
    return files


def unavailable(source: QuestionSource, err: Exception) -> str:
    """One line: which dataset was needed, why it is not here, and both ways out."""
    offline = constants.is_offline_mode()
    if offline:
        how = ("offline (HF_HUB_OFFLINE=1) and not in the Hugging Face cache "
               f"{constants.HF_HUB_CACHE}")
        online = "with internet access and HF_HUB_OFFLINE unset"
    else:
        reason = (str(err).strip().splitlines() or [""])[0][:160]
        how = (f"neither downloadable from {constants.ENDPOINT} ({type(err).__name__}: {reason}) "
               f"nor in the Hugging Face cache {constants.HF_HUB_CACHE}")
        online = "with internet access"
    return (f"no question text: the questions are in {source.where()}, {how}; either pass an "
            "items file (--items FILE with question_id, question, options / answer), or "
            f"download the dataset {online} (run again, or `{source.download_command()}`)")


def card_patterns(card: Mapping, source: QuestionSource) -> list[str] | None:
    """The data-file patterns that a dataset card's ``configs`` give the source's config and
    split (None when it gives none)."""
    for config in card.get("configs") or []:
        if config.get("config_name", "default") != source.config:
            continue
        files = config.get("data_files")
        if isinstance(files, (str, dict)):
            files = [files]
        for entry in files or []:
            if isinstance(entry, str):
                entry = {"split": "train", "path": entry}
            if entry.get("split", "train") == source.split:
                paths = entry.get("path")
                return [paths] if isinstance(paths, str) else list(paths or []) or None
    return None


def conventional_patterns(source: QuestionSource) -> list[str]:
    folder = "data" if source.config == "default" else source.config
    return [f"{folder}/{source.split}-*", f"{folder}/{source.split}/*"]


def _read_data_file(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith((".jsonl", ".jsonl.gz")):
            return pd.read_json(path, lines=True, dtype=False)
        if name.endswith(".json"):
            return pd.read_json(path, dtype=False)
    except (OSError, ValueError) as err:
        raise QuestionSourceError(f"{path}: not readable ({err})") from None
    raise QuestionSourceError(f"{path}: not a data file this reads (parquet, jsonl, json)")
