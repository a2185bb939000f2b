"""Examinees: whatever answers the questions of an adaptive test, one module per kind.

- ``replay``: a model's recorded answers (``ResponseData``); only recorded cells.
- ``hf``: a local transformers causal LM (multiple choice by letter log-likelihood, free form by
  greedy generation read with ``banks.answers``); needs torch, so it is imported on use.
- ``openai_compatible``: any OpenAI-compatible chat server; the letter or the final answer is
  read from the reply.
- ``lm_eval``: any model backend of lm-evaluation-harness (the optional ``lm-eval`` extra).

``examinee_from_spec`` (``spec``) builds one from a command-line spec.
"""

from __future__ import annotations

from .base import Answer, Completion, Examinee, ExamineeError, ExamineeSpecError
from .openai_compatible import ChatServer, OpenAIExaminee
from .replay import ReplayExaminee
from .spec import examinee_from_spec

__all__ = ["Answer", "ChatServer", "Completion", "Examinee", "ExamineeError",
           "ExamineeSpecError", "OpenAIExaminee", "ReplayExaminee", "examinee_from_spec"]
