"""The core install: ``pip install adaptive-eval`` with no extras has no torch, and still
calibrates, evaluates by replay and evaluates a model behind a real OpenAI-compatible server
(llama.cpp); what needs an extra says which ``pip install`` brings it.

A fresh virtual environment gets the package from a wheel built from this checkout and the
core dependencies from the package index (the pip cache makes reruns fast).
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from llama_server import start_llama_server, stop_server

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ROOT.parent / "shared" / "data" / "mmlu_pro" / "items.csv.gz"  # MMLU-Pro question text
pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.fixture(scope="module")
def core_env(tmp_path_factory) -> Path:
    """A venv holding adaptive-eval and its core dependencies only; returns its bin folder."""
    where = tmp_path_factory.mktemp("core")
    venv.create(where / "venv", with_pip=True)
    python = where / "venv" / "bin" / "python"
    wheel_dir = where / "wheel"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(wheel_dir), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(wheel_dir.glob("adaptive_eval-*.whl"))
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    return python.parent


def _run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / "adaptive-eval"), *args], capture_output=True,
                          text=True, timeout=600, env={"PATH": str(bin_dir),
                                                       "HF_HUB_OFFLINE": "1"})


def test_core_has_no_torch(core_env):
    probe = subprocess.run(
        [str(core_env / "python"), "-c",
         "import importlib.util as u; print([m for m in ('torch', 'transformers', 'matplotlib')"
         " if u.find_spec(m)])"], capture_output=True, text=True)
    assert probe.stdout.strip() == "[]", probe.stderr


def test_core_calibrates_and_replays(core_env, tmp_path):
    """Calibrate a response file shaped like a real one (models answered part of the bank,
    abilities far from 0), then replay a model through the command line."""
    rng = np.random.default_rng(3)
    theta, b = rng.normal(1.5, 1.0, 12), rng.normal(0, 1.2, 80)
    rows = [(f"m{j}", f"q{i}", int(rng.random() < 1 / (1 + np.exp(b[i] - theta[j]))))
            for j in range(12) for i in range(80) if rng.random() < 0.8]
    responses = tmp_path / "responses.csv"
    pd.DataFrame(rows, columns=["model", "question_id", "correct"]).to_csv(responses,
                                                                           index=False)
    calibrated = _run(core_env, "calibrate", str(responses), "--model", "2pl", "--out",
                      str(tmp_path / "bank"), "--misfit-models", "0", "--json")
    assert calibrated.returncode == 0, calibrated.stderr
    assert json.loads(calibrated.stdout)["n_items"] == 80
    evaluated = _run(core_env, "evaluate", "--bank", str(tmp_path / "bank"), "--examinee",
                     f"replay:{responses}:m3", "--max-items", "15", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["n_items"] == 15 and 0 < result["expected_accuracy"] < 1


def test_core_evaluates_a_model_behind_a_server(core_env, tmp_path):
    if not ITEMS.exists():
        pytest.skip(f"{ITEMS} absent (the shared MMLU-Pro question text)")
    process, base_url = start_llama_server(tmp_path / "server.log")
    try:
        run = _run(core_env, "evaluate", "--bank", "mmlu-pro", "--items", str(ITEMS),
                   "--examinee", f"openai:{base_url}:smollm2", "--max-items", "3",
                   "--target-se", "0", "--json")
    finally:
        stop_server(process)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["n_items"] == 3 and len(result["history"]) == 3
    assert all(step["response"] is not None for step in result["history"])
    assert result["tokens"]["completion"] > 0


def test_core_names_the_extra_it_lacks(core_env):
    run = _run(core_env, "evaluate", "--bank", "mmlu-pro", "--examinee", "hf:some/model")
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "adaptive-eval: error: a local transformers model (hf:) needs the 'hf' extra (torch, "
        "transformers, gguf not installed): pip install 'adaptive-eval[hf]'")
