"""Where each named bank's questions live (``QuestionSource``), and the fingerprint of the
questions it was calibrated on.

A bank's question texts are not in the bank: its folder holds ``questions.json`` (``RECORD_FILE``),
written by ``training/question_sources.py`` from ``SOURCES`` and the shared items files::

    {"bank": "gsm8k", "answer_type": "numeric", "live": true,
     "source": {"dataset": "yuchenlin/zero-eval", "config": "gsm", "split": "test",
                "revision": "main", "fields": {"id": "id", "question": "question", ...},
                "answer_rule": "text_without_hash", "id_rule": "...", "id_prefix": "", ...},
     "fingerprint": {"rule": "...", "n_items": 1319, "items": {id: "<text hash>.<answer hash>"}}}

``source`` is null for a bank with no public source of its questions (metabench). ``live`` says
whether a live examinee can be scored on the bank: a public source and gold answers (ZebraLogic's
gold grids are private: a source, not live). ``banks.hub_questions.bank_questions`` loads the
questions from the source and checks them against the fingerprint.

Fingerprint: per question, the first ``HASH_CHARS`` hex digits of the SHA-256 of its text
(``question_text``: the question, then one line per option) and ``ANSWER_HASH_CHARS`` of its
gold answer (the letter, or the answer string), both after ``normalise_text`` (Latin-1 mojibake
of UTF-8 repaired, runs of whitespace collapsed; ZeroEval's MMLU-Redux copy differs from the
MMLU-Redux text only there), so only a change of substance counts as a difference.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .answers import LETTERS
from .questions import Question, question_text

RECORD_FILE = "questions.json"
HASH_CHARS = 12
ANSWER_HASH_CHARS = 6
NAMED_AT_MOST = 20  # a warning names this many differing questions, then counts the rest

#: How a row's gold answer becomes the Question's: ``index`` (0-based option index),
#: ``letter`` (A-Z), ``option_text`` (the text of the correct option), ``text`` (a free-form
#: answer string), ``text_without_hash`` (the same with every ``#`` removed: ``"# 18"`` -> 18),
#: ``none`` (no public gold answers).
ANSWER_RULES = ("index", "letter", "option_text", "text", "text_without_hash", "none")


class QuestionSourceError(ValueError):
    """A bank's questions cannot be had: no record, not downloadable, not readable."""


class ReplayBankError(QuestionSourceError):
    """A replay bank (no public questions or gold answers) was asked for live questions."""


class QuestionSourceWarning(UserWarning):
    """The source's questions differ from those the bank was calibrated on."""


@dataclass(frozen=True)
class QuestionSource:
    """Where a bank's questions are: a Hub dataset and how its rows become ``Question``\\ s.

    ``fields`` maps ``id``, ``question``, ``options``, ``answer``, ``category`` to column names
    (None: absent). A bank question id is ``id_prefix + str(row[fields["id"]])``; ``id_rule``
    says so in words, with what the ids mean. ``answer_rule`` is one of ``ANSWER_RULES``.
    ``cited`` names the code that loaded this dataset for the benchmark's published results.
    """

    dataset: str
    config: str
    split: str
    revision: str
    fields: dict[str, str | None]
    answer_rule: str
    id_rule: str
    id_prefix: str = ""
    cited: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.answer_rule not in ANSWER_RULES:
            raise ValueError(f"unknown answer rule {self.answer_rule!r}; known: {ANSWER_RULES}")
        missing = {"id", "question", "options", "answer", "category"} - set(self.fields)
        if missing:
            raise ValueError(f"QuestionSource fields lack {sorted(missing)}")

    @property
    def has_gold(self) -> bool:
        return self.answer_rule != "none"

    def summary(self) -> dict:
        """``{"dataset", "config", "split", "revision"}`` (what ``adaptive-eval banks`` shows)."""
        return {"dataset": self.dataset, "config": self.config, "split": self.split,
                "revision": self.revision}

    def where(self) -> str:
        return (f"Hub dataset {self.dataset} (config {self.config}, split {self.split}, "
                f"revision {self.revision})")

    def download_command(self) -> str:
        return f"hf download {self.dataset} --repo-type dataset --revision {self.revision}"


