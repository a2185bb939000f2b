"""What the Space loads once and keeps: banks, recorded answers, question text, the predictor,
the generator, the live LM, and the similarity-search sample.

Each is loaded on first use (``_once``: thread-safe, one load per process; a failure is not
kept, so it is tried again) and raises ``UserError``, a message for the page, when its data or
model is not here. Settings are read from the environment:

- ``ADAPTIVE_EVAL_DATA``: the shared data folder, holding ``<source>/responses.csv.gz``
  (recorded answers) and ``<source>/items.csv.gz`` (question text) for each bank's source
  (``mmlu_pro``, ``zeroeval``, ``metabench``); default ``../shared/data`` next to the repository.
  Without local question text, a bank's questions come from its Hub dataset (or the HF cache).
- ``ADAPTIVE_EVAL_LOCAL_MODEL``: the live LM, a folder or Hub id (SmolLM2-135M-Instruct).
- ``ADAPTIVE_EVAL_PREDICTOR`` / ``ADAPTIVE_EVAL_GENERATOR``: a folder or Hub id instead of the
  embedded defaults.
- ``ADAPTIVE_EVAL_SIMILAR_SAMPLE``: how many bank questions the similarity search embeds (1000).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from adaptive_eval import ItemBank, ResponseData
from adaptive_eval.banks.catalog import CATALOG, bank_info
from adaptive_eval.banks.hub_questions import bank_questions
from adaptive_eval.banks.questions import load_questions, question_text
from adaptive_eval.irt.model import prob

if TYPE_CHECKING:
    from adaptive_eval.examinees.hf import HFExaminee

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BANK = "mmlu-pro"
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
LOCAL_MODEL_ID = os.environ.get("ADAPTIVE_EVAL_LOCAL_MODEL") or SMOLLM2
LIVE_MAX_NEW_TOKENS = 160  # a live free-form reply's length bound: a CPU answers within a minute


class UserError(ValueError):
    """Bad input or missing data: shown in the page as a message."""


def data_dir() -> Path:
    default = ROOT.parent / "shared" / "data"
    return Path(os.environ.get("ADAPTIVE_EVAL_DATA") or default)


def first_line(err: BaseException) -> str:
    """One line for the page: the error's type and message (an artifact search: where it looked)."""
    tried = getattr(err, "tried", None)
    if tried:
        return "not found; tried " + "; ".join(tried)
    text = " ".join(line.strip() for line in str(err).strip().splitlines())
    return f"{type(err).__name__}: {text}"[:500]


_cache: dict[str, object] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _once(key: str, make: Callable[[], object]):
    """``make()`` once per process (thread-safe); a failure is not cached (tried again)."""
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def bank(name: str = DEFAULT_BANK) -> ItemBank:
    """The named bank: its local copy (the package's, or the repository's ``models/banks``),
    else its Hub repo; ``UserError`` when neither is reachable."""
    info = bank_info(name) if name in CATALOG else None
    if info is None:
        raise UserError(f"Unknown bank {name!r}; pick one of {', '.join(CATALOG)}.")

    def load():
        try:
            return ItemBank.load(name)
        except Exception as err:  # noqa: BLE001 - offline or not published: say so
            raise UserError(f"Bank {name} has no local copy here and could not be loaded from "
                            f"the Hub ({info.repo_id}): {first_line(err)}") from None

    return _once(f"bank:{name}", load)


def source_file(name: str, file: str) -> Path:
    """``<data>/<source>/<file>`` of bank ``name`` (e.g. ``zeroeval/responses.csv.gz``)."""
    return data_dir() / bank_info(name).source / file


def responses(name: str = DEFAULT_BANK) -> ResponseData:
    """The recorded answers of bank ``name``'s source; ``UserError`` when they are not here."""
    path = source_file(name, "responses.csv.gz")
    if not path.is_file():
        raise UserError(f"Recorded answers not found ({path}); set ADAPTIVE_EVAL_DATA to the "
                        "shared data folder to replay recorded models.")
    return _once(f"responses:{path}", lambda: ResponseData.from_file(path))


def has_responses(name: str) -> bool:
    return source_file(name, "responses.csv.gz").is_file()


def simulated_responses(the_bank: ItemBank, model: str, seed: int = 0) -> ResponseData:
    """Answers of ``model`` to every item, drawn once from its calibrated ability:
    ``correct_i ~ Bernoulli(sigmoid(a_i (theta - b_i)))`` (seeded ``default_rng``)."""
    theta = the_bank.abilities[model]["theta"]
    draws = np.random.default_rng(seed).random(len(the_bank)) < prob(theta, the_bank.b,
                                                                     the_bank.a)
    frame = pd.DataFrame({"model": model, "question_id": the_bank.ids,
                          "correct": draws.astype(int)})
    return ResponseData.from_long(frame, source=f"simulated from {model}'s ability")


