"""An adaptive evaluation written in lm-evaluation-harness's output layout.

``write_lm_eval_output(out_dir, ...)`` writes, like ``lm_eval --output_path OUT --log_samples``,
into ``OUT/<model>/`` (the model name with ``/ : \\ ...`` replaced by ``__``):

- ``results_<timestamp>.json``: lm-eval's top-level keys (``results``, ``versions``, ``n-shot``,
  ``higher_is_better``, ``n-samples``, ``config``, ``model_name``, ``date``). ``results[TASK]``
  holds ``acc,none`` = the predicted accuracy on the whole bank and ``acc_stderr,none`` = the half
  width of its 95% interval / 1.96, plus our keys: ``acc_interval,none`` ``[lo, hi]``,
  ``theta``, ``theta_se``, ``n_items`` (questions asked), ``bank_size``, ``observed_acc`` (mean
  of the asked questions), ``stop_reason``. ``n-samples[TASK]`` is ``{"original": bank size,
  "effective": questions asked}``.
- ``samples_<TASK>_<timestamp>.jsonl``: one line per question asked, in the order asked:
  ``doc_id`` (the lm-eval document when a task gave the prompt, else the position in the test),
  ``question_id`` (the bank's id), ``doc``, ``target``, ``arguments``, ``resps``,
  ``filtered_resps``, ``acc`` (1.0 / 0.0), and the ability ``theta`` / ``se`` after it.

``ResponseData.from_lm_eval`` reads the samples file back (the bank's ``question_id``, model =
the folder name), so ``adaptive-eval calibrate`` can grow a bank from adaptive runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

Z95 = 1.959963984540054


def sanitize_model_name(name: str) -> str:
    """lm-eval's folder name for a model: runs of ``" < > : / | \\ ? * [ ]`` become ``__``."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


def write_lm_eval_output(
    out_dir: str | Path,
    *,
    task: str,
    model: str,
    model_args: str,
    result: Mapping,
    bank_size: int,
    samples: Mapping[str, dict] | None = None,
    timestamp: str | None = None,
) -> tuple[Path, Path]:
    """Write ``result`` (``Result.to_dict()``) as lm-eval's results JSON and samples JSONL (see
    the module docstring); ``samples`` adds lm-eval fields per question id (``doc``, ``arguments``,
    ...; e.g. ``LMEvalExaminee.samples``). Returns (results path, samples path)."""
    stamp = timestamp or datetime.now().isoformat().replace(":", "-")
    folder = Path(out_dir) / sanitize_model_name(model)
    folder.mkdir(parents=True, exist_ok=True)
    samples = samples or {}
    lo, hi = result["expected_accuracy_interval"]
    history = result["history"]
    task_result = {
        "alias": task,
        "acc,none": result["expected_accuracy"],
        "acc_stderr,none": (hi - lo) / (2 * Z95),
        "acc_interval,none": [lo, hi],
        "theta": result["theta"],
        "theta_se": result["se"],
        "n_items": result["n_items"],
        "bank_size": bank_size,
        "observed_acc": result.get("observed_accuracy"),
        "stop_reason": result.get("stop_reason"),
    }
    results = {
        "results": {task: task_result},
        "group_subtasks": {task: []},
        "configs": {task: {"task": task, "output_type": "adaptive"}},
        "versions": {task: "adaptive-eval"},
        "n-shot": {task: 0},
        "higher_is_better": {task: {"acc": True}},
        "n-samples": {task: {"original": bank_size, "effective": len(history)}},
        "config": {"model": model, "model_args": model_args},
        "model_name": model,
        "model_name_sanitized": sanitize_model_name(model),
        "date": datetime.now().timestamp(),
    }
    results_path = folder / f"results_{stamp}.json"
    results_path.write_text(json.dumps(results, indent=2))
    samples_path = folder / f"samples_{sanitize_model_name(task)}_{stamp}.jsonl"
    with open(samples_path, "w") as handle:
        for position, step in enumerate(history):
            extra = samples.get(step["question_id"], {})
            line = {
                "doc_id": position if extra.get("doc_id") is None else extra["doc_id"],
                "question_id": step["question_id"],
                "doc": extra.get("doc", {}),
                "target": extra.get("target"),
                "arguments": extra.get("arguments", []),
                "resps": extra.get("resps", [[step.get("response")]]),
                "filtered_resps": extra.get("filtered_resps", [step.get("extracted")]),
                "acc": float(step["correct"]),
                "theta": step["theta"],
                "se": step["se"],
            }
            handle.write(json.dumps(line) + "\n")
    return results_path, samples_path
