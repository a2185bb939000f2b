"""A session file: the append-only JSONL record of one adaptive test, so that it can be resumed.

Line 1 is the header ``{"type": "header", "examinee": NAME, "bank": FINGERPRINT, "n_items": N,
"settings": {...}}`` (``ItemBank.fingerprint()``: a hash of the bank's ids and parameters;
``settings``: whatever decides which questions are asked and how answers are scored, such as
the seed, the selection rule, the estimator and the prior, ``AdaptiveTest.settings``, and which
of the bank's questions the examinee can answer, ``answerable``); every later line is one
answered question, ``{"question_id": .., "correct": 0|1, ...}`` (an ``adaptive.Step``, with
``response``/``extracted`` for a free-form answer).

A suite session (``suite.py``, several banks) has the header ``{"type": "header", "examinee":
NAME, "banks": {BANK: FINGERPRINT, ...}, "n_items": {BANK: N, ...}, "settings": {...}}`` and every
answer line names its ``"bank"``.

Resuming checks the header: a file written for another examinee, another bank, or with other
settings is refused with one line naming what differs (the settings only the stopping rule
reads, ``max_items``, ``target_se``, ``min_items``, are not recorded: a resume may change them,
e.g. to continue a finished test). A header written before settings were recorded is refused
too (it cannot be checked).

Durability: the header is written to a temporary file, fsynced and renamed into place, so a kill
leaves either no session or a whole header; each answer is flushed and fsynced before the next
question is asked, so killing the process loses at most the question in flight. On reopening, a
last line cut mid-write is dropped (the file is truncated after the last whole line), a whole
last line that lacks its newline gets one, and a file holding only a cut header is started
again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..banks.bank import ItemBank


class SessionError(ValueError):
    """A session file that cannot be resumed; the message names the file and line."""


def answerable(ids: Sequence[str], mask) -> str:
    """``"N of M (HASH)"``: how many of the bank's ``ids`` the examinee can answer (``mask``),
    and a SHA-256 prefix of those ids, for the header's settings."""
    chosen = [str(i) for i, ok in zip(ids, mask, strict=True) if ok]
    digest = hashlib.sha256("\n".join(chosen).encode()).hexdigest()[:12]
    return f"{len(chosen)} of {len(ids)} ({digest})"


def asked_under(examinee) -> str | list[str] | None:
    """The calibration protocol(s) the examinee asks under (``protocol``: one, or one per
    question id for a suite), by name, for the header's settings; None: the package's way or
    recorded answers."""
    protocol = getattr(examinee, "protocol", None)
    if isinstance(protocol, Mapping):
        return sorted({p.name for p in protocol.values()})
    return getattr(protocol, "name", None)


class Session:
    """Opens (resumes) or creates the session file at ``path`` for ``examinee`` on ``bank`` (or
    on several named banks, a suite); ``answers`` holds the ``(question_id, correct)`` recorded
    so far and ``records`` the whole answer lines."""

    def __init__(self, path: str | Path, examinee: str | None,
                 bank: ItemBank | dict[str, ItemBank], settings: dict | None = None):
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
        if settings is not None:  # as JSON gives them back (tuples become lists, ...)
            header["settings"] = json.loads(json.dumps(settings, default=str))
        has_header = False
        if self.path.exists() and self.path.stat().st_size > 0:
            has_header = self._read(header)
        if not has_header:
            self._write_header(header)

    def _read(self, header: dict) -> bool:
        """Check the header and read the answers; False when no whole header is there."""
        self._mend_last_line()
        lines = self.path.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise SessionError(f"{self.path}: line {number} is not JSON") from None
            if number == 1:
                self._check_header(record, header)
            elif "question_id" not in record or not _answer(record.get("correct")):
                raise SessionError(f"{self.path}: line {number} lacks question_id/correct 0|1 "
                                   f"(or a graded score in [0, 1])")
            elif self.banks is not None and record.get("bank") not in self.banks:
                raise SessionError(f"{self.path}: line {number} names no bank of this suite "
                                   f"({record.get('bank')!r})")
            else:
                correct = record["correct"]
                self.answers.append((str(record["question_id"]),
                                     int(correct) if correct in (0, 1) else float(correct)))
                self.records.append(record)
        return bool(lines)

    def _mend_last_line(self) -> None:
        """A last line without its newline was cut by a kill, or killed just before it: drop it
        when it is not JSON (truncate after the last whole line), else end it."""
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        try:
            json.loads(data[cut:])
        except ValueError:
            os.truncate(self.path, cut)
            return
        with open(self.path, "ab") as handle:
            handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _check_header(self, record: dict, header: dict) -> None:
        if record.get("type") != "header":
            raise SessionError(f"{self.path}: line 1 is not a session header")
        if record.get("examinee") != header["examinee"]:
            raise SessionError(
                f"{self.path}: the session was for examinee {record.get('examinee')!r}, "
                f"not {header['examinee']!r}; use another --session file"
            )
        self._check_banks(record, header)
        self._check_settings(record, header)

    def _check_banks(self, record: dict, header: dict) -> None:
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

    def _check_settings(self, record: dict, header: dict) -> None:
        if "settings" not in header:
            return
        recorded, wanted = record.get("settings"), header["settings"]
        if not isinstance(recorded, dict):
            raise SessionError(
                f"{self.path}: the header records no test settings (an older session file), so "
                "a resume could change the test unseen; use another --session file"
            )
        for name in list(wanted) + [k for k in recorded if k not in wanted]:
            if recorded.get(name) != wanted.get(name):
                raise SessionError(
                    f"{self.path}: the session was run with {name} = {recorded.get(name)!r}, "
                    f"not {wanted.get(name)!r}; resume it with the same {name}, or use another "
                    "--session file"
                )

    def _write_header(self, record: dict) -> None:
        """Write the header atomically: a temporary file, fsynced, renamed over ``path``."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "w") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)

    def _write(self, record: dict) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, record: dict) -> None:
        """Add one answered question (a dict with ``question_id`` and ``correct``), durably."""
        self._write(record)


def _answer(value) -> bool:
    """Whether a session line's ``correct`` is an answer: 0/1 or a graded score in [0, 1]."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 <= value <= 1) or value in (0, 1)
