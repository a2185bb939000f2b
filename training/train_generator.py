"""Train the question generator, a LoRA adapter on a causal LM: SFT, then reward-guided RL (GRPO).

Two stages, one TRL trainer each, run one after the other (the second continues the first's
adapter):

    accelerate launch training/train_generator.py sft --config training/configs/generator-sft.yaml
    accelerate launch training/train_generator.py grpo --config training/configs/generator-grpo.yaml

(one GPU: ``--config_file training/configs/accelerate/single_gpu.yaml`` after ``launch``; several
GPUs: ``multi_gpu.yaml``; sharded: ``fsdp.yaml`` or ``deepspeed.yaml``. ``python
training/train_generator.py sft --config ...`` is the same on one CPU process.) As in TRL's example
scripts, ``TrlParser`` reads the YAML file and the flags (flags win) into three dataclasses: this
stage's script arguments (:class:`SFTScriptArguments` or :class:`GRPOScriptArguments`), TRL's own
``SFTConfig`` or ``GRPOConfig`` (``output_dir``, ``learning_rate``, ``max_steps``, ``seed``,
``push_to_hub``, ``hub_model_id``, ...) and TRL's ``ModelConfig`` (``model_name_or_path`` and the
LoRA settings, turned into a peft config by ``get_peft_config``). ``train_generator.py sft --help``
lists every argument. A quick run: ``sft ... --n_sft_examples 16 --max_steps 2`` and ``grpo ...
--max_steps 2``.

Stage ``sft``:

1. Data (``build_sft_examples``): calibrated items of the bank (``bank``) joined with their text
   (``items``); items whose formatted completion is short (``max_item_chars``) and that survive a
   format/parse round trip; options cut to ``max_options`` (the key plus the first distractors,
   shuffled, seeded); ``n_sft_examples`` of them drawn evenly over ``difficulty_bins`` bins of
   ``b``. Prompt = ``build_prompt(tokenizer, b rounded to 0.1, category)``; completion =
   ``format_item(...)``.
2. TRL ``SFTTrainer`` (prompt-completion, loss on the completion only) trains a fresh LoRA adapter
   (``get_peft_config(model_args)``) on ``model_name_or_path``, the base causal LM (resolved by
   ``amortized.base_models.resolve_base_model``, so offline from its PyPI copy too; fp32).
3. Save ``output_dir``: a question-generator artifact (adapter, ``config.json`` with the target
   range, categories, training question ids and settings, near-duplicate index of the SFT
   questions, model card).

Stage ``grpo`` (``model_name_or_path`` = the sft stage's ``output_dir``):

1. Prompts: targets drawn uniformly over the artifact's difficulty range, random categories.
2. TRL ``GRPOTrainer`` continues the same adapter with two reward functions defined here:
   ``DifficultyReward`` = ``-|predictor(item) - target|`` (``-penalty`` for a malformed item) and
   ``format_reward`` (1 for a well-formed item, partial credit for its parts). GRPO because it
   needs only Python reward functions and no value model: the cheapest on-policy RL trainer TRL
   has for a small model on a CPU. ``beta = 0``: no KL to the base model (which cannot write the
   format at all).
3. Save ``output_dir`` (the same artifact layout).

Either stage uploads its artifact with ``--push_to_hub --hub_model_id ORG/NAME`` through
``adaptive_eval.hub.publish.publish`` (its checks first), not ``Trainer.push_to_hub``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import trl
from adaptive_eval.amortized.generator import (
    GeneratorConfig,
    QuestionGenerator,
    build_prompt,
    predict_items,
)
from adaptive_eval.amortized.item_format import (
    MIN_OPTIONS,
    OPTION_LINE,
    ItemFormatError,
    format_item,
    is_well_formed,
    parse_item,
)
from adaptive_eval.amortized.near_duplicates import NearDuplicateIndex
from adaptive_eval.amortized.predictor import DifficultyPredictor
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.questions import load_questions, question_text
from adaptive_eval.hub.publish import publish
from datasets import Dataset
from transformers import set_seed
from trl import (
    GRPOConfig,
    GRPOTrainer,
    ModelConfig,
    SFTConfig,
    SFTTrainer,
    TrlParser,
    get_peft_config,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlu_pro"


@dataclass
class SFTScriptArguments:
    """The sft stage's own arguments (trainer and model settings: SFTConfig and ModelConfig)."""

    items: str = field(default=str(DATA / "items.csv.gz"), metadata={
        "help": "Items file: question_id, category, question, options (JSON list), answer_index."})
    bank: str | None = field(default=None, metadata={
        "help": "Calibrated item bank (name, folder or Hub id; default: the embedded MMLU-Pro "
                "bank): the targets b."})
    predictor: str | None = field(default=None, metadata={
        "help": "Difficulty predictor stored in the artifact for reranking and used by the grpo "
                "stage's reward (default: the embedded one)."})
    n_sft_examples: int = field(default=160, metadata={"help": "SFT examples."})
    max_item_chars: int = field(default=260, metadata={
        "help": "Longest formatted completion (characters) kept for SFT."})
    max_options: int = field(default=4, metadata={"help": "Options per SFT item (4-10)."})
    difficulty_bins: int = field(default=8, metadata={
        "help": "SFT examples are spread evenly over this many bins of b."})
    range_quantiles: list[float] = field(default_factory=lambda: [0.025, 0.975], metadata={
        "help": "Quantiles of the bank's b that bound the target range."})
    best_of: int = field(default=4, metadata={
        "help": "Default best-of-n of generate(), stored in the artifact."})
    max_new_tokens: int = field(default=160, metadata={
        "help": "Default max new tokens of generate(), stored in the artifact."})
    torch_threads: int = field(default=0, metadata={
        "help": "torch.set_num_threads (0: torch's default). 1 is fastest on a shared CPU."})


