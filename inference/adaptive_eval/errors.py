"""Errors a user can cause and fix, as opposed to bugs in adaptive-eval.

``UserError`` is the base of the errors whose message is all a user needs: a bad file, an unknown
id or name, a malformed spec, an option that cannot work. The command line prints such an error
as one line, ``adaptive-eval: error: MESSAGE``, and exits 2 (``cli.main``, which also knows the
older dedicated classes: ``ItemBankError``, ``ExamineeError``, ``TableError``, ...); any other
exception is a bug and prints its traceback, saying so.

``InputError`` is a value the user gave (a command-line option, an argument of a public
function) that cannot work; it is a ``ValueError``, as such checks always were.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can cause and fix; the message names the input."""


class InputError(UserError, ValueError):
    """A value the user gave (an option, an argument) that cannot work; the message names it."""
