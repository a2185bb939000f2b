"""The question generator a backend names (``adaptive-eval generate --backend``,
``evaluate --generate-when-thin BACKEND``).

- ``embedded``: the fine-tuned ``QuestionGenerator`` (the packaged one, or a folder / Hub id),
  which writes multiple-choice questions only;
- ``openai:BASE_URL:MODEL``: a ``ServerGenerator`` prompted with the bank's items near the
  target difficulty as examples, so it needs the bank's question text (items files).

Needs the generator extra (torch).
"""

from __future__ import annotations

from collections.abc import Callable

from ..banks.bank import ItemBank
from ..banks.items import items_file_questions, missing_text_note
from ..errors import InputError
from .generator import QuestionGenerator
from .server_generator import ServerGenerator, bank_examples


def load_generator(backend: str, bank_name: str | None = None, items: list[str] | None = None,
                   generator: str | None = None,
                   progress: Callable[[str], None] | None = None) -> QuestionGenerator:
    """The generator ``backend`` names, for bank ``bank_name`` (default ``mmlu-pro``: its answer
    type, and for an ``openai:`` backend its items in the files ``items`` as examples);
    ``generator``: the embedded backend's folder or Hub id (None: the packaged one);
    ``progress`` is told of bank questions without text."""
    name = bank_name or "mmlu-pro"
    bank = ItemBank.load(name)
    answer_type = bank.metadata.get("answer_type") or "multiple_choice"
    if backend == "embedded":
        if answer_type != "multiple_choice":
            raise InputError(f"the embedded generator writes multiple-choice questions; bank "
                             f"{name!r} is {answer_type}: use --backend openai:URL:MODEL")
        return QuestionGenerator.from_pretrained(generator)
    questions = items_file_questions(name, bank, items)
    note = missing_text_note(name, bank, questions)
    if note and progress:
        progress(note)
    if questions is None:
        raise InputError("--backend openai:... shows the server bank items as examples: pass "
                         f"the question text of bank {name!r} with --items FILE")
    try:
        return ServerGenerator(backend, bank_examples(bank, questions), answer_type)
    except ValueError as err:  # its errors: a malformed spec, no examples, a server not there
        raise InputError(str(err)) from None
