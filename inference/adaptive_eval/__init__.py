"""adaptive-eval: evaluate language models reliably on a fraction of a benchmark.

Truong et al., "Reliable and Efficient Amortized Model-based Evaluation" (ICML 2025), as a
package: IRT calibration, a difficulty predictor, a question generator and adaptive testing.
The parts that need torch (the predictor, the generator, local transformers examinees) come
with extras (``extras.py``) and are imported on first use.
"""

from __future__ import annotations

import importlib

from .banks.bank import ItemBank
from .banks.responses import ResponseData
from .cat.adaptive import AdaptiveTest, Result
from .examinees import examinee_from_spec
from .extras import require
from .irt.calibration import calibrate

_LAZY = {  # name -> (module, the extra it needs)
    "DifficultyPredictor": (".amortized.predictor", "predictor"),
    "QuestionGenerator": (".amortized.generator", "generator"),
}

__all__ = ["AdaptiveTest", "ItemBank", "ResponseData", "Result", "calibrate",
           "examinee_from_spec", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        module, extra = _LAZY[name]
        require(extra, name)
        return getattr(importlib.import_module(module, __name__), name)
    raise AttributeError(f"module 'adaptive_eval' has no attribute {name!r}")
