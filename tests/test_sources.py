"""Every named bank knows where its questions are (``banks.sources``) and loads them from there
(``banks.hub_questions``) with the real huggingface_hub client, against the Hub-protocol test
server (tests/hub_server.py) serving dataset repos built here from the shared data in the
layout of the real ones (parquet files under ``<config>/`` or ``data/``, the card's ``configs``).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest
from adaptive_eval.banks.answers import LETTERS
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.catalog import CATALOG, list_banks, local_folder
from adaptive_eval.banks.hub_questions import bank_questions
from adaptive_eval.banks.questions import Question
from adaptive_eval.banks.sources import (
    SOURCES,
    QuestionSourceError,
    QuestionSourceWarning,
    ReplayBankError,
    fingerprint,
    normalise_text,
    questions_from_frame,
    read_record,
    source_of,
)
from adaptive_eval.examinees import examinee_from_spec
from hub_server import HubServer, hub_fixture, point_client_at  # noqa: F401 (fixture `hub`)
from huggingface_hub import HfApi, constants
from test_cli import cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
needs_data = pytest.mark.skipif(
    not (DATA / "mmlu_pro" / "items.csv.gz").is_file()
    or not (DATA / "zeroeval" / "items.csv.gz").is_file(),
    reason=f"needs the shared data ({DATA}/mmlu_pro and zeroeval items.csv.gz)")


def _bank_ids(name: str) -> list[str]:
    return ItemBank.load(local_folder(name)).ids


# -- the records ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_bank_records_its_source(name):
    record = read_record(local_folder(name))
    assert record is not None, f"models/banks/{name}/questions.json missing"
    assert source_of(record) == SOURCES[name]  # the committed record is the catalog's source
    live = name in ("mmlu-pro", "mmlu-redux", "gsm8k", "math-l5", "cruxeval")
    assert record["live"] is live
    assert (record["source"] is None) is (name.startswith("metabench-")
                                          or CATALOG[name].score == "graded")
    if live:  # fingerprinted: (nearly) every question of the bank, nothing else
        printed = set(record["fingerprint"]["items"])
        ids = set(_bank_ids(name))
        assert printed <= ids and len(printed) >= len(ids) - 1


def test_banks_json_says_where_questions_are_and_which_are_live():
    rows = {r["name"]: r for r in json.loads(cli("banks", "--json").stdout)}
    assert rows["gsm8k"]["questions"] == {"dataset": "yuchenlin/zero-eval", "config": "gsm",
                                          "split": "test", "revision": "main"}
    assert rows["gsm8k"]["live"] is True
    assert rows["zebralogic"]["questions"]["dataset"] == "allenai/ZebraLogicBench"
    assert rows["zebralogic"]["live"] is False
    assert rows["metabench-arc"]["questions"] is None and rows["metabench-arc"]["live"] is False
    assert rows == {r["name"]: r for r in list_banks()}
    table = cli("banks").stdout
    assert "replay" in table.splitlines()[7] and "yuchenlin/zero-eval gsm (test)" in table


def test_the_fingerprint_ignores_mojibake_and_whitespace_but_not_a_changed_word():
    clean = Question("q", "Which β-decay…  emits\nan electron?", ["yes", "no"], 0)
    garbled = Question("q", "Which Î²-decayâ\x80¦ emits an electron? ", ["yes", "no"], 0)
    changed = Question("q", "Which β-decay… emits a positron?", ["yes", "no"], 0)
    rekeyed = Question("q", "Which β-decay…  emits\nan electron?", ["yes", "no"], 1)
    assert normalise_text(garbled.text) == "Which β-decay… emits an electron?"
    assert fingerprint([clean]) == fingerprint([garbled])
    text, key = fingerprint([clean])["q"].split(".")
    assert fingerprint([changed])["q"].split(".")[0] != text
    assert fingerprint([rekeyed])["q"] == f"{text}.{fingerprint([rekeyed])['q'].split('.')[1]}"
    assert fingerprint([rekeyed])["q"].split(".")[1] != key


@needs_data
def test_math_l5_rows_map_to_the_bank_ids():
    items = _zeroeval("math-l5")
    hub = pd.DataFrame({"id": [int(q.removeprefix("math-l5-")) for q in items.question_id],
                        "problem": items.question, "answer": items.answer})
    questions = questions_from_frame(hub, SOURCES["math-l5"], "math")
    assert set(questions) == set(items.question_id) and set(questions) <= set(_bank_ids("math-l5"))
    assert questions["math-l5-1"].answer == items.set_index("question_id").answer["math-l5-1"]


def test_replay_banks_say_so():
    for name in ("zebralogic", "metabench-arc"):
        with pytest.raises(ReplayBankError, match=f"bank '{name}' is a replay bank"):
            bank_questions(name)


# -- the Hub --------------------------------------------------------------------------------------


def _zeroeval(benchmark: str) -> pd.DataFrame:
    frame = pd.read_csv(DATA / "zeroeval" / "items.csv.gz", keep_default_na=False, dtype=str)
    frame = frame[(frame.benchmark == benchmark) & (frame.question.str.strip() != "")]
    return frame.reset_index(drop=True)


def _card(configs: dict[str, dict[str, str]]) -> str:
    """A dataset card whose front matter lists configs as ``datasets``' push_to_hub writes it."""
    lines = ["---", "configs:"]
    for config, splits in configs.items():
        lines += [f"- config_name: {config}", "  data_files:"]
        for split, path in splits.items():
            lines += [f"  - split: {split}", f"    path: {path}"]
    return "\n".join(lines + ["---", "", "A test copy.", ""])