_ZEROEVAL = "WildEval/ZeroEval src/task_configs.py (mapping_task_names) at ea7dd90"
_ZEROEVAL_ID = ("bank question_id = the row's id, unchanged: ZeroEval's item id, which its "
                "result files and shared/data/zeroeval use")

#: The public question source of every named bank (None: none). ``training/question_sources.py``
#: writes each into its bank's ``questions.json`` with the fingerprint.
SOURCES: dict[str, QuestionSource | None] = {
    "mmlu-pro": QuestionSource(
        "TIGER-Lab/MMLU-Pro", "default", "test", "main",
        {"id": "question_id", "question": "question", "options": "options",
         "answer": "answer_index", "category": "category"},
        "index", "bank question_id = str(row question_id), MMLU-Pro's own integer id",
        cited="load_dataset('TIGER-Lab/MMLU-Pro') in TIGER-AI-Lab/MMLU-Pro evaluate_from_local.py "
              "at f418b11",
        note="MMLU-Pro revised some keys and texts between its runs; the fingerprint names them"),
    "mmlu-redux": QuestionSource(
        "yuchenlin/zero-eval", "mmlu-redux", "test", "main",
        {"id": "id", "question": "question", "options": "choices", "answer": "correct_answer",
         "category": "config"},
        "option_text", _ZEROEVAL_ID + " (mmlu-redux-<subject>-#<row of edinburgh-dawg/mmlu-redux>)",
        cited=f"load_dataset('yuchenlin/zero-eval', 'mmlu-redux', split='test') in {_ZEROEVAL}",
        note="ZeroEval's copy of MMLU-Redux: keyed by the annotators' corrected answer where "
             "MMLU-Redux marks the key wrong; some texts show mojibake (the models saw it)"),
    "gsm8k": QuestionSource(
        "yuchenlin/zero-eval", "gsm", "test", "main",
        {"id": "id", "question": "question", "options": None, "answer": "answer",
         "category": None},
        "text_without_hash",
        _ZEROEVAL_ID + " (gsm8k-main-test-#N: row N of openai/gsm8k main test)",
        cited=f"load_dataset('yuchenlin/zero-eval', 'gsm', split='test') in {_ZEROEVAL}"),
    "math-l5": QuestionSource(
        "AI-MO/aimo-validation-math-level-5", "default", "train",
        "f6a57be5b8b7818f6abc1b91ada912f474466abc",
        {"id": "id", "question": "problem", "options": None, "answer": "answer",
         "category": None},
        "text", "bank question_id = 'math-l5-' + str(row id), as ZeroEval names its items",
        id_prefix="math-l5-",
        cited=f"load_dataset('AI-MO/aimo-validation-math-level-5', split='train') in {_ZEROEVAL}",
        note="revision: main as last modified 2024-07-10, before ZeroEval's runs"),
    "cruxeval": QuestionSource(
        "flydust/zero-eval", "crux", "test", "main",
        {"id": "id", "question": "question", "options": None, "answer": "answer",
         "category": None},
        "text", _ZEROEVAL_ID + " (crux-test-#N)",
        cited=f"load_dataset('flydust/zero-eval', 'crux', split='test') in {_ZEROEVAL}"),
    "zebralogic": QuestionSource(
        "allenai/ZebraLogicBench", "grid_mode", "test", "main",
        {"id": "id", "question": "puzzle", "options": None, "answer": None, "category": None},
        "none", _ZEROEVAL_ID + " (lgp-test-<houses>x<attributes>-<n>)",
        cited=f"load_dataset('allenai/ZebraLogicBench', 'grid_mode', split='test') in {_ZEROEVAL}",
        note="its gold grids are in allenai/ZebraLogicBench-private, which is not public"),
    **{f"metabench-{b}": None for b in ("arc", "gsm8k", "mmlu", "truthfulqa", "winogrande")},
    "livecodebench": None,
    "alpacaeval": None,
}

