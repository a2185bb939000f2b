"""How a live examinee asks a bank's questions: which examinees are live, under which protocol
they ask, and which prompts an lm-eval task gives them.

A live examinee (``LM_KINDS``: ``hf:``, ``openai:``, ``lm-eval:`` specs) answers question text
and is scored by the bank's answer type, so its bank needs one (``check_scorable``). A replay
examinee answers from recorded responses: no protocol, no text.

``asking_protocol`` chooses the way of asking: the bank's calibration protocol (``bank``, the
default, when the bank carries one) or the package's quick way (``letter``: the option letter by
log-likelihood or from a short reply); with an lm-eval task, the task's own prompts. It returns
the protocol (None: the package's way), what the result records (``{"name", "bank"}``,
``bank``: whether it is the bank's own) and a note for the caller to show (a way of asking that
differs from the bank's is said).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..banks.bank import ItemBank
from ..banks.protocol import Protocol, load_protocol
from ..errors import InputError
from ..extras import require

#: the examinee kinds that answer question text (the others replay recorded answers)
LM_KINDS = ("hf:", "openai:", "lm-eval:")


def is_live(spec: str) -> bool:
    """Whether the examinee spec names a model that answers question text."""
    return spec.startswith(LM_KINDS)


def check_scorable(spec: str, name: str, bank: ItemBank) -> None:
    """``InputError`` when a live examinee meets a bank without an answer type."""
    if is_live(spec) and not bank.metadata.get("answer_type"):
        raise InputError(f"bank {name!r} has no answer type (metadata answer_type), so a "
                         f"language model's answers to it cannot be scored; recalibrate it "
                         "with --answer-type, or use a replay: examinee")


def asking_protocol(spec: str, name: str, *, choice: str = "bank",
                    lm_eval_task: str | None = None, max_new_tokens: int | None = None
                    ) -> tuple[Protocol | None, dict | None, str | None]:
    """(protocol, record, note) of examinee ``spec`` asking bank ``name`` under ``choice``
    (``bank`` or ``letter``; see the module docstring). ``max_new_tokens``: the user's budget,
    said in the note as overriding the protocol's. None, None, None for replayed answers."""
    if not is_live(spec):
        return None, None, None
    if lm_eval_task:
        return None, {"name": f"lm-eval:{lm_eval_task}", "bank": False}, (
            f"asking with lm-eval task {lm_eval_task}'s own prompts, not the bank's "
            "calibration protocol: the predicted accuracy is the bank's, under its protocol")
    own = load_protocol(name)
    if choice == "bank" and own is not None:
        note = (f"protocol: {own.name} (the bank's calibration protocol: "
                f"{own.generation['max_new_tokens']} new tokens at most"
                + (f", overridden to {max_new_tokens}" if max_new_tokens else "") + ")")
        return own, {"name": own.name, "bank": True}, note
    why = ("bank carries no calibration protocol" if own is None
           else f"its calibration protocol is {own.name}")
    return None, {"name": "letter", "bank": False}, (
        f"protocol: the package's quick way (letter), which differs from how {name} was "
        f"calibrated ({why}): the predicted accuracy describes the bank's protocol")


def protocols_by_question(banks: Mapping[str, ItemBank],
                          protocols: Mapping[str, Protocol | None]) -> dict[str, Protocol]:
    """Each question id of ``banks`` mapped to its bank's protocol (banks asked the package's
    way, protocol None, left out): how one examinee asks a suite's banks each under its own."""
    return {qid: protocol for name, protocol in protocols.items() if protocol is not None
            for qid in banks[name].ids}


def task_prompts(spec: str, task: str, bank: ItemBank, include_path: str | None = None) -> dict:
    """The questions of ``bank`` as lm-eval task ``task``'s prompts (an ``lm-eval:`` examinee
    only; the optional lm-eval extra); the caller says how many ids have no document."""
    if not spec.startswith("lm-eval:"):
        raise InputError("--lm-eval-task needs an lm-eval:BACKEND:MODEL_ARGS examinee")
    require("lm-eval", "lm-evaluation-harness tasks (--lm-eval-task)")
    from .lm_eval import load_task_prompts  # the optional lm-eval extra (torch)

    return load_task_prompts(task, bank.ids, bank.metadata.get("answer_type"),
                             include_path=include_path)
