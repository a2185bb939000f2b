"""``python -m adaptive_eval.cli``: the ``adaptive-eval`` command."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
