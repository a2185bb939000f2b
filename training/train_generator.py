"""Train the question generator: SFT, then reward-guided RL (GRPO), a LoRA adapter on a causal LM.

    accelerate launch training/train_generator.py --config training/configs/generator.yaml

(one GPU: ``--config_file training/configs/accelerate/single_gpu.yaml``; several GPUs:
``multi_gpu.yaml``; sharded: ``fsdp.yaml`` or ``deepspeed.yaml``, all before the script path.
``python training/train_generator.py --config ...`` is the same on one CPU process.) Flags given on
the command line override the YAML file; ``--help`` lists every argument.

What it does:

1. SFT data (``build_sft_examples``): calibrated items of the bank joined with their text; items
   whose formatted completion is short (``max_item_chars``) and that survive a format/parse round
   trip; options cut to ``max_options`` (the key plus the first distractors, shuffled, seeded);
   ``n_sft_examples`` of them drawn evenly over ``difficulty_bins`` bins of ``b``. Prompt =
   ``build_prompt(tokenizer, b rounded to 0.1, category)``; completion = ``format_item(...)``.
2. Stage 1: TRL ``SFTTrainer`` (prompt-completion, loss on the completion only) trains a fresh
   peft LoRA adapter.
3. Stage 2: TRL ``GRPOTrainer`` continues the same adapter. Prompts: targets drawn uniformly over
   the bank's difficulty range (2.5%-97.5% quantiles of ``b``), random categories. Rewards:
   ``DifficultyReward`` = ``-|predictor(item) - target|`` (``-3`` for a malformed item) and
   ``format_reward`` (1 for a well-formed item). GRPO because it needs only a Python reward function
   and no value model: the cheapest on-policy RL trainer TRL has for a 135M model on a CPU.
   ``beta = 0`` (no KL to the base model: the base model cannot write the format at all).
4. Save ``output_dir`` (adapter, ``config.json`` with the settings, near-duplicate index of the SFT
   questions, model card) and the SFT-stage adapter in ``sft_output_dir`` (for the benchmark);
   upload with ``--push_to_hub --hub_model_id ORG/NAME``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from adaptive_eval.bank import ItemBank
from adaptive_eval.base_models import SMOLLM2
from adaptive_eval.generator import (
    DifficultyReward,
    GeneratorConfig,
    ItemFormatError,
    NearDuplicateIndex,
    QuestionGenerator,
    build_prompt,
    format_item,
    format_reward,
)
from adaptive_eval.predictor import DifficultyPredictor, question_text

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlu_pro"


@dataclass
class GeneratorTrainingArguments:
    items: str = field(default=str(DATA / "items.csv.gz"),
                       metadata={"help": "Items file: question_id, category, question, options "
                                         "(JSON list), answer_index."})
    bank: str = field(default="models/mmlu-pro-bank",
                      metadata={"help": "Calibrated item bank (folder or Hub id): targets b."})
    predictor: str | None = field(default=None, metadata={
        "help": "Difficulty predictor for the reward and reranking (default: embedded)."})
    base_model: str = field(default=SMOLLM2,
                            metadata={"help": "Base causal LM (Hub id or folder)."})
    output_dir: str = field(default="models/question-generator",
                            metadata={"help": "Where the trained artifact is saved."})
    sft_output_dir: str = field(default="test-output/question-generator-sft",
                                metadata={"help": "Where the SFT-stage adapter is saved."})
    seed: int = field(default=0, metadata={"help": "Seed of every RNG."})
    torch_threads: int = field(default=0, metadata={
        "help": "torch.set_num_threads (0: torch's default). 1 is fastest on a shared CPU."})
    # data
    n_sft_examples: int = field(default=160, metadata={"help": "SFT examples."})
    max_item_chars: int = field(default=260, metadata={
        "help": "Longest formatted completion (characters) kept for SFT."})
    max_options: int = field(default=4, metadata={"help": "Options per SFT item (4-10)."})
    difficulty_bins: int = field(default=8, metadata={"help": "SFT examples are spread evenly "
                                                              "over this many bins of b."})
    range_quantiles: list[float] = field(default_factory=lambda: [0.025, 0.975], metadata={
        "help": "Quantiles of the bank's b that bound the target range."})
    # LoRA
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        metadata={"help": "Modules that get LoRA adapters."})
    # stage 1
    sft_epochs: float = field(default=1.0, metadata={"help": "SFT epochs."})
    sft_batch_size: int = field(default=8, metadata={"help": "SFT per-device batch size."})
    sft_learning_rate: float = field(default=1e-3, metadata={"help": "SFT learning rate."})
    sft_max_length: int = field(default=320, metadata={"help": "SFT max tokens per example."})
    # stage 2
    grpo_steps: int = field(default=20, metadata={"help": "GRPO optimizer steps (0: skip RL)."})
    grpo_batch_size: int = field(default=8, metadata={
        "help": "GRPO per-device batch (completions); prompts per step = this / num_generations."})
    num_generations: int = field(default=4, metadata={"help": "Completions per prompt."})
    max_completion_length: int = field(default=96, metadata={"help": "GRPO max new tokens."})
    grpo_learning_rate: float = field(default=1e-4, metadata={"help": "GRPO learning rate."})
    grpo_temperature: float = field(default=1.0, metadata={"help": "GRPO sampling temperature."})
    beta: float = field(default=0.0, metadata={"help": "KL coefficient (0: no reference model)."})
    reward_weights: list[float] = field(default_factory=lambda: [1.0, 1.0], metadata={
        "help": "Weights of [difficulty reward, format reward]."})
    bf16: bool = field(default=False, metadata={"help": "bf16 mixed precision (GPU)."})
    gradient_checkpointing: bool = field(default=False, metadata={
        "help": "Recompute activations in the backward pass (less memory, ~30% more compute)."})
    logging_steps: int = field(default=5, metadata={"help": "Log every N steps."})
    resume_sft: bool = field(default=False, metadata={
        "help": "Reuse the SFT adapter already saved in sft_output_dir instead of training it."})
    # generation defaults stored in the artifact
    best_of: int = field(default=4, metadata={"help": "Default best-of-n of generate()."})
    max_new_tokens: int = field(default=160, metadata={"help": "generate() max new tokens."})
    # hub
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the artifact."})
    hub_model_id: str | None = field(default=None, metadata={"help": "ORG/NAME to upload to."})


def log(message: str) -> None:
    print(f"[train_generator] {message}", file=sys.stderr, flush=True)


def difficulty_range(bank: ItemBank, quantiles: list[float]) -> list[float]:
    """The target range: quantiles of the bank's calibrated ``b``, rounded to 0.1."""
    b = bank.b[~bank.predicted] if (~bank.predicted).any() else bank.b
    lo, hi = np.quantile(b, quantiles)
    return [round(float(lo), 1), round(float(hi), 1)]