def questions(name: str = DEFAULT_BANK) -> dict:
    """Question text with gold answers of bank ``name``: the local items file (its rows of this
    benchmark, read with the bank's answer type), else the bank's Hub dataset
    (``hub_questions.bank_questions``: network or the Hugging Face cache); ``UserError`` when
    there is none."""
    path = source_file(name, "items.csv.gz")
    if path.is_file():
        answer_type = bank(name).metadata.get("answer_type")
        benchmark = None if bank_info(name).prefix is None else name

        def read():
            try:
                return load_questions(path, answer_type=answer_type, benchmark=benchmark)
            except ValueError as err:
                raise UserError(f"No question text with gold answers for bank {name} "
                                f"({first_line(err)}): only its recorded models can be "
                                "replayed.") from None

        return _once(f"questions:{name}", read)
    failed = f"questions-download-failed:{name}"
    if failed in _cache:
        raise UserError(str(_cache[failed]))

    def download():
        try:
            return bank_questions(name, ids=bank(name).ids)
        except ValueError as err:  # offline, or a replay bank: remember and say so
            _cache[failed] = (f"Question text for bank {name} not found ({path}), nor from "
                              f"its Hub dataset: {err}")
            raise UserError(_cache[failed]) from None

    return _once(f"questions:{name}", download)


def try_questions(name: str = DEFAULT_BANK) -> dict | None:
    try:
        return questions(name)
    except UserError:
        return None


def predictor():
    from adaptive_eval import DifficultyPredictor

    def load():
        try:
            return DifficultyPredictor.from_pretrained(os.environ.get("ADAPTIVE_EVAL_PREDICTOR"))
        except Exception as err:  # noqa: BLE001 - any load failure: the tab says so
            raise UserError(f"Difficulty predictor not available: {first_line(err)}") from None

    return _once("predictor", load)


def generator():
    from adaptive_eval import QuestionGenerator

    def load():
        try:
            shared = predictor()  # the Difficulty tab's, when it loads
        except UserError:
            shared = None  # the generator then loads the one its config names
        try:
            return QuestionGenerator.from_pretrained(os.environ.get("ADAPTIVE_EVAL_GENERATOR"),
                                                     predictor=shared)
        except Exception as err:  # noqa: BLE001
            raise UserError(f"Question generator not available: {first_line(err)}") from None

    return _once("generator", load)


def local_lm() -> HFExaminee:
    """The live LM (``ADAPTIVE_EVAL_LOCAL_MODEL``), loaded once; each run adds its bank's
    questions to its ``questions`` (ids are unique across the banks' sources)."""
    from adaptive_eval.examinees.hf import HFExaminee

    def load():
        try:
            return HFExaminee(LOCAL_MODEL_ID, {}, batch_size=1,
                              max_new_tokens=LIVE_MAX_NEW_TOKENS)
        except Exception as err:  # noqa: BLE001
            raise UserError(f"The local model could not be loaded: {first_line(err)}") from None

    return _once("local-lm", load)


def similar_sample(progress: Callable | None = None) -> tuple[list, np.ndarray]:
    """``(questions, unit embeddings)`` of a fixed random sample of the default bank's questions
    that have text (``ADAPTIVE_EVAL_SIMILAR_SAMPLE``, default 1000), embedded once by the
    predictor (``DifficultyPredictor.embed``, which also caches them on disk)."""
    model, qs, the_bank = predictor(), questions(), bank()

    def embed():
        size = int(os.environ.get("ADAPTIVE_EVAL_SIMILAR_SAMPLE", "1000"))
        ids = [i for i in the_bank.ids if i in qs]
        rng = np.random.default_rng(0)
        picked = [qs[ids[k]] for k in sorted(rng.choice(len(ids), min(size, len(ids)), False))]
        texts = [question_text(q.text, q.options) for q in picked]
        chunks = []
        for start in range(0, len(texts), 100):
            if progress:
                progress(start / len(texts), desc=f"embedding {len(texts)} bank questions "
                         "for the similarity search (once)")
            chunks.append(model.embed(texts[start : start + 100]))
        emb = np.concatenate(chunks)
        return picked, emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    return _once("similar-sample", embed)
