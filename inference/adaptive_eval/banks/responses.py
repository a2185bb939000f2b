"""Response data: which model answered which question right, or how well (a graded score).

Stored sparse, one entry per observed cell, so that missing cells stay missing (not wrong)
and a 1,000 x 1,000,000 matrix with 10% observed fits in memory (~1 GB):
``models[model_index[k]]`` answered ``question_ids[item_index[k]]`` with ``correct[k]``: 0/1
(``uint8``) for binary data, a score in [0, 1] (``float64``, ``graded`` is true) for graded data.

Formats read by ``ResponseData.from_file``:

- long (CSV, CSV.gz, parquet, JSONL): columns ``model, question_id`` and ``correct`` (0/1) or
  ``score`` (in [0, 1]: a share of unit tests passed, a judge's preference, a 0 / 0.5 / 1
  rubric); with both, ``score`` is read and ``correct`` (a 0/1 copy) is not; other columns are
  ignored;
- wide (CSV, CSV.gz, parquet): a ``model`` column and one column per question id,
  empty cells missing;
- lm-evaluation-harness ``--log_samples`` output: ``samples_<task>_*.jsonl``
  (see ``from_lm_eval``).

A ``correct`` that is not 0/1 is refused unless ``threshold`` is given: then
``correct = value >= threshold`` (the same turns a ``score`` column into 0/1). A ``score`` whose
values are all 0 or 1 is binary data, stored exactly as a ``correct`` column would be.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .tables import TableError, read_table

LONG_COLUMNS = ("model", "question_id", "correct")
ANSWER_COLUMNS = ("score", "correct")  # the first present is read


class ResponseDataError(ValueError):
    """Bad response data; the message names the file and, where it can, the row."""


@dataclass(frozen=True)
class ResponseData:
    models: list[str]
    question_ids: list[str]
    model_index: np.ndarray  # int32, one per observed cell
    item_index: np.ndarray  # int32
    correct: np.ndarray  # uint8, 0 or 1; float64 in [0, 1] for graded scores

    @property
    def graded(self) -> bool:
        """Whether the cells are graded scores in [0, 1] (float), not 0/1."""
        return self.correct.dtype.kind == "f"

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_items(self) -> int:
        return len(self.question_ids)

    @property
    def n_observed(self) -> int:
        return len(self.correct)

    def __repr__(self) -> str:
        return (
            f"ResponseData({self.n_models} models x {self.n_items} questions, "
            f"{self.n_observed} observed cells)"
        )

    # construction ---------------------------------------------------------------------------

    @classmethod
    def from_long(
        cls, frame: pd.DataFrame, *, source: str = "<frame>", threshold: float | None = None
    ) -> ResponseData:
        """Build from a long table with columns ``model, question_id`` and ``score`` or
        ``correct`` (module docstring)."""
        if len(frame) == 0:
            raise ResponseDataError(f"{source}: no responses (the file is empty)")
        missing = [c for c in LONG_COLUMNS[:2] if c not in frame.columns]
        present = [c for c in ANSWER_COLUMNS if c in frame.columns]
        if missing or not present:
            needed = missing + ([] if present else ["correct (0/1) or score (in [0, 1])"])
            raise ResponseDataError(
                f"{source}: missing column(s) {', '.join(needed)}; found "
                f"{', '.join(map(str, frame.columns))}"
            )
        answer = present[0]
        frame = frame[~frame[answer].isin(["", None])].dropna(subset=[answer])
        for column in ("model", "question_id"):
            empty = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
            if empty.any():
                raise ResponseDataError(
                    f"{source}: row {_row(frame, empty)} has an empty {column!r}"
                )
        models = frame["model"].astype(str).to_numpy()
        qids = frame["question_id"].astype(str).to_numpy()
        correct = (_to_scores(frame[answer], source, threshold) if answer == "score"
                   else _to_binary(frame[answer], source, threshold))
        dup = pd.Series(list(zip(models, qids))).duplicated().to_numpy()
        if dup.any():
            k = int(np.argmax(dup))
            raise ResponseDataError(
                f"{source}: row {_row(frame, dup)} repeats model {models[k]!r} "
                f"question {qids[k]!r}; each (model, question) pair may appear once"
            )
        model_codes, model_names = pd.factorize(models, sort=False)
        item_codes, item_names = pd.factorize(qids, sort=False)
        return cls(
            models=[str(m) for m in model_names],
            question_ids=[str(q) for q in item_names],
            model_index=model_codes.astype(np.int32),
            item_index=item_codes.astype(np.int32),
            correct=correct,
        )

    @classmethod
    def from_wide(
        cls, frame: pd.DataFrame, *, source: str = "<frame>", threshold: float | None = None
    ) -> ResponseData:
        """Build from a wide table: a ``model`` column, one column per question id."""
        if "model" not in frame.columns:
            raise ResponseDataError(f"{source}: a wide matrix needs a 'model' column")
        long = frame.melt(id_vars="model", var_name="question_id", value_name="correct")
        return cls.from_long(long.dropna(subset=["correct"]), source=source, threshold=threshold)

    @classmethod
    def from_file(cls, path: str | Path, *, threshold: float | None = None) -> ResponseData:
        """Read long or wide CSV / CSV.gz / parquet / JSONL, or lm-eval samples JSONL."""
        path = Path(path)
        source = str(path)
        if not path.exists():
            raise ResponseDataError(f"{source}: no such file")
        if path.is_dir() or path.name.startswith("samples_"):
            return cls.from_lm_eval(path, threshold=threshold)
        try:
            frame = read_table(path)
        except TableError as err:
            raise ResponseDataError(str(err)) from None
        if set(frame.columns) >= {"question_id", "correct"} or "question_id" in frame.columns:
            return cls.from_long(frame, source=source, threshold=threshold)
        return cls.from_wide(frame, source=source, threshold=threshold)

    @classmethod
    def from_lm_eval(
        cls,
        paths: str | Path | Iterable[str | Path],
        *,
        model: str | None = None,
        metric: str = "acc",
        threshold: float | None = None,
    ) -> ResponseData:
        """Read lm-evaluation-harness ``--log_samples`` output.

        ``paths``: a ``samples_<task>_<date>.jsonl`` file, several, or a folder searched
        recursively for them. Each line is one doc: ``question_id`` = the line's
        ``question_id`` when it has one (adaptive-eval's own samples files, with the bank's ids),
        else ``"<task>/<doc_id>"``; ``correct = doc[metric]``. The model is ``model`` if given,
        else the name of the folder holding the file (the harness writes
        ``<output_path>/<model>/samples_*.jsonl``).
        """
        files = _sample_files(paths)
        rows = []
        for file in files:
            task = re.sub(r"^samples_(.*)_\d{4}-\d\d-\d\dT[\d\-.:]+$", r"\1", file.stem)
            task = task.removeprefix("samples_")
            name = model or file.parent.name
            with open(file) as handle:
                for line_no, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        doc = json.loads(line)
                    except json.JSONDecodeError:
                        raise ResponseDataError(f"{file}: line {line_no} is not JSON") from None
                    if metric not in doc or "doc_id" not in doc:
                        raise ResponseDataError(
                            f"{file}: line {line_no} lacks 'doc_id' or metric {metric!r} "
                            f"(keys: {sorted(doc)[:8]})"
                        )
                    question_id = doc.get("question_id", f"{task}/{doc['doc_id']}")
                    rows.append((name, str(question_id), doc[metric]))
        frame = pd.DataFrame(rows, columns=list(LONG_COLUMNS))
        return cls.from_long(frame, source=", ".join(map(str, files)), threshold=threshold)

    # views ----------------------------------------------------------------------------------

    def to_long(self) -> pd.DataFrame:
        """The long table ``from_long`` reads: ``model, question_id, correct`` (``score`` for
        graded data)."""
        return pd.DataFrame(
            {
                "model": np.asarray(self.models, dtype=object)[self.model_index],
                "question_id": np.asarray(self.question_ids, dtype=object)[self.item_index],
                "score" if self.graded else "correct": self.correct,
            }
        )

    def matrix(self) -> np.ndarray:
        """Dense models x questions float matrix, NaN where missing (small data only)."""
        out = np.full((self.n_models, self.n_items), np.nan)
        out[self.model_index, self.item_index] = self.correct
        return out

    def select(self, mask: np.ndarray) -> ResponseData:
        """The observed cells where ``mask`` is true (same model and question lists)."""
        return ResponseData(
            self.models,
            self.question_ids,
            self.model_index[mask],
            self.item_index[mask],
            self.correct[mask],
        )

    def drop_models(self, models: Sequence[str]) -> ResponseData:
        """Without the given models' rows (the model list is re-indexed)."""
        unknown = set(models) - set(self.models)
        if unknown:
            raise ResponseDataError(f"unknown models {sorted(unknown)}")
        keep = [m for m in self.models if m not in set(models)]
        remap = np.full(self.n_models, -1, dtype=np.int32)
        remap[[self.models.index(m) for m in keep]] = np.arange(len(keep), dtype=np.int32)
        new_index = remap[self.model_index]
        mask = new_index >= 0
        return ResponseData(
            keep, self.question_ids, new_index[mask], self.item_index[mask], self.correct[mask]
        )

    def responses_of(self, model: str) -> dict[str, int | float]:
        """``{question_id: correct}`` for one model (a float score for graded data)."""
        if model not in self.models:
            known = ", ".join(self.models[:5]) + (", ..." if self.n_models > 5 else "")
            raise ResponseDataError(f"unknown model {model!r}; known: {known}")
        rows = self.model_index == self.models.index(model)
        cast = float if self.graded else int
        return {
            self.question_ids[i]: cast(c)
            for i, c in zip(self.item_index[rows], self.correct[rows])
        }


