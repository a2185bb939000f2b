"""One reader for the tables users hand us: CSV, CSV.gz, JSONL, JSONL.gz, parquet.

Response files, items files and question files all go through ``read_table``, so every command
accepts the same formats and fails with the same kind of message.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMATS = ".csv, .csv.gz, .jsonl(.gz) or .parquet"
ID_COLUMNS = {"model": str, "question_id": str}


class TableError(ValueError):
    """A table that is missing, empty, unreadable or of an unknown format; names the file."""


def read_table(path: str | Path) -> pd.DataFrame:
    """The table at ``path``, with ``model`` and ``question_id`` read as strings and empty CSV
    cells as empty strings (not NaN: an empty ``options`` is a free-form item, not missing)."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith((".csv", ".csv.gz")):
            return pd.read_csv(path, dtype=ID_COLUMNS, keep_default_na=False)
        if name.endswith((".jsonl", ".jsonl.gz")):
            return pd.read_json(path, lines=True, dtype=ID_COLUMNS)
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise TableError(f"{path}: the file is empty") from None
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise TableError(f"{path}: cannot read ({type(err).__name__}: {err})") from None
    raise TableError(f"{path}: unknown format; use {FORMATS}")