@dataclass
class GRPOScriptArguments:
    """The grpo stage's own arguments (trainer settings: GRPOConfig; ``model_name_or_path``: the
    sft stage's artifact)."""

    predictor: str | None = field(default=None, metadata={
        "help": "Difficulty predictor of the reward (default: the one the sft artifact names)."})
    penalty: float = field(default=3.0, metadata={
        "help": "Difficulty reward of a malformed item: -penalty."})
    torch_threads: int = field(default=0, metadata={
        "help": "torch.set_num_threads (0: torch's default). 1 is fastest on a shared CPU."})


STAGES = {"sft": (SFTScriptArguments, SFTConfig), "grpo": (GRPOScriptArguments, GRPOConfig)}

#: trainer settings recorded in the artifact's ``training`` table, per stage
RECORDED = {
    "sft": ("num_train_epochs", "max_steps", "per_device_train_batch_size", "learning_rate",
            "lr_scheduler_type", "max_length", "gradient_checkpointing", "seed"),
    "grpo": ("max_steps", "per_device_train_batch_size", "num_generations",
             "max_completion_length", "learning_rate", "temperature", "beta", "reward_weights",
             "loss_type", "gradient_checkpointing", "seed"),
}


def make_parser(stage: str) -> TrlParser:
    script_class, config_class = STAGES[stage]
    return TrlParser((script_class, config_class, ModelConfig),
                     prog=f"train_generator.py {stage}")


def log(message: str) -> None:
    print(f"[train_generator] {message}", file=sys.stderr, flush=True)


