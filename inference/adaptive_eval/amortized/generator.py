"""Question generator: a causal LM with a LoRA adapter that writes multiple-choice questions at a
requested IRT difficulty (Truong et al. 2025, "amortized generation").

Prompt (``build_prompt``): the base model's chat template around one user message that names the
target difficulty (rounded to 0.1) and the category, and spells out the item format. The
completion is one item in exactly this format (``item_format.format_item`` writes it,
``item_format.parse_item`` reads it)::

    Question: <question text, one or more lines>
    A. <option>
    B. <option>
    ...
    Answer: <one letter>

Generation (``QuestionGenerator.generate``): sample ``n * best_of`` completions; keep only the
items that parse and pass the validity filter (4-10 distinct non-empty options, exactly one key
that names an option, the model stopped by itself rather than at ``max_new_tokens``) and the
near-duplicate filter (word 5-gram shingle Jaccard with every training question below
``max_jaccard``); predict each survivor's difficulty with the
:class:`~adaptive_eval.amortized.predictor.DifficultyPredictor`; return the ``n`` whose predicted
difficulty is closest to the target (best-of-n reranking). Malformed generations are never
returned; if too few candidates survive after ``max_rounds`` rounds of sampling, fewer than ``n``
items are returned.

Artifact folder (also a Hub model repo): ``config.json`` (the :class:`GeneratorConfig`, with
``"artifact": "question-generator"`` and the ``base_model`` Hub id), ``adapter_model.safetensors`` +
``adapter_config.json`` (peft LoRA), ``dedup_index.safetensors`` (shingle hashes of the training
questions, no text) and ``README.md`` (model card from ``templates/question_generator.md``). The
base model is not stored: it is resolved by ``resolve_base_model`` (offline from PyPI for
SmolLM2-135M-Instruct).

Training (SFT, then GRPO with a reward from the predictor) is ``training/train_generator.py``; its
reward functions are built on ``item_format.parse_item``, ``item_format.OPTION_LINE`` and
``predict_items`` from here.
How often the generator writes well-formed items near the target is measured by
``benchmarks/generator.py`` (``benchmarks/results/generator.md``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import ModelCardData
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from ..banks.answers import MULTIPLE_CHOICE
from ..banks.bank import ItemBank
from ..banks.questions import question_text
from ..hub.cards import render_card
from ..hub.resolve import resolve_artifact
from .base_models import SMOLLM2, resolve_base_model
from .item_format import LETTERS, ItemFormatError, ParsedItem, parse_candidate
from .near_duplicates import NearDuplicateIndex, words
from .predicted_items import add_predicted
from .predictor import DifficultyPredictor
from .verify import Verifier

ARTIFACT = "question-generator"
#: targets a generator accepts: the banks' IRT difficulty scale
DIFFICULTY_RANGE = (-5.0, 5.0)
DEDUP_FILE = "dedup_index.safetensors"


INSTRUCTION = (
    "Write a multiple-choice question.\nCategory: {category}\n"
    "Difficulty: {difficulty:.1f} (from -3 very easy to 3 very hard)\n"
    "Format: Question: ..., options A. B. C. D. (up to J.), Answer: <letter>"
)


def build_prompt(tokenizer: Any, difficulty: float, category: str) -> str:
    """The prompt text for a target ``difficulty`` and ``category``: ``INSTRUCTION`` as a user
    message in the tokenizer's chat template (with the generation prompt), or plain text followed
    by a newline when the tokenizer has no chat template."""
    message = INSTRUCTION.format(category=category, difficulty=round(float(difficulty), 1) + 0.0)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
        )
    return message + "\n"


# ---- the generator ----------------------------------------------------------------------------


@dataclass
class GeneratorConfig:
    """Everything needed to rebuild a :class:`QuestionGenerator` (saved as ``config.json``)."""

    base_model: str = SMOLLM2
    """Hub id (or local folder) of the base causal LM; resolved with ``resolve_base_model``."""
    base_model_revision: str | None = None
    predictor: str | None = None
    """Difficulty predictor for reranking (``None``: the embedded default)."""
    difficulty_range: list[float] = field(default_factory=lambda: [-3.0, 2.8])
    """Targets seen in training (the bank's difficulty range); others are extrapolation."""
    categories: list[str] = field(default_factory=list)
    """Categories seen in training; ``generate(category=None)`` draws from these."""
    max_new_tokens: int = 192
    temperature: float = 0.8
    top_p: float = 0.95
    best_of: int = 4
    max_jaccard: float = 0.5
    """Items whose shingle Jaccard with a training question reaches this are dropped."""
    max_distance: float | None = None
    """Candidates whose predicted difficulty is further than this from the target are dropped
    (``None``: keep the closest whatever their distance)."""
    shingle_size: int = 5
    training_question_ids: list[str] = field(default_factory=list)
    """Bank ids of the questions the adapter was fine-tuned on (the dedup index holds their
    shingles); empty when not recorded."""
    training: dict = field(default_factory=dict)
    """The settings and numbers of the training run (informational)."""
    artifact: str = ARTIFACT

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        if data.get("artifact", ARTIFACT) != ARTIFACT:
            raise ValueError(f"config holds a {data['artifact']!r}, not a {ARTIFACT!r}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class GeneratedItem:
    """One generated, well-formed item with its target and predicted difficulty, and the
    verdict of the solvers (``verify.Verifier``): ``verified`` None = unchecked, true = the
    solvers agreed with the key, false = they did not (``consensus``: their most frequent
    answer; ``problem``: a structural fault found before any solver was asked)."""

    question: str
    options: list[str]
    answer: str
    target_difficulty: float
    predicted_difficulty: float
    predicted_se: float | None = None
    category: str | None = None
    answer_type: str = MULTIPLE_CHOICE
    verified: bool | None = None
    agreement: float | None = None
    consensus: str | None = None
    solver_answers: dict[str, list[str | None]] = field(default_factory=dict)
    problem: str | None = None

    @property
    def answer_index(self) -> int:
        return LETTERS.index(self.answer)

    def text(self) -> str:
        """The predictor's canonical text (``predictor.question_text``)."""
        return question_text(self.question, self.options)

    def to_dict(self) -> dict[str, Any]:
        """The ``generate --json`` shape: question, options, answer, target_difficulty,
        predicted_difficulty, verified, agreement, solver_answers (and the other fields)."""
        return asdict(self)

    def verify(self, verifier: Verifier) -> GeneratedItem:
        """A copy carrying ``verifier``'s verdict."""
        verdict = verifier.check(self.question, self.options, self.answer, self.answer_type,
                                 self.category)
        return replace(self, verified=verdict.verified, agreement=verdict.agreement,
                       consensus=verdict.consensus, solver_answers=verdict.solver_answers,
                       problem=verdict.problem)


class QuestionGenerator:
    """A causal LM (usually a peft ``PeftModel`` with a LoRA adapter) + tokenizer + config.

    ``model`` may also be a plain causal LM (e.g. the base model, for comparisons); only
    ``save_pretrained`` needs a peft model.
    """

    def __init__(self, model: Any, tokenizer: Any, config: GeneratorConfig | None = None,
                 dedup: NearDuplicateIndex | None = None,
                 predictor: DifficultyPredictor | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.config = config or GeneratorConfig()
        self.dedup = dedup
        self._predictor = predictor

    answer_type = MULTIPLE_CHOICE
    """What the items' keys are (``answers``): the embedded generator writes multiple choice."""

    # ---- loading ------------------------------------------------------------------------
    @staticmethod
    def load_base(base_model: str = SMOLLM2, revision: str | None = None) -> tuple[Any, Any]:
        """``(model, tokenizer)`` of a base causal LM, offline where it must be (fp32, eval)."""
        folder = resolve_base_model(base_model, revision)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        return model.eval(), tokenizer

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None, revision: str | None = None,
                        predictor: DifficultyPredictor | None = None, trainable: bool = False
                        ) -> QuestionGenerator:
        """Load: ``None`` = the embedded ``models/question-generator``; a local folder; or a Hub
        repo id (with ``revision``). The base model comes from ``resolve_base_model``. Returns the
        generator with its model in eval mode; ``trainable=True`` leaves the adapter's weights
        trainable (to continue training it)."""
        folder = resolve_artifact(name_or_path, kind=ARTIFACT, revision=revision)
        try:
            config = GeneratorConfig.from_dict(json.loads((folder / "config.json").read_text()))
        except (OSError, ValueError, TypeError) as err:
            raise ValueError(f"{folder}/config.json is not a question-generator config: {err}") \
                from None
        base, tokenizer = cls.load_base(config.base_model, config.base_model_revision)
        model = PeftModel.from_pretrained(base, str(folder), is_trainable=trainable).eval()
        dedup = NearDuplicateIndex.load(folder / DEDUP_FILE) if (folder / DEDUP_FILE).exists() \
            else None
        return cls(model, tokenizer, config, dedup, predictor)

    def save_pretrained(self, folder: str | Path, card_variables: dict | None = None) -> Path:
        """Write the artifact folder (module docstring): adapter, config, dedup index, card."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not hasattr(self.model, "peft_config"):
            raise TypeError("save_pretrained needs a peft model (a LoRA adapter) to save")
        for peft_config in self.model.peft_config.values():
            peft_config.base_model_name_or_path = self.config.base_model  # the Hub id, not a path
        self.model.save_pretrained(str(folder))
        (folder / "config.json").write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        if self.dedup is not None:
            self.dedup.save(folder / DEDUP_FILE)
        variables = {"config": asdict(self.config), "training": self.config.training,
                     "metrics": {}} | (card_variables or {})
        card_data = ModelCardData(
            license="apache-2.0", library_name="adaptive-eval", base_model=self.config.base_model,
            datasets=["TIGER-Lab/MMLU-Pro"], pipeline_tag="text-generation",
            tags=["adaptive-eval", "question-generation", "item-response-theory", "peft", "lora"],
            metrics=list(variables.get("metric_names", ["well_formed", "hit_rate", "spearman"])),
        )
        render_card("question_generator.md", card_data, **variables).save(folder / "README.md")
        return folder

    # ---- predictor ----------------------------------------------------------------------
    @property
    def predictor(self) -> DifficultyPredictor:
        """The reranking predictor (``config.predictor``, loaded on first use)."""
        if self._predictor is None:
            self._predictor = DifficultyPredictor.from_pretrained(self.config.predictor)
        return self._predictor

    def predict(self, items: Sequence[ParsedItem], categories: Sequence[str | None]
                ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ``(difficulty, se)`` of parsed items (categories unknown to the predictor
        are passed as ``None``)."""
        return predict_items(self.predictor, items, categories)

    # ---- sampling -----------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, targets: Sequence[float], categories: Sequence[str], seed: int = 0,
               batch_size: int = 16, do_sample: bool = True) -> list[str | None]:
        """One raw completion per (target, category); ``None`` where the model did not stop
        (hit ``max_new_tokens``) — such text is never an item. Seeded: the same seed gives the
        same texts (global torch RNG state is restored afterwards)."""
        tok = self.tokenizer
        prompts = [build_prompt(tok, t, c) for t, c in zip(targets, categories, strict=True)]
        eos = tok.eos_token_id
        out: list[str | None] = []
        side, tok.padding_side = tok.padding_side, "left"
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                for start in range(0, len(prompts), batch_size):
                    enc = tok(prompts[start : start + batch_size], return_tensors="pt",
                              padding=True, add_special_tokens=False)
                    kwargs = dict(max_new_tokens=self.config.max_new_tokens, do_sample=do_sample,
                                  pad_token_id=tok.pad_token_id, eos_token_id=eos)
                    if do_sample:
                        kwargs |= dict(temperature=self.config.temperature,
                                       top_p=self.config.top_p, top_k=0)
                    ids = self.model.generate(**enc, **kwargs)[:, enc["input_ids"].shape[1]:]
                    for row in ids.tolist():
                        if eos not in row:
                            out.append(None)
                            continue
                        out.append(tok.decode(row[: row.index(eos)], skip_special_tokens=True))
        finally:
            tok.padding_side = side
            self.model.train(was_training)
        return out

    def validate(self, text: str | None) -> ParsedItem | None:
        """The parsed item (``parse_candidate`` with ``answer_type``), or ``None`` if ``text``
        is malformed or a near duplicate of a training question."""
        if text is None:
            return None
        try:
            item = parse_candidate(text, self.answer_type)
        except ItemFormatError:
            return None
        if self.dedup is not None and len(self.dedup):
            if self.dedup.max_jaccard(question_text(item.question, item.options)) \
                    >= self.config.max_jaccard:
                return None
        return item

    def generate(self, difficulty: float, n: int = 4, category: str | None = None,
                 best_of: int | None = None, seed: int = 0, max_rounds: int = 3,
                 verifier: Verifier | None = None, keep_rejected: bool = False,
                 progress: Callable[[str], None] | None = None) -> list[GeneratedItem]:
        """Up to ``n`` well-formed items near ``difficulty``, sorted by distance to it.

        Samples ``n * best_of`` candidates per round (``best_of`` defaults to the config's),
        keeps valid, non-duplicate, mutually distinct ones, and stops once it has
        ``n * best_of`` of them or after ``max_rounds`` rounds; drops those whose predicted
        difficulty is further than ``config.max_distance`` from the target; ranks the rest by
        that distance. Without ``verifier`` the first ``n`` come back with ``verified`` None.
        With one, candidates are checked in rank order until ``n`` are verified; only verified
        items come back, then (``keep_rejected``) rejected ones up to ``n``. ``category=None``
        draws a training category per sample (seeded). Malformed text never comes back.
        ``progress`` receives one line per sampling round and per verified candidate.
        """
        difficulty = check_difficulty(difficulty)
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        best_of = int(best_of or self.config.best_of)
        if best_of < 1:
            raise ValueError(f"best_of must be at least 1, got {best_of}")
        say = progress or (lambda line: None)
        pool = self.config.categories or ["general"]
        rng = np.random.default_rng(seed)
        want = n * best_of
        found: dict[str, tuple[ParsedItem, str]] = {}
        for round_ in range(max_rounds):
            cats = [category] * want if category else list(rng.choice(pool, size=want))
            texts = self.sample([difficulty] * want, cats, seed=seed * 1000 + round_)
            for text, cat in zip(texts, cats, strict=True):
                item = self.validate(text)
                key = " ".join(words(item.question)) if item else ""
                if item is not None and key not in found:
                    found[key] = (item, str(cat))
            say(f"round {round_ + 1}: {len(texts)} samples, {len(found)} well-formed so far")
            if len(found) >= want:
                break
        if not found:
            return []
        items, cats = zip(*list(found.values())[:want], strict=True)
        pred, se = self.predict(items, cats)
        distance = np.abs(pred - difficulty)
        order = [k for k in np.argsort(distance, kind="stable")
                 if self.config.max_distance is None or distance[k] <= self.config.max_distance]
        ranked = [GeneratedItem(items[k].question, list(items[k].options), items[k].answer,
                                difficulty, float(pred[k]), float(se[k]), cats[k],
                                self.answer_type) for k in order]
        if verifier is None:
            return ranked[:n]
        verified, rejected = [], []
        for item in ranked:
            checked = item.verify(verifier)
            (verified if checked.verified else rejected).append(checked)
            say(f"verify {len(verified) + len(rejected)}/{len(ranked)}: "
                f"{'verified' if checked.verified else 'rejected'} (agreement "
                f"{checked.agreement if checked.agreement is not None else '-'}; "
                f"{checked.problem or 'solvers: majority ' + str(checked.consensus or 'none')})")
            if len(verified) == n:
                break
        return verified + (rejected[: n - len(verified)] if keep_rejected else [])


def check_difficulty(difficulty: float) -> float:
    """``difficulty`` as a float; ``ValueError`` naming ``DIFFICULTY_RANGE`` unless it lies in
    it (the IRT scale of the banks: beyond it nothing is calibrated)."""
    lo, hi = DIFFICULTY_RANGE
    try:
        value = float(difficulty)
    except (TypeError, ValueError):
        raise ValueError(f"difficulty {difficulty!r} is not a number") from None
    if not lo <= value <= hi:
        raise ValueError(f"difficulty {difficulty} is outside {lo:g} to {hi:g}, the IRT "
                         "difficulty scale of the banks (most items lie within -3 to 3)")
    return value


# ---- predicted difficulty, banks ------------------------------------------------------------


def known_categories(predictor: DifficultyPredictor, categories: Sequence[str | None] | None
                     ) -> list[str | None] | None:
    """``categories`` with those the predictor was not trained on replaced by ``None`` (text only);
    ``None`` when the predictor takes no category input."""
    known = set(predictor.config.categories)
    if not known or categories is None:
        return None
    return [c if c in known else None for c in categories]


def predict_items(predictor: DifficultyPredictor, items: Sequence[ParsedItem],
                  categories: Sequence[str | None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``predictor.predict`` on the canonical texts of parsed items; categories the predictor
    does not know become ``None``."""
    texts = [question_text(i.question, i.options) for i in items]
    return predictor.predict(texts, known_categories(predictor, categories))


def add_to_bank(bank: ItemBank, items: Sequence[GeneratedItem], predictor: DifficultyPredictor,
                id_prefix: str = "generated-") -> ItemBank:
    """A new bank: ``bank``'s items, then ``items`` as *predicted* items on ``bank``'s difficulty
    scale (``predicted_items.add_predicted``) with ids ``id_prefix`` + a SHA-256 prefix of the
    item text."""
    texts = [i.text() for i in items]
    ids = [id_prefix + hashlib.sha256(t.encode()).hexdigest()[:12] for t in texts]
    return add_predicted(bank, ids, texts, [i.category for i in items], predictor)
