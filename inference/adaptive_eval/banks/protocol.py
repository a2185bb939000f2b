"""A bank's calibration protocol: how its benchmark asked each question and read the answer.

The protocol is data in the bank artifact, ``<bank folder>/protocol.json`` (written by
``training/protocols.py`` from ``../shared/data/protocols/<benchmark>.json``; a separate file, so
rebuilding the bank's parameters keeps it). Fields:

- ``name`` (``mmlu-pro-5shot-cot``, ``zeroeval-mcqa-cot``, ...), ``benchmark``, ``mode``
  (``chat``: a list of messages; ``completion``: one prompt string, no chat template);
- ``system`` (a system message, or null), ``preamble`` (text before the exemplars),
  ``exemplar_template`` and ``template`` (the asked question) with the placeholders
  ``{question}``, ``{options}``, ``{category}`` and, in exemplars, ``{cot}``; ``option_line``
  (one option: ``{letter}`` and ``{option}``), ``drop_options`` (option texts left out first,
  the letters following the remaining order);
- ``exemplars`` (``{category: [{question, options, cot_content, question_id}]}``), ``k`` (how many
  of the category's first exemplars precede the question), ``cot_replace`` (``[old, new]`` pairs
  applied to each exemplar's ``cot_content``), ``exemplars_source``;
- ``generation``: ``max_new_tokens``, ``temperature``, ``top_p``, ``stop``;
- ``reader``: the answer-reading rule (``banks.reading.READERS``) the bank's labels were made
  with; ``gold``: which key the labels were judged against; ``live``: whether a live examinee's
  answers can be scored on this bank; ``source`` (repo, commit, path), ``notes``.

A prompt is built by one pass of placeholder substitution, so braces inside a question's text
are left alone. ``request(question)`` is exactly what an examinee sends:
``{"messages": [...]}`` (chat) or ``{"prompt": "..."}`` (completion), plus the generation
settings.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import UserError
from ..hub.resolve import resolve_artifact
from .answers import LETTERS
from .catalog import CATALOG, bank_info, local_folder
from .questions import Question
from .reading import Reader, reader

FILE = "protocol.json"
MODES = ("chat", "completion")
_PLACEHOLDER = re.compile(r"\{(question|options|category|cot)\}")


class ProtocolError(UserError, ValueError):
    """A protocol file that is missing a field or holds an unknown mode or rule."""


@dataclass(frozen=True)
class Protocol:
    """One benchmark's way of asking and reading (see the module docstring for the fields)."""

    name: str
    benchmark: str
    mode: str
    template: str
    reader: str
    generation: dict
    system: str | None = None
    preamble: str = ""
    exemplar_template: str = ""
    option_line: str = "{letter}. {option}\n"
    drop_options: tuple[str, ...] = ()
    exemplars: dict = field(default_factory=dict)
    k: int = 0
    cot_replace: tuple[tuple[str, str], ...] = ()
    exemplars_source: dict | None = None
    gold: str = "answer"
    live: bool = True
    source: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ProtocolError(f"protocol {self.name!r}: mode {self.mode!r} is not one of "
                                f"{', '.join(MODES)}")
        reader(self.reader)  # an unknown rule: the error lists the known ones
        missing = {"max_new_tokens", "temperature", "top_p", "stop"} - set(self.generation)
        if missing:
            raise ProtocolError(f"protocol {self.name!r}: generation lacks {sorted(missing)}")

    # asking ------------------------------------------------------------------------------------

    def options_text(self, options: list[str]) -> str:
        """The option lines, after dropping ``drop_options`` (letters follow the kept order)."""
        kept = [o for o in options if o not in self.drop_options]
        return "".join(self.option_line.replace("{letter}", LETTERS[i]).replace("{option}", o)
                       for i, o in enumerate(kept))

    def _fill(self, template: str, values: dict[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)

    def prompt(self, question: Question, k: int | None = None) -> str:
        """The text of the asked question: preamble, the first ``k`` exemplars of the question's
        category (default ``self.k``) and the question itself."""
        k = self.k if k is None else k
        category = question.category or ""
        values = {"question": question.text, "options": self.options_text(question.options),
                  "category": category}
        parts = [self._fill(self.preamble, values)]
        if k:
            shots = self.exemplars.get(category)
            if not shots:
                raise ValueError(
                    f"protocol {self.name!r}: question {question.question_id!r} has category "
                    f"{question.category!r}, which has no exemplars (known: "
                    f"{', '.join(sorted(self.exemplars))})")
            for shot in shots[:k]:
                cot = shot["cot_content"]
                for old, new in self.cot_replace:
                    cot = cot.replace(old, new)
                parts.append(self._fill(self.exemplar_template, {
                    "question": shot["question"], "options": self.options_text(shot["options"]),
                    "category": category, "cot": cot}))
        parts.append(self._fill(self.template, values))
        return "".join(parts)

    def request(self, question: Question, k: int | None = None) -> dict:
        """Exactly what an examinee sends for ``question``: ``{"messages": [...]}`` (chat) or
        ``{"prompt": ...}`` (completion), with ``max_new_tokens``, ``temperature``, ``top_p``
        and ``stop``."""
        text = self.prompt(question, k)
        if self.mode == "chat":
            messages = [{"role": "system", "content": self.system}] if self.system else []
            body: dict = {"messages": messages + [{"role": "user", "content": text}]}
        else:
            body = {"prompt": text}
        settings = self.generation
        return body | {"max_new_tokens": int(settings["max_new_tokens"]),
                       "temperature": float(settings["temperature"]),
                       "top_p": float(settings["top_p"]), "stop": list(settings["stop"])}

    # reading -----------------------------------------------------------------------------------

    @property
    def rule(self) -> Reader:
        return reader(self.reader)

    def read(self, output: str | None, question: Question | None = None) -> str | None:
        """The answer in a raw ``output`` under the bank's rule (None when there is none)."""
        return self.rule.read(output)

    def score(self, output: str | None, question: Question,
              rule: str | None = None) -> tuple[str | None, int]:
        """``(extracted, correct)`` under the bank's rule (or the rule named ``rule``)."""
        return (reader(rule) if rule else self.rule).score(output, question)

    # files -------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Protocol:
        known = set(cls.__dataclass_fields__)
        fields = {k: v for k, v in data.items() if k in known}
        for required in ("name", "benchmark", "mode", "template", "reader", "generation"):
            if required not in fields:
                raise ProtocolError(f"protocol {data.get('name', '?')!r}: no {required!r} field")
        for name in ("drop_options", "notes"):
            fields[name] = tuple(fields.get(name, ()))
        fields["cot_replace"] = tuple(tuple(pair) for pair in fields.get("cot_replace", ()))
        return cls(**fields)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / FILE
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Protocol:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ProtocolError(f"{path}: not a readable protocol ({err})") from None
        return cls.from_dict(data)


def bank_folder(bank: str | Path) -> Path:
    """The folder of a bank given as a catalog name, a folder or a Hub dataset id (as
    ``ItemBank.load`` finds it)."""
    folder = Path(bank)
    if folder.is_dir():
        return folder
    text = str(bank)
    if "/" not in text:
        return local_folder(bank_info(text).name) or resolve_artifact(
            CATALOG[text].repo_id, kind="item-bank")
    return resolve_artifact(text, kind="item-bank")


def load_protocol(bank: str | Path) -> Protocol | None:
    """The calibration protocol of ``bank`` (name, folder or Hub id), or None when the bank
    carries none (metabench banks, banks calibrated from a user's responses)."""
    path = bank_folder(bank) / FILE
    return Protocol.load(path) if path.is_file() else None