#: Why a bank without a source has none (written into its record).
NO_SOURCE_REASON = ("metabench's items are prompts cut from Open LLM Leaderboard runs, with no "
                    "gold answers and no public dataset mapping its item numbers")
#: The graded banks' reasons (their scores come from a code sandbox or a judge).
NO_SOURCE_REASONS = {
    "livecodebench": "graded scores (pass@1, the share of samples passing all unit tests): "
                     "scoring a live model needs LiveCodeBench's code sandbox, and the bank has "
                     "only problem ids, no problem text",
    "alpacaeval": "graded scores (the judge's probability that the answer beats the reference): "
                  "scoring a live model needs AlpacaEval's judge and reference outputs",
}


def no_source_reason(name: str) -> str:
    """Why catalog bank ``name`` has no live source (``NO_SOURCE_REASON`` unless it has its
    own)."""
    return NO_SOURCE_REASONS.get(name, NO_SOURCE_REASON)


# -- records -------------------------------------------------------------------------------------


def fingerprint(questions: Iterable[Question]) -> dict[str, str]:
    """``{question_id: "<text hash>.<answer hash>"}`` of ``questions`` (module docstring)."""
    return dict(sorted(
        (q.question_id, f"{_hash(question_text(q.text, q.options), HASH_CHARS)}."
                        f"{_hash(str(q.answer), ANSWER_HASH_CHARS)}")
        for q in questions))


def make_record(bank: str, answer_type: str | None, source: QuestionSource | None,
                questions: Iterable[Question] = (), *, reason: str = "",
                fingerprinted_from: str = "") -> dict:
    """The ``questions.json`` record of bank ``bank`` (module docstring): its source (None: no
    public one, for ``reason``), ``live`` and the fingerprint of the calibrated ``questions``."""
    record: dict = {"bank": bank, "answer_type": answer_type,
                    "live": bool(source and source.has_gold),
                    "source": asdict(source) if source else None}
    if reason or source is None:
        record["reason"] = reason or "no public source of its questions"
    if source is not None:
        prints = fingerprint(questions)
        record["fingerprint"] = {
            "rule": f"<text hash>.<answer hash>: sha256 of normalise_text(question_text("
                    f"question, options)), first {HASH_CHARS} hex; of normalise_text(gold "
                    f"answer), first {ANSWER_HASH_CHARS}",
            "from": fingerprinted_from, "n_items": len(prints), "items": prints}
    return record


