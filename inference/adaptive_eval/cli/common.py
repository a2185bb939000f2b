"""What every command shares: progress lines on stderr, the result on stdout (``--json``)."""

from __future__ import annotations

import argparse
import json
import sys


def progress(line: str) -> None:
    """One progress line on stderr."""
    print(line, file=sys.stderr, flush=True)


def emit(args: argparse.Namespace, payload, human: str) -> None:
    """The result on stdout: ``payload`` as JSON with ``--json``, else the ``human`` text."""
    print(json.dumps(payload, indent=1) if args.json else human)


def given(args: argparse.Namespace, *flags: str) -> list[str]:
    """Those of ``flags`` the user gave (an option left at its default of None is not given)."""
    return [flag for flag in flags if getattr(args, flag.lstrip("-").replace("-", "_"))
            not in (None, [])]
