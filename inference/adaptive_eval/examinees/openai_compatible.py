"""A model behind any OpenAI-compatible server (vLLM, SGLang, llama.cpp, hosted APIs).

``ChatServer`` is the one client of such a server in the package, on the ``openai`` library
(retries with backoff on timeouts, connection errors, 429 and 5xx; typed errors). Each request
returns a ``Completion``: the text, whether it was cut at the token budget
(``finish_reason == "length"``) and the tokens the server reports. ``OpenAIExaminee`` asks one
question per request and turns the completion into an ``Answer``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import openai

from ..banks.answers import parse_letter
from ..banks.protocol import Protocol
from ..banks.questions import LETTERS, Question, format_prompt
from .base import Answer, Completion, ExamineeError, QuestionExaminee, score_reply


class ChatServer:
    """An OpenAI-compatible server at ``base_url`` (``http://host:port/v1``).

    ``complete(messages=...)`` posts to ``{base_url}/chat/completions``, ``complete(prompt=...)``
    to ``{base_url}/completions``; ``settings`` (``max_tokens``, ``temperature``, ``top_p``,
    ``stop``, ``seed``) go into the request as given. A request that times out (``timeout`` s),
    cannot connect or gets a 408/409/429/5xx is retried ``retries`` times by the client with
    exponential backoff; then ``ExamineeError`` names the URL and the last error. Other HTTP
    errors, and replies that are not completions, raise ``ExamineeError`` at once. ``api_key``
    defaults to ``$OPENAI_API_KEY`` (a placeholder is sent when unset: local servers ignore it).
    """

    def __init__(self, base_url: str, timeout: float = 60, retries: int = 3,
                 api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = max(0, int(retries))
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key or "none",
                                    timeout=timeout, max_retries=self.retries)

    def complete(self, model: str, *, messages: list[dict] | None = None,
                 prompt: str | None = None, **settings) -> Completion:
        """One completion of ``messages`` (chat) or ``prompt`` (plain completion)."""
        chat = messages is not None
        url = f"{self.base_url}/{'chat/completions' if chat else 'completions'}"
        try:
            if chat:
                reply = self.client.chat.completions.create(model=model, messages=messages,
                                                            **settings)
                text = reply.choices[0].message.content
            else:
                reply = self.client.completions.create(model=model, prompt=prompt, **settings)
                text = reply.choices[0].text
        except openai.APIStatusError as err:
            raise ExamineeError(f"{url}: HTTP {err.status_code}: {str(err)[:300]}") from None
        except (openai.APITimeoutError, openai.APIConnectionError) as err:
            raise ExamineeError(f"{url}: no answer after {self.retries + 1} attempts (last: "
                                f"{type(err).__name__}: {str(err)[:200]})") from None
        except (openai.APIResponseValidationError, AttributeError, IndexError, TypeError):
            raise ExamineeError(f"{url}: not an OpenAI completion") from None
        usage = getattr(reply, "usage", None)
        tokens = None if usage is None else {"prompt": int(usage.prompt_tokens or 0),
                                             "completion": int(usage.completion_tokens or 0)}
        return Completion(str(text or ""), reply.choices[0].finish_reason == "length", tokens)


class OpenAIExaminee(QuestionExaminee):
    """A model behind an OpenAI-compatible API answering questions.

    Under a bank's calibration ``protocol`` (``banks.protocol.Protocol``, what the CLI uses by
    default): each question is the request the protocol makes (chat messages or a completion
    prompt, its exemplars, token budget, temperature, top-p and stop sequences; ``max_new_tokens``
    and ``temperature`` override its budget and temperature when given) and the reply is read and
    judged by the protocol's rule. Without one, the package's quick way: one chat request with
    ``format_prompt(question)`` (``temperature``, default 0); multiple choice: the chosen letter
    parsed with ``parse_letter`` from at most ``max_tokens`` tokens (a reply naming no option
    counts as wrong); free form: the reply (at most ``max_new_tokens`` tokens) read with
    ``answers.extract`` and scored against the gold answer. ``answer`` returns an ``Answer`` with
    the raw reply (also kept in ``last_reply``), the extracted answer, whether the reply was cut
    at the budget (``truncated``) and the tokens the server reported. Connection, retry and
    error behaviour: ``ChatServer``. ``concurrent``: questions may be asked from several threads
    at once (one request each; the adaptive test's ``parallel``).
    """

    concurrent = True

    def __init__(
        self,
        base_url: str,
        model: str,
        questions: Mapping[str, Question],
        timeout: float = 60,
        retries: int = 3,
        api_key: str | None = None,
        max_tokens: int = 32,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        protocol: Protocol | Mapping[str, Protocol] | None = None,
    ) -> None:
        super().__init__(questions, protocol)
        self.server = ChatServer(base_url, timeout, retries, api_key)
        self.base_url, self.model = self.server.base_url, model
        self.name = f"openai:{self.base_url}:{model}"
        self.url = f"{self.base_url}/chat/completions"
        self.max_tokens, self.max_new_tokens = int(max_tokens), max_new_tokens
        self.temperature = temperature
        self.last_reply: str | None = None

    def answer(self, question_id: str) -> Answer:
        question = self.question(question_id)
        protocol = self.protocol_of(question)
        if protocol is not None:
            return self._answer_under_protocol(question, protocol)
        budget = (self.max_new_tokens or 512) if question.free_form else self.max_tokens
        reply = self.server.complete(
            self.model, messages=[{"role": "user", "content": format_prompt(question)}],
            max_tokens=budget, temperature=self.temperature or 0.0)
        self.last_reply = reply.text
        if question.free_form:
            return score_reply(question, reply)
        chosen = parse_letter(reply.text, len(question.options))
        return Answer(int(chosen == question.answer_index), reply.text,
                      None if chosen is None else LETTERS[chosen], reply.truncated, reply.tokens)

    def _answer_under_protocol(self, question: Question, protocol: Protocol) -> Answer:
        request = protocol.request(question)
        settings = {"max_tokens": self.max_new_tokens or request["max_new_tokens"],
                    "temperature": request["temperature"] if self.temperature is None
                    else self.temperature, "top_p": request["top_p"]}
        if request["stop"]:
            settings["stop"] = request["stop"]
        reply = self.server.complete(self.model, messages=request.get("messages"),
                                     prompt=request.get("prompt"), **settings)
        self.last_reply = reply.text
        extracted, correct = protocol.score(reply.text, question)
        return Answer(correct, reply.text, extracted, reply.truncated, reply.tokens)