# ---- rewards (grpo stage) ---------------------------------------------------------------------


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversation whose last message is it."""
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}]
        return completion[-1]["content"] if completion else ""
    return str(completion)


def format_score(text: str) -> float:
    """1.0 for a well-formed item (``parse_item``); otherwise 0.1 for each part it has (starts
    with ``"Question: "``, has an ``"A. "`` line, has 4+ option lines, has an ``"Answer: "``
    line), so that RL gets a signal before the format is learnt."""
    if is_well_formed(text):
        return 1.0
    lines = text.strip().split("\n")
    parts = [lines[0].startswith("Question: "), any(line.startswith("A. ") for line in lines),
             sum(bool(OPTION_LINE.match(line)) for line in lines) >= MIN_OPTIONS,
             any(line.startswith("Answer: ") for line in lines)]
    return 0.1 * sum(parts)


def format_reward(completions: Sequence[Any], **_: Any) -> list[float]:
    """TRL reward function: ``format_score`` of each completion."""
    return [format_score(completion_text(c)) for c in completions]


class DifficultyReward:
    """TRL reward function: ``-|predictor(item) - target|`` for a well-formed item, ``-penalty``
    for a malformed one.

    ``GRPOTrainer`` calls it as ``reward(completions=..., target_difficulty=[...],
    category=[...], ...)`` (dataset columns come as keyword lists).
    """

    __name__ = "difficulty_reward"  # the name TRL logs the reward under

    def __init__(self, predictor: DifficultyPredictor, penalty: float = 3.0) -> None:
        self.predictor = predictor
        self.penalty = float(penalty)

    def __call__(self, completions: Sequence[Any], target_difficulty: Sequence[float],
                 category: Sequence[str | None] | None = None, **_: Any) -> list[float]:
        rewards = [-self.penalty] * len(completions)
        parsed = []
        for k, c in enumerate(completions):
            try:
                parsed.append((k, parse_item(completion_text(c))))
            except ItemFormatError:
                pass
        if parsed:
            cats = [category[k] for k, _ in parsed] if category is not None else None
            pred, _se = predict_items(self.predictor, [p for _, p in parsed], cats)
            for (k, _item), b in zip(parsed, pred, strict=True):
                rewards[k] = -abs(float(b) - float(target_difficulty[k]))
        return rewards


# ---- data -------------------------------------------------------------------------------------


def difficulty_range(bank: ItemBank, quantiles: list[float]) -> list[float]:
    """The target range: quantiles of the bank's calibrated ``b``, rounded to 0.1."""
    b = bank.b[~bank.predicted] if (~bank.predicted).any() else bank.b
    lo, hi = np.quantile(b, quantiles)
    return [round(float(lo), 1), round(float(hi), 1)]


def build_sft_examples(items_file: str, bank: ItemBank, args: SFTScriptArguments, seed: int
                       ) -> pd.DataFrame:
    """Rows ``question_id, category, b, question, options, answer_index, completion``: short,
    well-formed items spread evenly over difficulty bins (module docstring, sft stage, step 1)."""
    rng = np.random.default_rng(seed)
    lo, hi = difficulty_range(bank, args.range_quantiles)
    position = {q: k for k, q in enumerate(bank.ids)}
    rows = []
    for question in load_questions(items_file).values():
        k = position.get(question.question_id)
        if k is None or bank.predicted[k]:
            continue
        key = question.answer_index
        options = question.options
        distractors = [o for i, o in enumerate(options) if i != key][: args.max_options - 1]
        chosen = [options[key], *distractors]
        order = rng.permutation(len(chosen))
        chosen = [chosen[i] for i in order]
        new_key = int(np.flatnonzero(order == 0)[0])
        try:
            completion = format_item(question.text, chosen, new_key)
        except ItemFormatError:
            continue
        if len(completion) > args.max_item_chars or len(chosen) < 4:
            continue
        category = bank.category[k] if bank.category else (question.category or "general")
        rows.append((question.question_id, category, float(np.clip(bank.b[k], lo, hi)),
                     question.text, chosen, new_key, completion))
    frame = pd.DataFrame(rows, columns=["question_id", "category", "b", "question", "options",
                                        "answer_index", "completion"])
    if frame.empty:
        raise SystemExit(f"{items_file}: no item of the bank is short enough (max_item_chars="
                         f"{args.max_item_chars}) and well-formed")
    bins = np.minimum(((frame.b - lo) / (hi - lo) * args.difficulty_bins).astype(int),
                      args.difficulty_bins - 1)
    per_bin = int(np.ceil(args.n_sft_examples / args.difficulty_bins))
    picked = []
    for k in range(args.difficulty_bins):
        members = np.flatnonzero(bins.to_numpy() == k)
        picked += list(rng.permutation(members)[:per_bin])
    frame = frame.iloc[sorted(picked)].reset_index(drop=True)
    if len(frame) > args.n_sft_examples:
        frame = frame.iloc[np.sort(rng.choice(len(frame), args.n_sft_examples, replace=False))]
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def grpo_prompts(tokenizer, n: int, value_range: list[float], categories: list[str], seed: int
                 ) -> list[dict]:
    """``n`` rows ``{prompt, target_difficulty, category}``: targets uniform over the range
    (rounded to 0.1, as the prompt shows them), categories uniform."""
    rng = np.random.default_rng(seed + 1)
    targets = np.round(rng.uniform(*value_range, size=n), 1)
    cats = rng.choice(categories, size=n)
    return [{"prompt": build_prompt(tokenizer, t, c), "target_difficulty": float(t),
             "category": str(c)} for t, c in zip(targets, cats, strict=True)]