def _to_binary(values: pd.Series, source: str, threshold: float | None) -> np.ndarray:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna().to_numpy()
    if bad.any():
        raise ResponseDataError(
            f"{source}: row {_row(values, bad)} has correct={values.to_numpy()[bad][0]!r}; "
            "expected 0 or 1"
        )
    scores = numeric.to_numpy(dtype=float)
    binary = np.isin(scores, (0.0, 1.0))
    if threshold is None and not binary.all():
        bad = ~binary
        raise ResponseDataError(
            f"{source}: row {_row(values, bad)} has correct={float(scores[bad][0]):g}; "
            "expected 0 or 1 "
            "(for graded scores in [0, 1] name the column 'score'; to count them as right or "
            "wrong pass threshold=..., e.g. --threshold 0.5)"
        )
    outside = (scores < 0) | (scores > 1)
    if outside.any():
        raise ResponseDataError(
            f"{source}: row {_row(values, outside)} has score {float(scores[outside][0]):g} "
            "outside [0, 1]"
        )
    if threshold is not None:
        scores = scores >= threshold
    return scores.astype(np.uint8)


def _to_scores(values: pd.Series, source: str, threshold: float | None) -> np.ndarray:
    """A ``score`` column: float64 in [0, 1]; ``uint8`` when every value is 0 or 1 (binary
    data) or ``threshold`` is given (``score >= threshold``)."""
    numeric = pd.to_numeric(values, errors="coerce")
    scores = numeric.to_numpy(dtype=float)
    bad = ~np.isfinite(scores) | (scores < 0) | (scores > 1)
    if bad.any():
        raise ResponseDataError(
            f"{source}: row {_row(values, bad)} has score={_shown(values.to_numpy()[bad][0])}; "
            "expected a number in [0, 1]"
        )
    if threshold is not None:
        return (scores >= threshold).astype(np.uint8)
    if np.isin(scores, (0.0, 1.0)).all():
        return scores.astype(np.uint8)
    return scores


def _shown(value) -> str:
    """A cell's value in an error message: a number as ``%g``, anything else as its repr."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return f"{float(value):g}"
    return repr(value)


def _row(frame: pd.DataFrame | pd.Series, mask: np.ndarray) -> int:
    """1-based data row number (header excluded) of the first true entry of ``mask``."""
    label = frame.index[int(np.flatnonzero(np.asarray(mask))[0])]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else label


def _sample_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        files += sorted(item.rglob("samples_*.jsonl")) if item.is_dir() else [item]
    if not files:
        raise ResponseDataError(f"{items}: no lm-eval samples_*.jsonl files found")
    return files
