"""A session file: the append-only JSONL record of one adaptive test, so that it can be resumed.

Line 1 is the header ``{"type": "header", "examinee": NAME, "bank": FINGERPRINT, "n_items": N}``
(``ItemBank.fingerprint()``: a hash of the bank's ids and parameters); every later line is one
answered question, ``{"question_id": .., "correct": 0|1, ...}`` (an ``adaptive.Step``, with
``response``/``extracted`` for a free-form answer).

A suite session (``suite.py``, several banks) has the header ``{"type": "header", "examinee":
NAME, "banks": {BANK: FINGERPRINT, ...}, "n_items": {BANK: N, ...}}`` and every answer line names
its ``"bank"``.

Each answer is flushed and fsynced before the next question is asked, so killing the process
loses at most the question in flight; a last line cut mid-write is dropped on reopening. A file
written for another examinee or another bank is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..banks.bank import ItemBank


class SessionError(ValueError):
    """A session file that cannot be resumed; the message names the file and line."""


class Session:
    """Opens (resumes) or creates the session file at ``path`` for ``examinee`` on ``bank`` (or
    on several named banks, a suite); ``answers`` holds the ``(question_id, correct)`` recorded
    so far and ``records`` the whole answer lines."""

    def __init__(self, path: str | Path, examinee: str | None,
                 bank: ItemBank | dict[str, ItemBank]):
        self.path = Path(path)
        self.answers: list[tuple[str, int]] = []
        self.records: list[dict] = []
        self.banks = dict(bank) if isinstance(bank, dict) else None
        if self.banks is not None:
            header = {"type": "header", "examinee": examinee,
                      "banks": {k: b.fingerprint() for k, b in self.banks.items()},
                      "n_items": {k: len(b) for k, b in self.banks.items()}}
        else:
            header = {"type": "header", "examinee": examinee, "bank": bank.fingerprint(),
                      "n_items": len(bank)}
        if self.path.exists() and self.path.stat().st_size > 0:
            self._read(header)
        else:
            self._write(header)

    def _read(self, header: dict) -> None:
        lines = self.path.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):  # a line cut by a kill mid-write: drop it
                    self._truncate_last_line(lines[:-1])
                    break
                raise SessionError(f"{self.path}: line {number} is not JSON") from None
            if number == 1:
                self._check_header(record, header)
            elif "question_id" not in record or record.get("correct") not in (0, 1):
                raise SessionError(f"{self.path}: line {number} lacks question_id/correct 0|1")
            elif self.banks is not None and record.get("bank") not in self.banks:
                raise SessionError(f"{self.path}: line {number} names no bank of this suite "
                                   f"({record.get('bank')!r})")
            else:
                self.answers.append((str(record["question_id"]), int(record["correct"])))
                self.records.append(record)

    def _check_header(self, record: dict, header: dict) -> None:
        if record.get("type") != "header":
            raise SessionError(f"{self.path}: line 1 is not a session header")
        if record.get("examinee") != header["examinee"]:
            raise SessionError(
                f"{self.path}: the session was for examinee {record.get('examinee')!r}, "
                f"not {header['examinee']!r}; use another --session file"
            )
        if self.banks is not None:
            banks = record.get("banks")
            if banks != header["banks"]:
                raise SessionError(
                    f"{self.path}: the session was written for another suite of banks "
                    f"({sorted(banks) if isinstance(banks, dict) else 'not a suite'}, or other "
                    f"bank contents), not {sorted(header['banks'])}; resume it on the banks it "
                    "was written for, or use another --session file"
                )
            return
        bank = record.get("bank")
        if not isinstance(bank, str):
            raise SessionError(
                f"{self.path}: the header has no bank fingerprint (an older session file), so "
                "it cannot be checked against this bank; use another --session file"
            )
        if bank != header["bank"]:
            raise SessionError(
                f"{self.path}: the session was written for another item bank (fingerprint "
                f"{bank[:12]}..., this bank's {header['bank'][:12]}...); resume it on the bank "
                "it was written for, or use another --session file"
            )

    def _truncate_last_line(self, keep: list[str]) -> None:
        self.path.write_text("".join(line + "\n" for line in keep))

    def _write(self, record: dict) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, record: dict) -> None:
        """Add one answered question (a dict with ``question_id`` and ``correct``), durably."""
        self._write(record)
