"""The ``lm-eval`` examinee: any model backend of lm-evaluation-harness answers the questions.

Spec ``lm-eval:BACKEND:MODEL_ARGS`` (see ``examinees.examinee_from_spec``): BACKEND is a name in
lm-eval's model registry (``hf``, ``vllm``, ``sglang``, ``local-completions``, ...) and
MODEL_ARGS its own ``key=value,...`` string, so the backend is built exactly as ``lm_eval
--model BACKEND --model_args MODEL_ARGS`` builds it
(``get_model(BACKEND).create_from_arg_string(MODEL_ARGS, {"batch_size": ...})``). Batching,
tensor parallelism and serving come from the backend.

Each question becomes the backend's own requests (``lm_eval.api.instance.Instance``):

- multiple choice: one ``loglikelihood`` request per option, ``(prompt, " " + letter)`` with the
  package's ``format_prompt``; the chosen option is the argmax (as ``HFExaminee`` does);
- free form: one ``generate_until`` request (``format_prompt`` and a newline; greedy, at most
  ``max_new_tokens`` tokens), read with ``answers.extract`` and scored against the gold answer.

With an lm-eval task (``load_task_prompts``), the task makes the prompts and requests instead:
``task.fewshot_context`` (the task's ``num_fewshot``) and ``task.construct_requests``. A
``multiple_choice`` task's requests are the log-likelihoods of its choices (argmax against
``doc_to_target``); a ``generate_until`` task's reply goes through the task's first filter pipeline
(``filter_list[0]``: gsm8k's ``strict-match`` regex ``#### N``, mmlu_pro's ``custom-extract``
``answer is (X)``; a task without one keeps the whole reply), is then read with the bank's answer
type and scored against the answer read from ``doc_to_target`` (``"... #### 18"`` gives ``18``).

The real tasks run offline on a local copy of their Hub dataset (a folder laid out like the dataset
repository, e.g. ``hf download openai/gsm8k --repo-type dataset --local-dir gsm8k``) through a task
YAML that ``include:``s the installed task and sets ``dataset_path`` to that folder (see README).

lm_eval is an optional extra (``pip install 'adaptive-eval[lm-eval]'``): only this module imports
it, and only ``examinee_from_spec`` (for an ``lm-eval:`` spec) and the CLI's ``--lm-eval-task``
import this module.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lm_eval.models  # noqa: F401  (registers the backends in model_registry)
import numpy as np
import torch
from lm_eval.api.filter import FilterEnsemble
from lm_eval.api.instance import Instance
from lm_eval.api.model import LM
from lm_eval.api.registry import get_model, model_registry
from lm_eval.api.task import Task
from lm_eval.tasks import TaskManager

from ..amortized.base_models import BaseModelNotFound, resolve_base_model
from ..banks.answers import MULTIPLE_CHOICE, extract, is_correct
from ..banks.protocol import Protocol
from ..banks.questions import LETTERS, Question, format_prompt
from ..errors import InputError
from .base import Answer, ExamineeError, ExamineeSpecError, QuestionExaminee

#: Backends whose ``pretrained`` is a transformers model: resolved like ``hf:`` (local folder,
#: Hub / cache, then the package's offline copies such as SmolLM2), loaded from safetensors, on
#: CUDA when available else CPU unless ``device`` is given.
TRANSFORMERS_BACKENDS = ("hf", "hf-auto", "huggingface")


@dataclass
class Prompt:
    """One question as lm-eval requests: ``requests`` (``loglikelihood`` per option, or one
    ``generate_until``), the ``gold`` answer (a letter for multiple choice), its
    ``answer_type``; ``task``, ``doc_id`` and ``doc`` name the lm-eval document it came from, and
    ``filter`` is the task's filter pipeline a free-form reply goes through (None: none);
    ``protocol`` (with its ``question``), when set, reads and judges the reply instead."""

    question_id: str
    requests: list[Instance]
    gold: str
    answer_type: str
    task: str | None = None
    doc_id: int | None = None
    doc: dict = field(default_factory=dict)
    filter: FilterEnsemble | None = None
    protocol: Protocol | None = None
    question: Question | None = None

    @property
    def multiple_choice(self) -> bool:
        return self.requests[0].request_type == "loglikelihood"


def load_backend(backend: str, model_args: str, batch_size: int = 8) -> LM:
    """An lm-eval model backend by registry name and ``model_args`` string (``batch_size``
    unless ``model_args`` sets it; some servers take one prompt per request: ``batch_size=1``).

    Raises ``ExamineeSpecError`` as ``check_backend_spec`` does, or for an argument the backend
    does not take; ``ExamineeError`` when the backend cannot load the model.
    """
    where = f"lm-eval:{backend}:{model_args}"
    args = check_backend_spec(backend, model_args)
    extra: dict = {} if "batch_size" in args else {"batch_size": batch_size}
    if backend in TRANSFORMERS_BACKENDS and "pretrained" in args:
        try:
            args["pretrained"] = str(resolve_base_model(args["pretrained"]))
        except BaseModelNotFound:
            pass  # the backend gives its own error
        extra["use_safetensors"] = True
        if "device" not in args:  # the backend's default is CUDA even where there is none
            extra["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    arg_string = ",".join(f"{k}={v}" for k, v in args.items())
    try:
        return get_model(backend).create_from_arg_string(arg_string, extra)
    except TypeError as err:
        raise ExamineeSpecError(f"examinee spec {where!r}: the {backend!r} backend does not "
                                f"take these model_args: {err}") from None
    except (OSError, ValueError, RuntimeError) as err:
        raise ExamineeError(f"{where}: the backend cannot load the model: {err}") from None


def check_backend_spec(backend: str, model_args: str) -> dict[str, str]:
    """The parsed ``model_args`` of a usable spec; ``ExamineeSpecError`` naming the spec for an
    unknown backend, malformed ``model_args`` (a piece that is not ``key=value``) or
    ``trust_remote_code`` set."""
    where = f"lm-eval:{backend}:{model_args}"
    known = sorted(model_registry.keys())
    if backend not in known:
        close = difflib.get_close_matches(backend, known, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ExamineeSpecError(f"examinee spec {where!r}: unknown lm-eval backend {backend!r}"
                                f"{hint} (known: {', '.join(known)})")
    args = parse_model_args(model_args, where)
    if str(args.get("trust_remote_code", "")).lower() in ("true", "1", "yes"):
        raise ExamineeSpecError(f"examinee spec {where!r}: trust_remote_code is refused (it runs "
                                "code from the model repository)")
    return args


def parse_model_args(model_args: str, where: str) -> dict[str, str]:
    """``"k1=v1,k2=v2"`` as a dict (lm-eval's syntax); ``ExamineeSpecError`` naming ``where``
    when a piece is not ``key=value`` with a non-empty key, or a key repeats."""
    out: dict[str, str] = {}
    for piece in [p for p in model_args.split(",") if p.strip()]:
        key, sep, value = piece.partition("=")
        if not sep or not key.strip():
            raise ExamineeSpecError(f"examinee spec {where!r}: malformed model_args: {piece!r} "
                                    "is not key=value (e.g. pretrained=ID,dtype=float32)")
        if key.strip() in out:
            raise ExamineeSpecError(f"examinee spec {where!r}: model_args sets {key!r} twice")
        out[key.strip()] = value.strip()
    return out


def question_prompt(question: Question, max_new_tokens: int | None = None,
                    protocol: Protocol | None = None) -> Prompt:
    """The package's prompt for ``question`` as lm-eval requests (see the module docstring),
    or, under a bank's calibration ``protocol``, its prompt (a chat request's messages joined as
    plain text) as one ``generate_until`` with its stop sequences and token budget (or
    ``max_new_tokens``), read and judged by its rule."""
    if protocol is not None:
        request = protocol.request(question)
        text = request.get("prompt") or "\n\n".join(m["content"] for m in request["messages"])
        kwargs = {"until": request["stop"], "do_sample": False,
                  "max_gen_toks": max_new_tokens or request["max_new_tokens"]}
        return Prompt(question.question_id, [Instance("generate_until", {}, (text, kwargs), 0)],
                      str(question.answer), question.answer_type,
                      doc={"question": question.text, "options": list(question.options)},
                      protocol=protocol, question=question)
    max_new_tokens = max_new_tokens or 256
    text = format_prompt(question)
    if question.free_form:
        text += "\n"  # the reply starts on a new line (as HFExaminee's plain-text prompt)
        kwargs = {"until": [], "max_gen_toks": max_new_tokens, "do_sample": False}
        requests = [Instance("generate_until", {}, (text, kwargs), 0)]
    else:
        requests = [Instance("loglikelihood", {}, (text, f" {LETTERS[i]}"), i)
                    for i in range(len(question.options))]
    return Prompt(question.question_id, requests, str(question.answer), question.answer_type,
                  doc={"question": question.text, "options": list(question.options)})


class LMEvalExaminee(QuestionExaminee):
    """An lm-eval model backend answering ``prompts`` (``{question_id: Prompt}``, from
    ``question_prompt`` or ``load_task_prompts``) through its own request types.

    ``answers`` sends the requests of many questions in one backend call (one ``loglikelihood``
    call for the multiple-choice ones, one ``generate_until`` call for the free-form ones).
    ``samples`` keeps, per answered question, its record in lm-eval's samples layout (see
    ``lm_eval_output``).
    """

    def __init__(self, name: str, lm: LM, prompts: Mapping[str, Prompt]) -> None:
        super().__init__(prompts)
        self.name = name
        self.lm = lm
        self.samples: dict[str, dict] = {}

    def prompt(self, question_id: str) -> Prompt:
        try:
            return self.questions[str(question_id)]
        except KeyError:
            raise ExamineeError(f"{self.name}: bank id {question_id!r} has no question text or "
                                "lm-eval document") from None

    def answers(self, question_ids: Sequence[str]) -> list[Answer]:
        """One ``Answer`` per question, in order (see the class docstring)."""
        prompts = [self.prompt(q) for q in question_ids]
        choice = [p for p in prompts if p.multiple_choice]
        free = [p for p in prompts if not p.multiple_choice]
        scores = self.lm.loglikelihood([r for p in choice for r in p.requests]) if choice else []
        replies = self.lm.generate_until([p.requests[0] for p in free]) if free else []
        out: dict[str, Answer] = {}
        start = 0
        for p in choice:
            logprobs = [float(s[0]) for s in scores[start : start + len(p.requests)]]
            start += len(p.requests)
            if len(logprobs) > 1 and len(set(logprobs)) == 1:
                raise ExamineeError(
                    f"{self.name}: the backend gave every option of {p.question_id!r} the same "
                    f"log-likelihood ({logprobs[0]}), so it does not score text (llama.cpp's "
                    "server with tokenized_requests=False does this); use a backend that "
                    "returns prompt log-probabilities, or the openai: examinee")
            letter = LETTERS[int(np.argmax(logprobs))]
            out[p.question_id] = Answer(int(letter == p.gold), None, letter)
            self._record(p, out[p.question_id], [[x, False] for x in logprobs])
        for p, reply in zip(free, replies):
            if p.protocol is not None:
                extracted, correct = p.protocol.score(reply, p.question)
            else:
                extracted = extract(p.answer_type, _filtered(p, reply))
                correct = int(is_correct(p.answer_type, extracted, p.gold))
            out[p.question_id] = Answer(correct, reply, extracted)
            self._record(p, out[p.question_id], [[reply]])
        return [out[p.question_id] for p in prompts]

    def answer_batch(self, question_ids: Sequence[str]) -> np.ndarray:
        """1/0 (uint8) per question: whether it was answered correctly."""
        return np.array([a.correct for a in self.answers(question_ids)], np.uint8)

    def answer(self, question_id: str) -> Answer:
        return self.answers([question_id])[0]

    def _record(self, prompt: Prompt, answer: Answer, resps: list) -> None:
        self.samples[prompt.question_id] = {
            "task": prompt.task,
            "doc_id": prompt.doc_id,
            "doc": prompt.doc,
            "target": prompt.gold,
            "arguments": [[str(a) for a in r.args] for r in prompt.requests],
            "resps": resps,
            "filtered_resps": [answer.extracted],
        }


def _filtered(prompt: Prompt, reply: str) -> str:
    """``reply`` through the prompt's filter pipeline (lm-eval's ``FilterEnsemble.apply`` on its
    ``generate_until`` request, as the evaluator does), or unchanged without one."""
    if prompt.filter is None:
        return reply
    request = prompt.requests[0]
    request.resps = [reply]
    prompt.filter.apply([request])
    return str(request.filtered_resps[prompt.filter.name])


def load_task_prompts(
    task_name: str,
    bank_ids: Sequence[str],
    answer_type: str,
    include_path: str | Path | None = None,
) -> dict[str, Prompt]:
    """Prompts for the bank's ids from the documents of lm-eval task ``task_name`` (a group such
    as ``mmlu_pro`` stands for all its tasks; ``include_path``: a folder of extra task YAMLs).

    A document's bank id is the first of these rules that matches any of ``bank_ids``, tried per
    task: its ``question_id`` field (MMLU-Pro), ``<dataset>-<config>-<split>-#<doc_id>`` (the
    ZeroEval ids: ``gsm8k-main-test-#0``, the index in the Hub test split; ``<dataset>`` is the last
    part of ``dataset_path``: ``openai/gsm8k``, or a local copy in a folder named ``gsm8k``),
    ``<task>/<doc_id>`` (``ResponseData.from_lm_eval``).
    Raises ``ValueError`` naming the task when it does not exist or none of its documents match.
    """
    manager = _task_manager(task_name, include_path)
    if task_name not in manager.all_tasks:
        close = difflib.get_close_matches(task_name, manager.all_tasks, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise InputError(f"--lm-eval-task {task_name!r}: no such lm-eval task or group{hint}")
    wanted = {str(i) for i in bank_ids}
    prompts: dict[str, Prompt] = {}
    for name, task in manager.load([task_name])["tasks"].items():
        docs = list(task.eval_docs)
        ids = _doc_ids(name, task, docs, wanted)
        shots = int(task.config.num_fewshot or 0)
        for doc_id, (doc, bank_id) in enumerate(zip(docs, ids)):
            if bank_id in wanted:
                prompts[bank_id] = _task_prompt(task, name, doc_id, doc, bank_id, shots,
                                                answer_type)
    if not prompts:
        raise InputError(f"--lm-eval-task {task_name!r}: none of its documents match the bank's "
                         f"ids (they look like {sorted(wanted)[:3]}); a document's id is its "
                         "question_id field, <dataset>-<config>-<split>-#<index> (<dataset>: the "
                         "last part of the task's dataset_path, so name a local copy's folder "
                         "after the dataset) or <task>/<index>")
    return prompts


def _task_manager(task_name: str, include_path: str | Path | None) -> TaskManager:
    """lm-eval's task index: of the ``include_path`` folder alone when it defines ``task_name`` as
    a plain task (an ``include:`` of an installed task YAML is a file path, not an index lookup),
    as indexing the thousands of installed task YAMLs too is the slow part of loading a task; else
    of the installed tasks and ``include_path``."""
    if include_path:
        local = TaskManager(include_defaults=False, include_path=str(include_path))
        if task_name in local.all_subtasks:
            return local
    return TaskManager(include_path=str(include_path) if include_path else None)


def _doc_ids(name: str, task: Task, docs: list[dict], wanted: set[str]) -> list[str]:
    """Each document's bank id under the first rule (see ``load_task_prompts``) matching any."""
    dataset = str(task.config.dataset_path or name).rstrip("/").split("/")[-1]
    split = task.config.test_split or task.config.validation_split
    rules = [
        lambda i, d: str(d.get("question_id")),
        lambda i, d: f"{dataset}-{task.config.dataset_name or 'default'}-{split}-#{i}",
        lambda i, d: f"{name}/{i}",
    ]
    for rule in rules:
        ids = [rule(i, d) for i, d in enumerate(docs)]
        if wanted.intersection(ids):
            return ids
    return [rules[-1](i, d) for i, d in enumerate(docs)]


