"""A model behind any OpenAI-compatible chat server (vLLM, SGLang, llama.cpp, hosted APIs)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import requests

from ..banks.answers import parse_letter
from ..banks.questions import LETTERS, Question, format_prompt
from .base import Answer, ExamineeError, QuestionExaminee, score_reply


class OpenAIExaminee(QuestionExaminee):
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
        return score_reply(question, reply)

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