# ---- stages -----------------------------------------------------------------------------------


def last_logs(trainer, keys: tuple[str, ...]) -> dict:
    """Mean of the last few logged values of ``keys`` (from the trainer's log history)."""
    out = {}
    for key in keys:
        values = [h[key] for h in trainer.state.log_history if key in h]
        if values:
            out[key] = round(float(np.mean(values[-3:])), 4)
    return out


def recorded(stage: str, training_args) -> dict:
    """The trainer settings of ``stage`` kept in the artifact (``RECORDED``)."""
    out = {}
    for key in RECORDED[stage]:
        value = getattr(training_args, key)
        out[f"{stage}_{key}"] = getattr(value, "value", value)  # enums as their strings
    return out


def hardware() -> str:
    return ("cuda" if torch.cuda.is_available()
            else f"cpu, {torch.get_num_threads()} torch threads")


def save(generator: QuestionGenerator, training_args, push: bool, description: str) -> Path:
    """Write the artifact to ``output_dir``; upload it when ``push`` (``publish``'s checks)."""
    out = generator.save_pretrained(training_args.output_dir,
                                    card_variables={"training_description": description})
    log(f"saved {out}")
    if push:
        if not training_args.hub_model_id:
            raise SystemExit("--push_to_hub needs --hub_model_id ORG/NAME")
        log(f"pushed: {publish(out, training_args.hub_model_id)}")
    return out


def sft(script_args: SFTScriptArguments, training_args: SFTConfig, model_args: ModelConfig
        ) -> Path:
    """Stage 1 (module docstring): SFT of a fresh LoRA adapter; saves and returns ``output_dir``."""
    started = time.time()
    if script_args.torch_threads > 0:
        torch.set_num_threads(script_args.torch_threads)
    if not model_args.model_name_or_path:
        raise SystemExit("--model_name_or_path: the base causal LM is required")
    if not model_args.use_peft:
        raise SystemExit("the generator is a LoRA adapter: set use_peft (and the lora_* fields)")
    seed = training_args.seed
    bank = ItemBank.load(script_args.bank)
    value_range = difficulty_range(bank, script_args.range_quantiles)
    examples = build_sft_examples(script_args.items, bank, script_args, seed)
    categories = sorted(set(examples.category))
    log(f"{len(examples)} SFT examples, targets in {value_range}, {len(categories)} categories")

    base, tokenizer = QuestionGenerator.load_base(model_args.model_name_or_path,
                                                  model_args.model_revision)
    dataset = Dataset.from_list(
        [{"prompt": build_prompt(tokenizer, r.b, r.category), "completion": r.completion}
         for r in examples.itertuples()])
    push, training_args.push_to_hub = training_args.push_to_hub, False  # publish() uploads
    set_seed(seed)  # the LoRA initialisation
    trainer = SFTTrainer(model=base, args=training_args, train_dataset=dataset,
                         processing_class=tokenizer, peft_config=get_peft_config(model_args))
    trainer.train()

    modules = ",".join(model_args.lora_target_modules)
    lora = (f"r={model_args.lora_r}, alpha={model_args.lora_alpha}, "
            f"dropout={model_args.lora_dropout}, modules={modules}")
    training = {
        "base_model": model_args.model_name_or_path, "trl": trl.__version__,
        "sft_examples": len(examples),
        "sft_difficulty_range": [round(float(examples.b.min()), 2),
                                 round(float(examples.b.max()), 2)],
        "max_options": script_args.max_options, "max_item_chars": script_args.max_item_chars,
        "lora": lora, **recorded("sft", training_args),
        "sft_final_loss": last_logs(trainer, ("loss",)).get("loss"),
        "sft_seconds": round(time.time() - started), "sft_hardware": hardware(),
    }
    config = GeneratorConfig(
        base_model=model_args.model_name_or_path, base_model_revision=model_args.model_revision,
        predictor=script_args.predictor, difficulty_range=value_range, categories=categories,
        max_new_tokens=script_args.max_new_tokens, best_of=script_args.best_of,
        training_question_ids=list(examples.question_id), training=training,
    )
    dedup = NearDuplicateIndex.from_texts(
        [question_text(r.question, r.options) for r in examples.itertuples()], config.shingle_size)
    description = (
        f"Stage 1: TRL `SFTTrainer`, {len(examples)} MMLU-Pro items (formatted completion at most "
        f"{script_args.max_item_chars} characters, options cut to {script_args.max_options}: the "
        f"key plus the first distractors, shuffled), spread evenly over "
        f"{script_args.difficulty_bins} bins of the calibrated 2PL difficulty `b`; prompt = "
        "target `b` (rounded to 0.1) and category.")
    generator = QuestionGenerator(trainer.model, tokenizer, config, dedup)
    return save(generator, training_args, push, description)