def build_sft_examples(items: pd.DataFrame, bank: ItemBank, args: GeneratorTrainingArguments,
                       ) -> pd.DataFrame:
    """Rows ``question_id, category, b, question, options, answer_index, completion``: short,
    well-formed items spread evenly over difficulty bins (see the module docstring)."""
    rng = np.random.default_rng(args.seed)
    lo, hi = difficulty_range(bank, args.range_quantiles)
    position = {q: k for k, q in enumerate(bank.ids)}
    rows = []
    for row in items.itertuples(index=False):
        k = position.get(str(row.question_id))
        if k is None or bank.predicted[k]:
            continue
        options = json.loads(row.options) if isinstance(row.options, str) else list(row.options)
        key = int(row.answer_index)
        distractors = [o for i, o in enumerate(options) if i != key][: args.max_options - 1]
        chosen = [options[key], *distractors]
        order = rng.permutation(len(chosen))
        chosen = [chosen[i] for i in order]
        new_key = int(np.flatnonzero(order == 0)[0])
        try:
            completion = format_item(row.question, chosen, new_key)
        except ItemFormatError:
            continue
        if len(completion) > args.max_item_chars or len(chosen) < 4:
            continue
        category = bank.category[k] if bank.category else getattr(row, "category", "general")
        rows.append((str(row.question_id), category, float(np.clip(bank.b[k], lo, hi)),
                     row.question.strip(), chosen, new_key, completion))
    frame = pd.DataFrame(rows, columns=["question_id", "category", "b", "question", "options",
                                        "answer_index", "completion"])
    if frame.empty:
        raise ValueError(f"{args.items}: no item is short enough (max_item_chars="
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
    return frame.sample(frac=1.0, random_state=args.seed).reset_index(drop=True)


def grpo_prompts(tokenizer, n: int, value_range: list[float], categories: list[str], seed: int
                 ) -> list[dict]:
    """``n`` rows ``{prompt, target_difficulty, category}``: targets uniform over the range
    (rounded to 0.1, as the prompt shows them), categories uniform."""
    rng = np.random.default_rng(seed + 1)
    targets = np.round(rng.uniform(*value_range, size=n), 1)
    cats = rng.choice(categories, size=n)
    return [{"prompt": build_prompt(tokenizer, t, c), "target_difficulty": float(t),
             "category": str(c)} for t, c in zip(targets, cats, strict=True)]


def new_lora_model(base, args: GeneratorTrainingArguments):
    """The base model with a fresh peft LoRA adapter (seeded)."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(args.seed)
    config = LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                        target_modules=list(args.lora_target_modules), task_type="CAUSAL_LM")
    return get_peft_model(base, config)


def run_sft(model, tokenizer, examples: pd.DataFrame, args: GeneratorTrainingArguments,
            work_dir: Path):
    """Stage 1: TRL SFTTrainer on prompt -> completion; returns the trainer (model trained)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = [{"prompt": build_prompt(tokenizer, r.b, r.category), "completion": r.completion}
            for r in examples.itertuples()]
    config = SFTConfig(
        output_dir=str(work_dir / "sft"), num_train_epochs=args.sft_epochs,
        per_device_train_batch_size=args.sft_batch_size, learning_rate=args.sft_learning_rate,
        lr_scheduler_type="cosine", warmup_steps=0.05, max_length=args.sft_max_length,
        logging_steps=args.logging_steps, save_strategy="no", report_to="none", seed=args.seed,
        bf16=args.bf16, completion_only_loss=True, dataloader_num_workers=0,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer)
    trainer.train()
    return trainer


def run_grpo(model, tokenizer, predictor: DifficultyPredictor, value_range: list[float],
             categories: list[str], args: GeneratorTrainingArguments, work_dir: Path,
             reward: DifficultyReward | None = None):
    """Stage 2: TRL GRPOTrainer with the difficulty and format rewards; returns the trainer."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    prompts_per_step = max(1, args.grpo_batch_size // args.num_generations)
    rows = grpo_prompts(tokenizer, args.grpo_steps * prompts_per_step, value_range, categories,
                        args.seed)
    config = GRPOConfig(
        output_dir=str(work_dir / "grpo"), max_steps=args.grpo_steps,
        per_device_train_batch_size=args.grpo_batch_size, num_generations=args.num_generations,
        max_completion_length=args.max_completion_length, learning_rate=args.grpo_learning_rate,
        temperature=args.grpo_temperature, beta=args.beta, reward_weights=args.reward_weights,
        logging_steps=args.logging_steps, save_strategy="no", report_to="none", seed=args.seed,
        bf16=args.bf16, dataloader_num_workers=0,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    reward = reward or DifficultyReward(predictor)
    trainer = GRPOTrainer(model=model, reward_funcs=[reward, format_reward], args=config,
                          train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    trainer.train()
    return trainer


def last_logs(trainer, keys: tuple[str, ...]) -> dict:
    """Mean of the last few logged values of ``keys`` (from the trainer's log history)."""
    out = {}
    for key in keys:
        values = [h[key] for h in trainer.state.log_history if key in h]
        if values:
            out[key] = round(float(np.mean(values[-3:])), 4)
    return out


def main(args: GeneratorTrainingArguments, predictor: DifficultyPredictor | None = None
         ) -> QuestionGenerator:
    """Train (stage 1 and 2), save ``output_dir`` (and ``sft_output_dir``); return the generator."""
    started = time.time()
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    bank = ItemBank.load(args.bank)
    items = pd.read_csv(args.items, dtype={"question_id": str}, keep_default_na=False) \
        if not str(args.items).endswith((".jsonl", ".jsonl.gz")) \
        else pd.read_json(args.items, lines=True, dtype={"question_id": str})
    value_range = difficulty_range(bank, args.range_quantiles)
    examples = build_sft_examples(items, bank, args)
    categories = sorted(set(examples.category))
    log(f"{len(examples)} SFT examples, targets in {value_range}, {len(categories)} categories")
    base, tokenizer = QuestionGenerator.load_base(args.base_model)
    work_dir = Path(args.sft_output_dir).parent / "work"
    config = GeneratorConfig(
        base_model=args.base_model, predictor=args.predictor, difficulty_range=value_range,
        categories=categories, max_new_tokens=args.max_new_tokens, best_of=args.best_of,
    )
    dedup = NearDuplicateIndex.from_texts(
        [question_text(r.question, r.options) for r in examples.itertuples()], config.shingle_size)

    sft_saved = Path(args.sft_output_dir) / "config.json"
    if args.resume_sft and sft_saved.exists():
        from peft import PeftModel

        model = PeftModel.from_pretrained(base, args.sft_output_dir, is_trainable=True)
        sft_info = json.loads(sft_saved.read_text())["training"]
        log(f"reusing the SFT adapter in {args.sft_output_dir}")
    else:
        model = new_lora_model(base, args)
        t0 = time.time()
        sft = run_sft(model, tokenizer, examples, args, work_dir)
        sft_info = {"stage": "sft only", "sft_seconds": round(time.time() - t0),
                    "sft_final_loss": last_logs(sft, ("loss",)).get("loss")}
        model = sft.model
        sft_generator = QuestionGenerator(model, tokenizer, GeneratorConfig(**asdict(config)),
                                          dedup)
        sft_generator.config.training = sft_info
        sft_generator.save_pretrained(args.sft_output_dir)
        log(f"SFT done: {sft_info}")

    grpo_seconds, grpo_logs = 0.0, {}
    if args.grpo_steps > 0:
        predictor = predictor or DifficultyPredictor.from_pretrained(args.predictor)
        t0 = time.time()
        grpo = run_grpo(model, tokenizer, predictor, value_range, categories, args, work_dir)
        grpo_seconds = time.time() - t0
        model = grpo.model
        grpo_logs = last_logs(grpo, ("reward", "rewards/difficulty_reward/mean",
                                     "rewards/format_reward/mean", "completions/mean_length"))
        log(f"GRPO done in {grpo_seconds:.0f} s: {grpo_logs}")

    config.training = {
        "base_model": args.base_model, "sft_examples": len(examples),
        "sft_epochs": args.sft_epochs, "sft_batch_size": args.sft_batch_size,
        "sft_learning_rate": args.sft_learning_rate, "max_options": args.max_options,
        "max_item_chars": args.max_item_chars, "lora": f"r={args.lora_r}, alpha={args.lora_alpha}, "
        f"dropout={args.lora_dropout}, modules={','.join(args.lora_target_modules)}",
        "grpo_steps": args.grpo_steps, "grpo_batch_size": args.grpo_batch_size,
        "num_generations": args.num_generations,
        "max_completion_length": args.max_completion_length,
        "grpo_learning_rate": args.grpo_learning_rate, "grpo_temperature": args.grpo_temperature,
        "beta": args.beta, "reward_weights": list(args.reward_weights), "seed": args.seed,
        "gradient_checkpointing": args.gradient_checkpointing,
        "sft_final_loss": sft_info.get("sft_final_loss"),
        "grpo_final_logs": grpo_logs, "sft_seconds": sft_info.get("sft_seconds"),
        "grpo_seconds": round(grpo_seconds), "total_seconds": round(time.time() - started),
        "hardware": "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} "
                                                            "torch threads",
    }
    generator = QuestionGenerator(model, tokenizer, config, dedup, predictor)
    description = (
        f"Stage 1: TRL `SFTTrainer`, {len(examples)} MMLU-Pro items (formatted completion at most "
        f"{args.max_item_chars} characters, options cut to {args.max_options}: the key plus the "
        f"first distractors, shuffled), spread evenly over {args.difficulty_bins} bins of the "
        f"calibrated 2PL difficulty `b`; prompt = target `b` (rounded to 0.1) and category. "
        f"Stage 2: TRL `GRPOTrainer`, {args.grpo_steps} steps, reward "
        f"`-|predictor(item) - target|` (-3 when malformed) + 1 for a well-formed item, targets "
        f"uniform over [{value_range[0]}, {value_range[1]}].")
    generator.save_pretrained(args.output_dir, card_variables={"training_description": description})
    log(f"saved {args.output_dir} ({time.time() - started:.0f} s in all)")
    if args.push_to_hub:
        from adaptive_eval.hub import publish

        if not args.hub_model_id:
            raise SystemExit("--push_to_hub needs --hub_model_id ORG/NAME")
        log(f"pushed: {publish(args.output_dir, args.hub_model_id)}")
    return generator


def parse_args(argv: list[str] | None = None) -> GeneratorTrainingArguments:
    """Dataclass arguments from ``--config file.yaml`` and flags (flags win)."""
    from trl import TrlParser

    (args,) = TrlParser([GeneratorTrainingArguments]).parse_args_and_config(argv)
    return args


if __name__ == "__main__":
    main(parse_args())