def write_record(folder: str | Path, record: Mapping) -> Path:
    """Write ``record`` as ``folder/questions.json`` (compact JSON)."""
    path = Path(folder) / RECORD_FILE
    path.write_text(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path


def read_record(folder: str | Path) -> dict | None:
    """The ``questions.json`` record of the bank in ``folder``; None when there is none."""
    path = Path(folder) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise QuestionSourceError(f"{path} is not readable JSON: {err}") from None


def source_of(record: Mapping | None) -> QuestionSource | None:
    """The ``QuestionSource`` of a record (None when it has none)."""
    if not record or not record.get("source"):
        return None
    return QuestionSource(**record["source"])


def catalog_record(name: str, answer_type: str | None = None) -> dict:
    """A record for catalog bank ``name`` from ``SOURCES`` alone (no fingerprint): what a bank
    without a local copy of its ``questions.json`` is known by."""
    source = SOURCES.get(name)
    return make_record(name, answer_type, source, reason="" if source else no_source_reason(name))


# -- rows to questions ---------------------------------------------------------------------------


def questions_from_frame(frame: pd.DataFrame, source: QuestionSource,
                         answer_type: str) -> dict[str, Question]:
    """``{bank question id: Question}`` from a table of the source's rows (``QuestionSource``);
    ``answer_type`` is that of questions without options. Raises ``QuestionSourceError``
    naming the row when a column is missing or a row is malformed."""
    missing = [c for c in source.fields.values() if c is not None and c not in frame.columns]
    if missing:
        raise QuestionSourceError(f"{source.where()}: no column(s) {missing}; it has "
                                  f"{list(frame.columns)} (has the dataset changed?)")
    out: dict[str, Question] = {}
    for number, row in enumerate(frame.to_dict("records"), start=1):
        try:
            question = _row_question(row, source, answer_type)
        except (ValueError, TypeError) as err:
            raise QuestionSourceError(f"{source.where()}, row {number}: {err}") from None
        if question.question_id in out:
            raise QuestionSourceError(
                f"{source.where()}, row {number}: duplicate id {question.question_id!r}")
        out[question.question_id] = question
    return out


def check_fingerprint(name: str, questions: Mapping[str, Question], prints: Mapping,
                      where: str = "") -> list[str]:
    """Ids of ``questions`` whose text or gold answer differs from the fingerprint ``prints``;
    warns (``QuestionSourceWarning``) naming them. Ids absent from ``prints`` are not checked."""
    known = prints.get("items", {})
    got = fingerprint(questions.values())
    common = [k for k in got if k in known]
    changed_text = [k for k in common if got[k].split(".")[0] != known[k].split(".")[0]]
    changed_key = [k for k in common if got[k] != known[k] and k not in set(changed_text)]
    differ = changed_text + changed_key
    if differ:
        parts = []
        for what, ids in (("text", changed_text), ("gold answer", changed_key)):
            if ids:
                more = (f" and {len(ids) - NAMED_AT_MOST} more" if len(ids) > NAMED_AT_MOST
                        else "")
                parts.append(f"{len(ids)} by {what} ({', '.join(ids[:NAMED_AT_MOST])}{more})")
        warnings.warn(QuestionSourceWarning(
            f"bank {name!r}: {len(differ)} of the {len(questions)} questions"
            f"{' from ' + where if where else ''} differ from those it was calibrated on, "
            f"{'; '.join(parts)}: their item parameters describe other questions"), stacklevel=2)
    return differ


def normalise_text(text: str) -> str:
    """``text`` with Latin-1 mojibake of UTF-8 repaired (``'Î²'`` -> ``'β'``) and runs of
    whitespace collapsed to one space: what the fingerprint hashes."""
    return " ".join(_MOJIBAKE.sub(_repair, text).split())


# -- internals -----------------------------------------------------------------------------------

_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]{1,3}")


def _repair(match: re.Match) -> str:
    try:
        return match.group().encode("latin-1").decode("utf-8")
    except UnicodeError:
        return match.group()


def _hash(text: str, chars: int) -> str:
    return hashlib.sha256(normalise_text(text).encode()).hexdigest()[:chars]


def _cell(row: Mapping, column: str | None) -> object:
    if column is None:
        return None
    value = row.get(column)
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _row_question(row: Mapping, source: QuestionSource, answer_type: str) -> Question:
    f = source.fields
    raw_id = _cell(row, f["id"])
    if raw_id is None or str(raw_id).strip() == "":
        raise ValueError("empty id")
    question_id = source.id_prefix + str(raw_id).strip()
    text = _cell(row, f["question"])
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"question {question_id!r}: empty question text")
    category = _cell(row, f["category"])
    category = str(category) if category not in (None, "") else None
    options = _cell(row, f["options"])
    options = [str(o) for o in options] if options is not None and len(options) else []
    gold = _cell(row, f["answer"])
    rule = source.answer_rule
    if gold is None:
        raise ValueError(f"question {question_id!r}: no gold answer")
    if options:
        if rule == "index":
            index = int(gold)
        elif rule == "letter":
            index = LETTERS.index(str(gold).strip().upper())
        elif rule == "option_text":
            if str(gold) not in options:
                raise ValueError(f"question {question_id!r}: answer {gold!r} is none of its "
                                 "options")
            index = options.index(str(gold))
        else:
            raise ValueError(f"answer rule {rule!r} does not apply to multiple choice")
        return Question(question_id, text, options, index, category)
    gold = str(gold).replace("#", "") if rule == "text_without_hash" else str(gold)
    return Question(question_id, text, [], None, category, answer_type, gold.strip())