def grpo(script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: ModelConfig
         ) -> Path:
    """Stage 2 (module docstring): GRPO on the sft artifact's adapter; saves ``output_dir``."""
    started = time.time()
    if script_args.torch_threads > 0:
        torch.set_num_threads(script_args.torch_threads)
    if not model_args.model_name_or_path:
        raise SystemExit("--model_name_or_path: the sft stage's output_dir is required")
    if training_args.max_steps <= 0:
        raise SystemExit("--max_steps: the grpo stage runs a fixed number of steps")
    seed = training_args.seed
    set_seed(seed)
    start = QuestionGenerator.from_pretrained(model_args.model_name_or_path, trainable=True)
    config = GeneratorConfig(**asdict(start.config))
    predictor = DifficultyPredictor.from_pretrained(script_args.predictor or config.predictor)
    completions_per_step = (training_args.per_device_train_batch_size
                            * training_args.gradient_accumulation_steps)
    prompts = grpo_prompts(
        start.tokenizer,
        training_args.max_steps * max(1, completions_per_step // training_args.num_generations),
        config.difficulty_range, config.categories, seed)
    reward = DifficultyReward(predictor, script_args.penalty)
    push, training_args.push_to_hub = training_args.push_to_hub, False  # publish() uploads
    trainer = GRPOTrainer(model=start.model, reward_funcs=[reward, format_reward],
                          args=training_args, train_dataset=Dataset.from_list(prompts),
                          processing_class=start.tokenizer)
    trainer.train()

    logs = last_logs(trainer, ("reward", "rewards/difficulty_reward/mean",
                               "rewards/format_reward/mean", "completions/mean_length"))
    log(f"GRPO done in {time.time() - started:.0f} s: {logs}")
    config.training = {
        **config.training, **recorded("grpo", training_args), "grpo_penalty": script_args.penalty,
        "grpo_final_logs": logs, "grpo_seconds": round(time.time() - started),
        "grpo_hardware": hardware(),
    }
    description = (
        f"Stage 1: TRL `SFTTrainer` on {config.training.get('sft_examples')} MMLU-Pro items, "
        f"prompt = target `b` (rounded to 0.1) and category. Stage 2: TRL `GRPOTrainer`, "
        f"{training_args.max_steps} steps, reward `-|predictor(item) - target|` "
        f"(-{script_args.penalty:g} when malformed) + 1 for a well-formed item, targets uniform "
        f"over [{config.difficulty_range[0]}, {config.difficulty_range[1]}].")
    generator = QuestionGenerator(trainer.model, start.tokenizer, config, start.dedup)
    return save(generator, training_args, push, description)


def main(argv: list[str] | None = None) -> Path:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in STAGES:
        print(__doc__, file=sys.stderr)
        raise SystemExit(0 if argv[:1] in (["-h"], ["--help"]) else
                         f"usage: train_generator.py {{{','.join(STAGES)}}} --config FILE [flags]")
    stage = argv[0]
    script_args, training_args, model_args = make_parser(stage).parse_args_and_config(argv[1:])
    return {"sft": sft, "grpo": grpo}[stage](script_args, training_args, model_args)


if __name__ == "__main__":
    main()
