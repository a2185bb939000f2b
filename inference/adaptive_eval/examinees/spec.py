"""``examinee_from_spec``: an examinee from a command-line spec (replay, hf, openai, lm-eval)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..banks.answers import MULTIPLE_CHOICE, check_answer_type
from ..banks.hub_questions import bank_questions
from ..banks.protocol import Protocol
from ..banks.questions import Question, load_questions
from ..banks.responses import ResponseData
from ..extras import require
from .base import Examinee, ExamineeError, ExamineeSpecError
from .openai_compatible import OpenAIExaminee
from .replay import ReplayExaminee

if TYPE_CHECKING:
    from .lm_eval import Prompt

SPEC_FORMS = ("replay:RESPONSES:MODEL, hf:MODEL_PATH_OR_ID, openai:BASE_URL:MODEL or "
              "lm-eval:BACKEND:MODEL_ARGS")


_OPENAI_SPEC = re.compile(r"^(https?://[^/:\s]+(?::\d+)?(?:/[^:\s]*)?):(.+)$")


def examinee_from_spec(
    spec: str,
    *,
    questions: Mapping[str, Question] | str | Path | None = None,
    responses: ResponseData | None = None,
    answer_type: str | None = None,
    prompts: Mapping[str, Prompt] | None = None,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
    bank: str | Path | None = None,
    protocol: Protocol | Mapping[str, Protocol] | None = None,
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
    when None they are those of ``bank`` (a bank name or folder, default ``mmlu-pro``) from its
    Hub dataset (``banks.hub_questions.bank_questions``: the Hugging Face cache offline; a clear
    error naming the dataset when neither has it, ``ReplayBankError`` for a replay bank).
    ``answer_type`` is passed to ``load_questions`` for an items file: the type of its
    free-form rows (see ``banks.answers``). ``max_new_tokens`` (every generated reply's token
    budget) and ``temperature`` apply to the generating examinees (``hf`` greedy only);
    ``protocol`` (a bank's calibration protocol, ``banks.protocol``, or one per question id for a
    suite) is how the live examinees ask and read (None: the package's quick way, the letter for
    multiple choice). Raises
    ``ExamineeSpecError`` naming the spec when it does not parse, ``AnswerTypeError`` for an
    unknown answer type.
    """
    kind, sep, rest = spec.partition(":")
    if answer_type is not None and kind != "replay":  # replayed answers need no reading rule
        check_answer_type(answer_type)
    if not sep or not rest:
        raise ExamineeSpecError(f"examinee spec {spec!r} does not parse; use {SPEC_FORMS}")
    if kind == "replay":
        return _replay_from_spec(spec, rest, responses)
    if kind == "hf":
        require("hf", "a local transformers model (hf:)")
        from .hf import HFExaminee  # torch, transformers: only for a local model

        if temperature:
            raise ExamineeSpecError(f"examinee spec {spec!r}: hf examinees decode greedily; "
                                    "--temperature is not supported")
        return HFExaminee(rest, _questions(questions, answer_type, bank),
                          max_new_tokens=max_new_tokens, protocol=protocol)
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
        settings: dict = {} if max_new_tokens is None else {"max_tokens": max_new_tokens}
        found = _questions(questions, answer_type, bank)
        return OpenAIExaminee(base_url, model, found, max_new_tokens=max_new_tokens,
                              temperature=temperature, protocol=protocol, **settings)
    if kind == "lm-eval":
        backend, sep, model_args = rest.partition(":")
        if not sep or not backend:
            raise ExamineeSpecError(
                f"examinee spec {spec!r} does not parse; use lm-eval:BACKEND:MODEL_ARGS, "
                "e.g. lm-eval:hf:pretrained=HuggingFaceTB/SmolLM2-135M-Instruct,dtype=float32"
            )
        require("lm-eval", "an lm-evaluation-harness backend (lm-eval:)")
        # the optional extra's module: imported only when an lm-eval: spec asks for it
        from .lm_eval import (
            LMEvalExaminee,
            check_backend_spec,
            load_backend,
            question_prompt,
        )

        check_backend_spec(backend, model_args)  # spec errors before reading question text
        if prompts is None:
            found = _questions(questions, answer_type, bank)
            of = protocol.get if isinstance(protocol, Mapping) else lambda qid: protocol
            prompts = {qid: question_prompt(q, max_new_tokens, of(qid))
                       for qid, q in found.items()}
        return LMEvalExaminee(spec, load_backend(backend, model_args), prompts)
    raise ExamineeSpecError(f"examinee spec {spec!r}: unknown kind {kind!r}; use {SPEC_FORMS}")



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
    questions: Mapping[str, Question] | str | Path | None, answer_type: str | None = None,
    bank: str | Path | None = None,
) -> Mapping[str, Question]:
    if questions is None:
        if bank is None and answer_type not in (None, MULTIPLE_CHOICE):
            raise ExamineeError(
                f"no question text for {answer_type} questions: pass an items file "
                "(--items FILE / questions=...) or the bank they are from (bank=...)"
            )
        return bank_questions(bank if bank is not None else "mmlu-pro")
    if isinstance(questions, (str, Path)):
        return load_questions(questions, answer_type=answer_type)
    return questions
