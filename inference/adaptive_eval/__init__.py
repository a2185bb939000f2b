"""adaptive-eval: evaluate language models reliably on a fraction of a benchmark.

Truong et al., "Reliable and Efficient Amortized Model-based Evaluation" (ICML 2025), as a
package: IRT calibration, a difficulty predictor, a question generator and adaptive testing.
Heavy parts (torch models) are imported on first use.
"""

from __future__ import annotations

import importlib

from .banks.bank import ItemBank
from .banks.responses import ResponseData
from .cat.adaptive import AdaptiveTest, Result
from .irt.calibration import calibrate

_LAZY = {
    "DifficultyPredictor": ".amortized.predictor",
    "QuestionGenerator": ".amortized.generator",
    "examinee_from_spec": ".examinees",
}

__all__ = ["AdaptiveTest", "ItemBank", "ResponseData", "Result", "calibrate", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'adaptive_eval' has no attribute {name!r}")
