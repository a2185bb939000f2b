"""Question generation by any OpenAI-compatible chat server, conditioned by examples.

No training: the server's model sees ``shots`` real bank items whose calibrated difficulty is
close to the target as earlier turns of the chat (a request for an item of the example's
difficulty, answered by the example), then the request for one item of the target difficulty,
in the same format (``generator.format_example``: lettered options and ``Answer:
<letter>`` for multiple choice, ``Answer: <gold>`` for free form). The examples of one request
are drawn (seeded) from the ``3 * shots`` bank items closest to the target, preferring the
requested category when it has that many items. Each candidate is one ``POST
{base_url}/chat/completions`` (``config.temperature``, ``config.top_p``, ``max_tokens =
config.max_new_tokens``), ``workers`` requests at a time; a reply cut at ``max_tokens`` is
dropped, and of the others the text from the first ``Question:`` line to the first ``Answer:``
line is parsed. Everything after that (ranking by the predictor, dropping candidates further
than ``config.max_distance`` from the target, verification) is ``QuestionGenerator.generate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import openai

from ..banks.answers import MULTIPLE_CHOICE, instruction
from ..banks.bank import ItemBank
from ..banks.questions import Question
from ..examinees import ChatServer, ExamineeError, OpenAIExaminee, examinee_from_spec
from .generator import GeneratorConfig, QuestionGenerator
from .item_format import ItemFormatError, format_example
from .predictor import DifficultyPredictor


@dataclass(frozen=True)
class Example:
    """A bank item shown to the server: its text as a generator writes it, its calibrated
    difficulty and category."""

    text: str
    difficulty: float
    category: str | None = None


def bank_examples(bank: ItemBank, questions: Mapping[str, Question]) -> list[Example]:
    """The bank's items that have question text, as examples (difficulty = the bank's ``b``);
    items that a generator could not write (``ItemFormatError``: e.g. repeated options) are
    left out."""
    out = []
    for k, question_id in enumerate(bank.ids):
        q = questions.get(question_id)
        if q is None:
            continue
        answer = q.answer_letter if not q.free_form else str(q.answer)
        try:
            text = format_example(q.text, q.options, answer)
        except ItemFormatError:
            continue
        out.append(Example(text, float(bank.b[k]), q.category))
    return out


def item_text(reply: str) -> str | None:
    """The lines of ``reply`` from the first starting ``Question:`` to the first starting
    ``Answer:`` (None when there is no such pair)."""
    lines = [line.strip() for line in reply.replace("\r", "").strip("`\n ").split("\n")]
    start = next((i for i, line in enumerate(lines) if line.startswith("Question:")), None)
    if start is None:
        return None
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("Answer:")), None)
    return None if end is None else "\n".join(lines[start : end + 1])


class ServerGenerator(QuestionGenerator):
    """A ``QuestionGenerator`` whose samples come from a chat server (module docstring).

    ``spec`` is ``openai:BASE_URL:MODEL`` (parsed as the examinee spec); the server is asked
    for its model list at once, so an unreachable backend fails here with one line naming the
    URL. ``answer_type`` is the items' (the bank's) answer type.
    """

    def __init__(self, spec: str, examples: Sequence[Example],
                 answer_type: str = MULTIPLE_CHOICE,
                 predictor: DifficultyPredictor | None = None,
                 config: GeneratorConfig | None = None, shots: int = 4, workers: int = 4,
                 timeout: float = 120, api_key: str | None = None) -> None:
        server = examinee_from_spec(spec, questions={})
        if not isinstance(server, OpenAIExaminee):
            raise ValueError(f"generation backend {spec!r}: expected openai:BASE_URL:MODEL")
        if not examples:
            raise ValueError("no bank items with question text to show the server as examples "
                             "(pass the bank's items file with --items)")
        categories = sorted({e.category for e in examples if e.category})
        super().__init__(None, None, config or GeneratorConfig(
            base_model=spec, categories=categories, max_distance=1.0, best_of=3,
            max_new_tokens=384), None,
            predictor)
        self.answer_type = answer_type
        self.base_url, self.model = server.base_url, server.model
        self.examples = list(examples)
        self.shots, self.workers = int(shots), int(workers)
        self.server = ChatServer(self.base_url, timeout, retries=0, api_key=api_key)
        try:
            self.server.client.with_options(timeout=10).models.list()
        except (openai.APIConnectionError, openai.APIStatusError) as err:
            raise ValueError(f"generation backend {self.base_url} is unreachable: "
                             f"{type(err).__name__}") from None

    def messages(self, difficulty: float, category: str | None, rng: np.random.Generator
                 ) -> list[dict[str, str]]:
        """The chat for one item of ``difficulty`` (module docstring): each example as a user
        request for an item of its difficulty answered by the example, then the request for
        ``difficulty``."""
        pool = [e for e in self.examples if e.category == category]
        if len(pool) < 3 * self.shots:
            pool = self.examples
        near = sorted(pool, key=lambda e: abs(e.difficulty - difficulty))[: 3 * self.shots]
        chosen = [near[k] for k in sorted(rng.choice(len(near), min(self.shots, len(near)),
                                                     replace=False))]
        if self.answer_type == MULTIPLE_CHOICE:
            form = "Question: ..., lettered options A. B. C. ..., then Answer: <letter>"
        else:
            form = ("Question: ..., then a last line Answer: <the final answer only> "
                    f"(graded as: {instruction(self.answer_type)})")
        topic = f" in the category {category}" if category else ""

        def request(b: float, where: str) -> dict[str, str]:
            return {"role": "user", "content": (
                f"Write one new exam question{where} with difficulty {b:+.1f} on an IRT scale "
                "(about -3 very easy, 0 average, +3 very hard). Exactly one answer is correct "
                f"and the key must be right. Format: {form}. Write nothing else.")}

        chat = []
        for e in chosen:
            where = f" in the category {e.category}" if e.category else ""
            chat += [request(e.difficulty, where), {"role": "assistant", "content": e.text}]
        return chat + [request(difficulty, topic)]

    def sample(self, targets: Sequence[float], categories: Sequence[str | None], seed: int = 0,
               batch_size: int = 16, do_sample: bool = True) -> list[str | None]:
        """One item text per (target, category) (``item_text`` of the reply), ``None`` where the
        reply was cut at ``max_new_tokens`` or holds no item. ``batch_size`` is unused here:
        ``workers`` requests run at once."""
        prompts = [self.messages(t, c, np.random.default_rng([seed, k]))
                   for k, (t, c) in enumerate(zip(targets, categories, strict=True))]
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(lambda kp: self._complete(kp[1], seed * 100_003 + kp[0],
                                                           do_sample), enumerate(prompts)))

    def _complete(self, messages: list[dict[str, str]], seed: int, do_sample: bool
                  ) -> str | None:
        try:
            reply = self.server.complete(
                self.model, messages=messages, max_tokens=self.config.max_new_tokens, seed=seed,
                temperature=self.config.temperature if do_sample else 0.0,
                top_p=self.config.top_p)
        except ExamineeError as err:
            raise ValueError(f"generation backend {err}") from None
        if reply.truncated:
            return None
        return item_text(reply.text)