def _task_prompt(task: Task, name: str, doc_id: int, doc: dict, bank_id: str, shots: int,
                 answer_type: str) -> Prompt:
    context = task.fewshot_context(doc, shots)
    requests = task.construct_requests(doc, context, metadata=(name, doc_id, 1))
    requests = requests if isinstance(requests, list) else [requests]
    target = task.doc_to_target(doc)
    if task.OUTPUT_TYPE == "multiple_choice":
        choices = task.doc_to_choice(doc)
        index = target if isinstance(target, int) else choices.index(str(target))
        gold, answer_type = LETTERS[index], MULTIPLE_CHOICE
    elif task.OUTPUT_TYPE == "generate_until":
        gold = LETTERS[target] if isinstance(target, int) else extract(answer_type, str(target))
        if gold is None:
            raise InputError(f"lm-eval task {name!r}, document {doc_id}: no {answer_type} answer "
                             f"in its target {str(target)[:80]!r}")
    else:
        raise InputError(f"lm-eval task {name!r}: output type {task.OUTPUT_TYPE!r}; only "
                         "multiple_choice and generate_until tasks can answer bank questions")
    # lm-eval keeps a task's filter pipelines (its filter_list, or "none") in ``_filters``
    pipeline = task._filters[0] if task.OUTPUT_TYPE == "generate_until" else None
    return Prompt(bank_id, requests, gold, answer_type, name, doc_id, dict(doc), pipeline)