def _mmlu_pro_folder(folder: Path) -> Path:
    items = pd.read_csv(DATA / "mmlu_pro" / "items.csv.gz", keep_default_na=False, dtype=str)
    rows = pd.DataFrame({
        "question_id": items.question_id.astype("int64"), "question": items.question,
        "options": items.options.map(json.loads), "answer": items.answer,
        "answer_index": items.answer_index.astype("int64"), "cot_content": "",
        "category": items.category, "src": items.src})
    (folder / "data").mkdir(parents=True)
    (folder / "biology").mkdir()  # an older per-category copy the card does not list
    rows.to_parquet(folder / "data" / "test-00000-of-00001.parquet", index=False)
    rows.head(70).to_parquet(folder / "data" / "validation-00000-of-00001.parquet", index=False)
    rows.head(5).to_parquet(folder / "biology" / "test-00000-of-00001.parquet", index=False)
    (folder / "README.md").write_text(_card({"default": {"test": "data/test-*",
                                                         "validation": "data/validation-*"}}))
    return folder


def _zero_eval_folder(folder: Path, gsm_edit=None) -> Path:
    """yuchenlin/zero-eval as its build scripts pushed it: configs ``gsm`` and ``mmlu-redux``."""
    gsm = _zeroeval("gsm8k")
    gsm_rows = pd.DataFrame({"id": gsm.question_id, "question": gsm.question,
                             "answer": "# " + gsm.answer, "source": "openai/gsm8k",
                             "config": "main", "task_type": "qa"})
    if gsm_edit is not None:
        gsm_edit(gsm_rows)
    redux = _zeroeval("mmlu-redux")
    choices = redux.options.map(json.loads)
    key = [c if e == "wrong_groundtruth" and c in LETTERS else a
           for a, c, e in zip(redux.answer, redux.corrected_answer, redux.error_type)]
    redux_rows = pd.DataFrame({
        "id": redux.question_id, "question": redux.question, "choices": choices,
        "correct_answer": [o[LETTERS.index(k)] for o, k in zip(choices, key)],
        "source": "edinburgh-dawg/mmlu-redux", "config": redux.category,
        "task_type": "multiple_choice"})
    for config, rows in (("gsm", gsm_rows), ("mmlu-redux", redux_rows)):
        (folder / config).mkdir(parents=True)
        rows.to_parquet(folder / config / "test-00000-of-00001.parquet", index=False)
    (folder / "README.md").write_text(_card({"gsm": {"test": "gsm/test-*"},
                                             "mmlu-redux": {"test": "mmlu-redux/test-*"}}))
    return folder


def _upload(repo_id: str, folder: Path) -> None:
    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="dataset")


