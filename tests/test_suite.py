"""Suites of named banks (suite.py, ``evaluate --suite``), ``banks --json``, named banks offline."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.catalog import CATALOG
from adaptive_eval.cat.suite import SuiteTest, ability_correlation
from adaptive_eval.cli import main
from test_cli import cli

ROOT = Path(__file__).resolve().parents[1]
ZEROEVAL = ROOT.parent / "shared" / "data" / "zeroeval"
ZERO_RESPONSES = ZEROEVAL / "responses.csv.gz"
SUITE = "mmlu-redux,gsm8k,math-l5,cruxeval"
MODEL = "Meta-Llama-3-8B-Instruct"  # answered all four benchmarks in the zeroeval data



@pytest.fixture(scope="module")
def zeroeval():
    if not ZERO_RESPONSES.exists():
        pytest.skip(f"zeroeval response data not found at {ZERO_RESPONSES} (shared data absent)")
    return ZERO_RESPONSES


def error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("adaptive-eval: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_suite_json_shape_and_spread(zeroeval):
    proc = cli("evaluate", "--suite", SUITE, "--examinee", f"replay:{zeroeval}:{MODEL}",
               "--max-items", 40, "--target-se", 0, "--json")
    out = json.loads(proc.stdout)
    names = SUITE.split(",")
    assert set(out) >= {"banks", "suite_accuracy", "suite_accuracy_interval", "n_items",
                        "history"}
    assert list(out["banks"]) == names
    for result in out["banks"].values():
        assert {"theta", "se", "expected_accuracy", "expected_accuracy_interval", "n_items",
                "history"} <= set(result)
    assert out["n_items"] == len(out["history"]) == 40
    asked = Counter(h["bank"] for h in out["history"])
    assert len(asked) >= 3 and max(asked.values()) < 40, asked
    assert sum(r["n_items"] for r in out["banks"].values()) == 40
    ids = [h["question_id"] for h in out["history"]]
    assert len(set(ids)) == len(ids)
    lo, hi = out["suite_accuracy_interval"]
    assert 0 <= lo <= out["suite_accuracy"] <= hi <= 1
    mean = np.mean([r["expected_accuracy"] for r in out["banks"].values()])
    assert out["suite_accuracy"] == pytest.approx(mean)
    assert {"response", "extracted"} <= set(out["history"][0])
    assert "[  1]" in proc.stderr  # progress on stderr


def test_suite_with_questions_in_flight(zeroeval):
    proc = cli("evaluate", "--suite", SUITE, "--examinee", f"replay:{zeroeval}:{MODEL}",
               "--max-items", 24, "--target-se", 0, "--parallel", 4, "--json")
    out = json.loads(proc.stdout)
    assert out["parallel"] == 4 and out["wall_s"] > 0
    assert out["n_items"] == len(out["history"]) == 24
    assert len({h["question_id"] for h in out["history"]}) == 24
    assert len({h["bank"] for h in out["history"]}) >= 3
    assert "4 questions in flight at once, across the banks" in proc.stderr
    assert "24 questions in " in proc.stderr and "(4 in flight)" in proc.stderr


def test_suite_plot_is_a_png_with_a_panel_per_bank(zeroeval, tmp_path):
    plot = tmp_path / "suite.png"
    proc = cli("evaluate", "--suite", SUITE, "--examinee", f"replay:{zeroeval}:{MODEL}",
               "--max-items", 30, "--target-se", 0, "--plot", plot)
    assert f"plot saved to {plot}" in proc.stderr
    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (800, 1160)  # 8 x (2.2 x (4 banks + 1) + 0.6) inches at 100 dpi
    assert 30_000 < len(data) < 1_000_000, len(data)
    bad = cli("evaluate", "--suite", "gsm8k", "--examinee", f"replay:{zeroeval}:{MODEL}",
              "--max-items", 2, "--plot", tmp_path / "no-such-folder" / "x.png", check=False)
    assert "no-such-folder" in error_line(bad)


def test_suite_figure_panels(zeroeval):
    from adaptive_eval.cat.plotting import suite_figure
    from adaptive_eval.examinees import examinee_from_spec

    banks = {n: ItemBank.load(n) for n in ("gsm8k", "cruxeval", "math-l5")}
    result = SuiteTest(banks, max_items=6, target_se=0).run(
        examinee_from_spec(f"replay:{zeroeval}:{MODEL}"))
    fig = suite_figure(result, "title")
    assert len(fig.axes) == 4
    counts = Counter(bank for bank, _ in result.history)
    assert len(counts) >= 2, counts  # else the panels below show no asked question
    for ax, name in zip(fig.axes, banks, strict=False):
        asked = [k for k, (bank, _) in enumerate(result.history, start=1) if bank == name]
        assert ax.get_title() == f"{name}: {len(asked)} question" + ("s" * (len(asked) != 1))
        if asked:  # the panel's dots sit at the step numbers of the bank's questions
            dots = [c for c in ax.collections if c.get_offsets().shape[0] == len(asked)]
            assert dots and list(dots[-1].get_offsets()[:, 0]) == asked, name
    summary = fig.axes[-1]
    assert [t.get_text() for t in summary.get_yticklabels()] == list(banks)
    legend = [t.get_text() for t in summary.get_legend().texts]
    assert any(f"suite accuracy {result.suite_accuracy:.3f}" in t for t in legend), legend


def test_joint_prior_correlation_is_positive_definite_and_positive():
    banks = {n: ItemBank.load(n) for n in SUITE.split(",") + ["zebralogic"]}
    corr, shared = ability_correlation(banks)
    assert np.allclose(corr, corr.T) and np.allclose(np.diag(corr), 1)
    assert np.linalg.eigvalsh(corr).min() > 0
    assert (shared[~np.eye(len(banks), dtype=bool)] >= 5).all()
    assert (corr > 0).all()


def test_unasked_bank_is_predicted_through_the_correlation(zeroeval):
    from adaptive_eval.examinees import examinee_from_spec

    banks = {n: ItemBank.load(n) for n in ("gsm8k", "cruxeval")}
    examinee = examinee_from_spec(f"replay:{zeroeval}:{MODEL}")
    # a strong model: answers everything in gsm8k right; cruxeval never asked (1 item budget)
    suite = SuiteTest(banks, max_items=1, target_se=0)
    states = suite.start(examinee)
    gsm = states["gsm8k"]
    for item in range(20):
        gsm.record(item, 1)
    suite.update_priors(states)
    assert states["cruxeval"].theta > 0.3  # pulled up by gsm8k's answers through R


def test_suite_interval_accounts_for_correlated_errors():
    """A bank with no answers leans on the other through R: their errors move together, so the
    suite interval is wider than the independent combination; with many answers in both banks
    the posterior correlation shrinks towards 0."""
    banks = {n: ItemBank.load(n) for n in ("gsm8k", "cruxeval")}
    suite = SuiteTest(banks, max_items=1, target_se=0)
    r = suite.correlation[0, 1]
    states = suite.start()
    assert np.allclose(suite.posterior_correlation(states), suite.correlation)
    for item in range(30):
        states["gsm8k"].record(item, item % 2)
    suite.update_priors(states)
    c = suite.posterior_correlation(states)
    assert 0 < c[0, 1] <= r
    result = suite.result(states, [], "max_items")
    h = [(hi - lo) / 2 for lo, hi in (x.expected_accuracy_interval for x in result.banks.values())]
    lo, hi = result.suite_accuracy_interval
    assert (hi - lo) / 2 > np.sqrt(h[0] ** 2 + h[1] ** 2) / 2 + 1e-4
    for item in range(300):
        states["cruxeval"].record(item, item % 2)
        states["gsm8k"].record(30 + item, item % 2)
    assert abs(suite.posterior_correlation(states)[0, 1]) < min(0.2 * r, c[0, 1] / 2)


def test_suite_session_killed_and_resumed(zeroeval, tmp_path):
    session = tmp_path / "suite.jsonl"
    args = [sys.executable, "-m", "adaptive_eval.cli", "evaluate", "--suite", SUITE,
            "--examinee", f"replay:{zeroeval}:{MODEL}", "--max-items", "60", "--target-se", "0",
            "--session", str(session), "--json"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if session.exists() and len(session.read_text().splitlines()) >= 6:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lines = session.read_text().splitlines()
    n_before = len(lines) - 1
    assert 5 <= n_before < 60, f"{n_before} answers before the kill: not mid-run"
    header = json.loads(lines[0])
    assert set(header["banks"]) == set(SUITE.split(","))
    assert all("bank" in json.loads(x) for x in lines[1:] if x.strip().endswith("}"))
    out = json.loads(subprocess.run(args, capture_output=True, text=True, timeout=600,
                                    check=True).stdout)
    assert out["n_items"] == 60
    ids = [h["question_id"] for h in out["history"]]
    assert len(ids) == len(set(ids)) == 60
    recorded = [json.loads(x) for x in session.read_text().splitlines()[1:]]
    assert len(recorded) == 60
    assert len({(r["bank"], r["question_id"]) for r in recorded}) == 60
    assert [r["question_id"] for r in recorded] == ids


def test_banks_json_shape():
    rows = json.loads(cli("banks", "--json").stdout)
    assert [r["name"] for r in rows] == list(CATALOG)
    for row in rows:
        assert {"name", "benchmark", "n_items", "n_models", "answer_type", "license", "path",
                "repo_id"} <= set(row)


def test_each_named_bank_loads_offline():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    code = ("import json; from adaptive_eval.banks.bank import ItemBank; "
            "from adaptive_eval.banks.catalog "
            "import CATALOG; print(json.dumps({n: len(ItemBank.load(n)) for n in CATALOG}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    sizes = json.loads(proc.stdout)
    assert set(sizes) == set(CATALOG) and all(n > 0 for n in sizes.values())


@pytest.mark.parametrize("option", [["--generate-when-thin"], ["--verify-with", "hf:x"],
                                    ["--thin-information", "0.5"], ["--output-path", "out"]])
def test_suite_refuses_an_option_it_would_ignore(option, capsys):
    code = main(["evaluate", "--suite", "gsm8k,cruxeval", "--examinee", "replay:x.csv:m",
                 *option])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"adaptive-eval: error: {option[0]} works with one --bank, not "
                                 "a --suite (a suite asks only its banks' own questions); drop "
                                 "it or test one bank"]


@pytest.mark.parametrize("option", [["--verify-with", "hf:x"], ["--thin-information", "0.5"]])
def test_thin_bank_options_need_generate_when_thin(option, capsys):
    code = main(["evaluate", "--bank", "gsm8k", "--examinee", "replay:x.csv:m", *option])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"adaptive-eval: error: {option[0]} acts only with "
                                 "--generate-when-thin; add it or drop the option"]


@pytest.mark.parametrize("args, message", [
    (["--bank", "no-such-bank"], "known banks: mmlu-pro"),
    (["--suite", "gsm8k,no-such-bank"], "known banks: mmlu-pro"),
    (["--suite", "gsm8k,cruxeval,gsm8k"], "'gsm8k' more than once"),
])
def test_bad_bank_names(args, message):
    proc = cli("evaluate", *args, "--examinee", "replay:x.csv:m", check=False)
    assert message in error_line(proc)


def test_lm_examinee_on_a_bank_without_answer_type(tmp_path):
    bank = ItemBank.load("gsm8k")
    bank.metadata.pop("answer_type")
    bank.save(tmp_path / "typeless")
    for spec in ("openai:http://127.0.0.1:9/v1:m", "hf:some/model"):
        proc = cli("evaluate", "--bank", tmp_path / "typeless", "--examinee", spec, check=False)
        line = error_line(proc)
        assert "has no answer type" in line and "typeless" in line
