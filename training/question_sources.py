"""Write each named bank's question-source record, ``models/banks/<name>/questions.json``.

    python training/question_sources.py --data_dir ../shared/data [--bank gsm8k]

The record (``adaptive_eval.banks.sources``) holds the bank's entry of ``SOURCES`` (where its
questions live on the Hub and how rows map to the bank's ids) and the fingerprint of the
questions its calibration labels were made on, read from the shared items files:

- mmlu-pro: ``mmlu_pro/items.csv.gz`` (question, options, answer_index);
- mmlu-redux, gsm8k, math-l5, cruxeval: ``zeroeval/items.csv.gz``, rows of that benchmark; the
  MMLU-Redux key is the annotators' corrected answer where the item is marked
  ``wrong_groundtruth`` (ZeroEval's copy, whose verdicts labelled the bank, is keyed so);
- zebralogic: no public gold answers, so no fingerprint (a replay bank with a source);
- metabench-*: no public source (``source`` null).

A bank folder that does not exist is skipped; only ``questions.json`` is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from adaptive_eval.banks.answers import LETTERS, MULTIPLE_CHOICE
from adaptive_eval.banks.catalog import CATALOG
from adaptive_eval.banks.questions import Question
from adaptive_eval.banks.sources import SOURCES, make_record, no_source_reason, write_record

ROOT = Path(__file__).resolve().parents[1]


def calibrated_questions(name: str, data_dir: Path) -> tuple[list[Question], str]:
    """The questions bank ``name`` was calibrated on, from the shared items, and which file."""
    info = CATALOG[name]
    if info.source == "mmlu_pro":
        path = data_dir / "mmlu_pro" / "items.csv.gz"
        frame = _read(path)
        return [Question(r["question_id"], r["question"], json.loads(r["options"]),
                         int(r["answer_index"]), r["category"] or None)
                for r in frame.to_dict("records")], "mmlu_pro/items.csv.gz"
    path = data_dir / "zeroeval" / "items.csv.gz"
    frame = _read(path)
    frame = frame[frame["benchmark"] == name]
    questions = []
    for r in frame.to_dict("records"):
        if not r["question"].strip():
            continue  # no text in the shared data: not fingerprinted
        if info.answer_type == MULTIPLE_CHOICE:
            key = r["answer"]
            if r["error_type"] == "wrong_groundtruth" and r["corrected_answer"] in LETTERS:
                key = r["corrected_answer"]
            questions.append(Question(r["question_id"], r["question"], json.loads(r["options"]),
                                      LETTERS.index(key), r["category"] or None))
        else:
            questions.append(Question(r["question_id"], r["question"], [], None, None,
                                      info.answer_type, r["answer"]))
    return questions, f"zeroeval/items.csv.gz (benchmark {name})"


def record_for(name: str, data_dir: Path) -> dict:
    source = SOURCES[name]
    answer_type = CATALOG[name].answer_type
    if source is None:
        return make_record(name, answer_type, None, reason=no_source_reason(name))
    if not source.has_gold:
        return make_record(name, answer_type, source, reason=source.note)
    questions, where = calibrated_questions(name, data_dir)
    return make_record(name, answer_type, source, questions,
                       fingerprinted_from=f"shared/data/{where}")


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SystemExit(f"{path} not found: pass --data_dir (the shared data folder)")
    return pd.read_csv(path, keep_default_na=False, dtype=str)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--bank", default="all", help="a bank name, or all")
    parser.add_argument("--out", default=str(ROOT / "models" / "banks"))
    args = parser.parse_args(argv)
    names = list(SOURCES) if args.bank == "all" else [args.bank]
    for name in names:
        folder = Path(args.out) / name
        if not folder.is_dir():
            print(f"{name}: no folder {folder}, skipped")
            continue
        record = record_for(name, Path(args.data_dir))
        path = write_record(folder, record)
        n = record.get("fingerprint", {}).get("n_items", 0)
        print(f"{name}: {path} ({path.stat().st_size / 1024:.0f} KiB, live {record['live']}, "
              f"{n} questions fingerprinted)")


if __name__ == "__main__":
    main()