@needs_data
def test_questions_come_from_the_hub_and_map_to_the_bank_ids(hub: HubServer, tmp_path):
    _upload("TIGER-Lab/MMLU-Pro", _mmlu_pro_folder(tmp_path / "mmlu-pro"))
    _upload("yuchenlin/zero-eval", _zero_eval_folder(tmp_path / "zero-eval"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuestionSourceWarning)  # the calibrated texts: no warning
        pro = bank_questions("mmlu-pro")
        gsm = bank_questions("gsm8k", ids=_bank_ids("gsm8k"))
        redux = bank_questions("mmlu-redux")
    assert set(pro) == set(_bank_ids("mmlu-pro")) and len(pro) == 12032  # test split only
    assert pro["70"].answer_letter == "I" and len(pro["70"].options) == 9
    assert pro["70"].category == "business"
    assert set(gsm) == set(_bank_ids("gsm8k")) and gsm["gsm8k-main-test-#0"].answer == "18"
    assert gsm["gsm8k-main-test-#0"].text.startswith("Janet’s ducks lay 16 eggs")
    assert set(redux) == set(_bank_ids("mmlu-redux"))
    items = _zeroeval("mmlu-redux").set_index("question_id")
    fixed = items[(items.error_type == "wrong_groundtruth")
                  & (items.corrected_answer != items.answer)].index[0]
    assert redux[fixed].answer_letter == items.corrected_answer[fixed]  # ZeroEval's key
    assert redux["mmlu-redux-anatomy-#0"].category == "anatomy"
    # a live examinee given only the bank asks these questions (typed by the bank)
    examinee = examinee_from_spec("openai:http://127.0.0.1:9/v1:m", bank="gsm8k")
    assert examinee.questions == gsm and gsm["gsm8k-main-test-#3"].answer_type == "numeric"
    cached = {p.relative_to(constants.HF_HUB_CACHE).as_posix()
              for p in Path(constants.HF_HUB_CACHE).rglob("*.parquet")}
    assert any(p.endswith("data/test-00000-of-00001.parquet") for p in cached)
    assert not any("biology/" in p or "validation" in p for p in cached)  # only the config's split


@needs_data
def test_a_changed_row_warns_naming_the_item(hub: HubServer, tmp_path):
    def edit(rows: pd.DataFrame) -> None:
        rows.loc[5, "question"] = rows.loc[5, "question"] + " Round to the nearest cent."
        rows.loc[9, "answer"] = "# 12345"

    _upload("yuchenlin/zero-eval", _zero_eval_folder(tmp_path / "zero-eval", edit))
    with pytest.warns(QuestionSourceWarning) as caught:
        questions = bank_questions("gsm8k")
    message = str(caught[0].message)
    assert "2 of the 1319 questions" in message
    assert "1 by text (gsm8k-main-test-#5)" in message
    assert "1 by gold answer (gsm8k-main-test-#9)" in message
    assert "yuchenlin/zero-eval (config gsm, split test, revision main)" in message
    assert questions["gsm8k-main-test-#9"].answer == "12345"  # the source's rows are used


def test_no_dataset_anywhere_names_it_and_both_ways_out(hub: HubServer, tmp_path, monkeypatch):
    with pytest.raises(QuestionSourceError) as online:  # the Hub has no such repo, cache empty
        bank_questions("gsm8k")
    point_client_at(monkeypatch, hub.url, tmp_path / "empty-home", offline=True)
    with pytest.raises(QuestionSourceError) as offline:
        bank_questions("gsm8k")
    for err in (online, offline):
        message = str(err.value)
        assert "\n" not in message
        assert "Hub dataset yuchenlin/zero-eval (config gsm, split test, revision main)" in message
        assert "--items FILE" in message
        assert "hf download yuchenlin/zero-eval --repo-type dataset --revision main" in message
    assert "RepositoryNotFoundError" in str(online.value)
    assert "offline (HF_HUB_OFFLINE=1)" in str(offline.value)


@needs_data
def test_offline_with_a_filled_cache(hub: HubServer, tmp_path, monkeypatch):
    _upload("yuchenlin/zero-eval", _zero_eval_folder(tmp_path / "zero-eval"))
    online = bank_questions("gsm8k")
    hub.stop()  # nothing to ask any more
    point_client_at(monkeypatch, "http://127.0.0.1:9", Path(constants.HF_HOME), offline=True)
    assert bank_questions("gsm8k") == online
    with pytest.raises(QuestionSourceError, match="offline .* TIGER-Lab/MMLU-Pro"):
        bank_questions("mmlu-pro")  # never downloaded


def test_cli_live_examinee_on_a_replay_bank_or_without_questions(tmp_path, monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    examinee = "openai:http://127.0.0.1:9/v1:some-model"
    replay = cli("evaluate", "--bank", "metabench-arc", "--examinee", examinee, check=False,
                 env=env)
    assert replay.returncode == 2
    assert replay.stderr.strip().splitlines() == [
        replay.stderr.strip()] and "'metabench-arc' is a replay bank" in replay.stderr
    missing = cli("evaluate", "--bank", "gsm8k", "--examinee", examinee, check=False, env=env)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "yuchenlin/zero-eval" in missing.stderr and "--items FILE" in missing.stderr


@needs_data
def test_cli_evaluate_reads_the_questions_from_the_hub(hub: HubServer, tmp_path):
    """Past the questions (from the test Hub), the CLI stops at the examinee's server: nothing
    listens there, and the error is about that URL, not about question text."""
    _upload("yuchenlin/zero-eval", _zero_eval_folder(tmp_path / "zero-eval"))
    run = cli("evaluate", "--bank", "gsm8k", "--examinee", "openai:http://127.0.0.1:9/v1:m",
              "--max-items", "1", check=False, env=dict(os.environ))
    assert run.returncode != 0
    assert "no question text" not in run.stderr and "127.0.0.1:9" in run.stderr
    assert any(p.name.startswith("test-") for p in Path(constants.HF_HUB_CACHE).rglob("*.parquet"))
