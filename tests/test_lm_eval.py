"""The lm-eval examinee, lm-eval tasks as question text, and lm-eval's output layout.

All offline: lm-evaluation-harness's real ``hf`` backend on a tiny random Llama with SmolLM2's
tokenizer (a byte-level BPE with BOS/EOS tokens, which lm-eval's hf backend needs; the MiniLM
tokenizer of ``test_examinees``' tiny model has none), local lm-eval tasks defined in YAML
over local JSON files (``dataset_path: json``), and the harness's OpenAI-compatible backend
(``local-completions``) against the real llama.cpp server that ``test_examinees`` starts.
Question text is made up here; the bank ids are the embedded MMLU-Pro and GSM8K banks'. The real
``gsm8k`` and ``mmlu_pro`` tasks of lm-eval run on local copies of their Hub datasets built in
tmp_path from a few rows of the shared data (those tests skip without it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.amortized.base_models import SMOLLM2, resolve_base_model
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.questions import Question
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.cli import main
from adaptive_eval.examinees import ExamineeError, ExamineeSpecError, examinee_from_spec
from adaptive_eval.examinees.hf import HFExaminee
from llama_server import start_llama_server, stop_server

pytest.importorskip("lm_eval", reason="lm-evaluation-harness not installed: the lm-eval extra")

import datasets.config  # noqa: E402
import lm_eval  # noqa: E402
from adaptive_eval.banks.answers import extract  # noqa: E402
from adaptive_eval.examinees.lm_eval import (  # noqa: E402 (needs lm_eval)
    LMEvalExaminee,
    load_task_prompts,
)

MMLU_IDS = ItemBank.load("mmlu-pro").ids[:6]
GSM8K_IDS = ItemBank.load("gsm8k").ids[:3]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
INSTALLED_TASKS = Path(lm_eval.__file__).parent / "tasks"
N_TEST = 4  # documents in each local test split


def _mc_questions() -> dict[str, Question]:
    """Six made-up multiple-choice questions under real MMLU-Pro bank ids (4 to 10 options)."""
    out = {}
    for k, qid in enumerate(MMLU_IDS):
        n = 4 + k
        out[qid] = Question(qid, f"Which number comes {k + 1} after zero?",
                            [str(i) for i in range(n)], answer_index=(k + 1) % n,
                            category="math")
    return out


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(SMOLLM2))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    folder = tmp_path_factory.mktemp("tiny-bpe-lm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def mc_questions() -> dict[str, Question]:
    return _mc_questions()


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory) -> Path:
    """Local lm-eval tasks over JSON files: ``local_mc`` (multiple_choice, MMLU-Pro ids in a
    ``question_id`` field), ``local_gen`` (generate_until, GSM8K-style ``#### N`` targets, its
    documents matched by ``<task>/<doc_id>``) and ``local_other`` (ids matching no bank)."""
    folder = tmp_path_factory.mktemp("lm-eval-tasks")
    mc = [{"question_id": q.question_id, "question": q.text, "options": q.options,
           "answer_index": q.answer_index} for q in _mc_questions().values()]
    gen = [{"question": f"What is {k} plus {k}?", "answer": f"{k} + {k} = {2 * k}\n#### {2 * k}"}
           for k in range(3)]
    other = [dict(doc, question_id=f"nope-{k}") for k, doc in enumerate(mc)]
    for name, docs in {"mc": mc, "gen": gen, "other": other}.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    common = "dataset_path: json\ntest_split: test\nmetric_list:\n  - metric: {metric}\n"
    mc_yaml = ("output_type: multiple_choice\ndoc_to_text: \"Question: {{question}}\\nAnswer:\"\n"
               "doc_to_choice: \"{{options}}\"\ndoc_to_target: answer_index\n")
    (folder / "local_mc.yaml").write_text(
        f"task: local_mc\ndataset_kwargs:\n  data_files:\n    test: {folder / 'mc.jsonl'}\n"
        + common.format(metric="acc") + mc_yaml)
    (folder / "local_other.yaml").write_text(
        f"task: local_other\ndataset_kwargs:\n  data_files:\n    test: {folder / 'other.jsonl'}\n"
        + common.format(metric="acc") + mc_yaml)
    (folder / "local_gen.yaml").write_text(
        f"task: local_gen\ndataset_kwargs:\n  data_files:\n    test: {folder / 'gen.jsonl'}\n"
        + common.format(metric="exact_match")
        + "output_type: generate_until\ndoc_to_text: \"Question: {{question}}\\nAnswer:\"\n"
        "doc_to_target: \"{{answer}}\"\ngeneration_kwargs:\n  until: [\"Question:\"]\n"
        "  max_gen_toks: 8\n  do_sample: false\n")
    return folder


@pytest.fixture(scope="module")
def lm_examinee(tiny_lm, mc_questions) -> LMEvalExaminee:
    return examinee_from_spec(f"lm-eval:hf:pretrained={tiny_lm},dtype=float32",
                              questions=mc_questions)


def _logprobs(examinee: LMEvalExaminee, qid: str) -> np.ndarray:
    return np.array([r[0] for r in examinee.samples[qid]["resps"]])


def test_hf_backend_matches_the_hf_examinee(tiny_lm, lm_examinee, mc_questions):
    """lm-eval's hf backend scores each option's letter like the package's HFExaminee: the same
    log-probabilities, so the same choices."""
    ids = list(mc_questions)
    answers = lm_examinee.answers(ids)
    own = HFExaminee(str(tiny_lm), mc_questions, dtype="float32")
    for qid, answer, logprobs in zip(ids, answers, own.option_logprobs(ids)):
        assert len(_logprobs(lm_examinee, qid)) == len(mc_questions[qid].options)
        np.testing.assert_allclose(_logprobs(lm_examinee, qid), logprobs, atol=1e-4)
        assert answer.extracted == "ABCDEFGHIJ"[int(np.argmax(logprobs))]
        assert answer.correct == int(answer.extracted == mc_questions[qid].answer)
    assert [a.correct for a in answers] == list(lm_examinee.answer_batch(ids))


def test_task_prompts_map_documents_to_bank_ids(tasks_dir):
    prompts = load_task_prompts("local_mc", MMLU_IDS + ["999999"], "multiple_choice",
                                include_path=tasks_dir)
    assert sorted(prompts) == sorted(MMLU_IDS)
    first = prompts[MMLU_IDS[0]]
    assert first.task == "local_mc" and first.doc_id == 0 and first.multiple_choice
    assert [r.args[1] for r in first.requests] == [" 0", " 1", " 2", " 3"]
    assert first.requests[0].args[0] == "Question: Which number comes 1 after zero?\nAnswer:"
    assert first.gold == "B"
    gen = load_task_prompts("local_gen", ["local_gen/0", "local_gen/2"], "numeric",
                            include_path=tasks_dir)
    assert sorted(gen) == ["local_gen/0", "local_gen/2"]
    assert gen["local_gen/2"].gold == "4" and not gen["local_gen/2"].multiple_choice


def test_task_examinee_answers_with_the_task_requests(tiny_lm, tasks_dir):
    prompts = load_task_prompts("local_gen", ["local_gen/0", "local_gen/1"], "numeric",
                                include_path=tasks_dir)
    examinee = examinee_from_spec(f"lm-eval:hf:pretrained={tiny_lm},dtype=float32",
                                  prompts=prompts)
    answers = examinee.answers(["local_gen/0", "local_gen/1"])
    for qid, answer in zip(["local_gen/0", "local_gen/1"], answers):
        assert isinstance(answer.response, str)
        assert examinee.samples[qid]["resps"] == [[answer.response]]
        assert answer.correct == int(answer.extracted == prompts[qid].gold)
    with pytest.raises(RuntimeError, match="bank id 'local_gen/2' has no question text or"):
        examinee.answer("local_gen/2")


def test_cli_writes_lm_eval_files_that_calibrate_reads(tiny_lm, tasks_dir, tmp_path, capsys):
    """An adaptive run with prompts from a local task writes lm-eval's results JSON and samples
    JSONL; ``adaptive-eval calibrate`` reads the samples back under the bank's ids."""
    out = tmp_path / "out"
    spec = f"lm-eval:hf:pretrained={tiny_lm},dtype=float32"
    code = main(["evaluate", "--bank", "mmlu-pro", "--examinee", spec, "--lm-eval-task",
                 "local_mc", "--lm-eval-include-path", str(tasks_dir), "--max-items", "4",
                 "--target-se", "0", "--output-path", str(out), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    (results_file,) = out.glob("*/results_*.json")
    (samples_file,) = out.glob("*/samples_local_mc_*.jsonl")
    results = json.loads(results_file.read_text())["results"]["local_mc"]
    assert results["acc,none"] == pytest.approx(payload["expected_accuracy"])
    assert results["acc_interval,none"] == pytest.approx(payload["expected_accuracy_interval"])
    assert results["n_items"] == 4 and results["theta"] == pytest.approx(payload["theta"])
    lines = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert [s["question_id"] for s in lines] == [h["question_id"] for h in payload["history"]]
    assert [s["acc"] for s in lines] == [h["correct"] for h in payload["history"]]
    assert {s["doc_id"] for s in lines} <= set(range(6))
    data = ResponseData.from_file(samples_file)
    assert sorted(data.question_ids) == sorted(s["question_id"] for s in lines)
    # two runs (two model folders) calibrate into a bank
    twin = out / "another-model"
    twin.mkdir()
    flipped = [dict(s, acc=1.0 - s["acc"]) for s in lines]
    (twin / samples_file.name).write_text("".join(json.dumps(s) + "\n" for s in flipped))
    assert main(["calibrate", str(out), "--model", "rasch", "--misfit-models", "0",
                 "--out", str(tmp_path / "bank"), "--json"]) == 0
    calibrated = json.loads(capsys.readouterr().out)
    assert calibrated["n_items"] == 4 and calibrated["n_models"] == 2


def test_core_works_without_lm_eval():
    """The package and its CLI import without lm_eval; an lm-eval: spec then names the extra.
    (``sys.modules["lm_eval"] = None`` is Python's way to make a module unimportable.)"""
    code = (
        "import sys; sys.modules['lm_eval'] = None\n"
        "import adaptive_eval, adaptive_eval.examinees, adaptive_eval.examinees.lm_eval_output\n"
        "from adaptive_eval.cli import main\n"
        "sys.exit(main(['evaluate', '--bank', 'mmlu-pro', '--examinee', "
        "'lm-eval:hf:pretrained=x']))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (
        "adaptive-eval: error: an lm-evaluation-harness backend (lm-eval:) needs the 'lm-eval' "
        "extra (lm_eval not installed): pip install 'adaptive-eval[lm-eval]'")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("lm-eval:no-such-backend:pretrained=x", "unknown lm-eval backend 'no-such-backend'"),
        ("lm-eval:hf:pretrained", "malformed model_args: 'pretrained' is not key=value"),
        ("lm-eval:hf:pretrained=x,,=y", "malformed model_args: '=y' is not key=value"),
        ("lm-eval:hf:pretrained=x,trust_remote_code=True", "trust_remote_code is refused"),
        ("lm-eval:hf", "does not parse; use lm-eval:BACKEND:MODEL_ARGS"),
    ],
)
def test_bad_specs(spec, message, mc_questions):
    with pytest.raises(ExamineeSpecError, match=message):
        examinee_from_spec(spec, questions=mc_questions)


def test_cli_spec_errors_come_before_question_text(capsys):
    """No --items (and no internet): the spec's own error is the one line shown."""
    assert main(["evaluate", "--bank", "mmlu-pro", "--examinee", "lm-eval:nope:x=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("adaptive-eval: error: examinee spec 'lm-eval:nope:x=1': unknown "
                          "lm-eval backend 'nope'") and "\n" not in err


def test_unknown_backend_argument_is_a_spec_error(tiny_lm, mc_questions):
    with pytest.raises(ExamineeSpecError, match="does not take these model_args"):
        examinee_from_spec(f"lm-eval:hf:pretrained={tiny_lm},no_such_option=1",
                           questions=mc_questions)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("no_such_task_xyz", "--lm-eval-task 'no_such_task_xyz': no such lm-eval task"),
        ("local_other", "--lm-eval-task 'local_other': none of its documents match the bank"),
    ],
)
def test_cli_bad_tasks_are_one_line_errors(task, message, tiny_lm, tasks_dir, capsys):
    code = main(["evaluate", "--bank", "mmlu-pro", "--examinee",
                 f"lm-eval:hf:pretrained={tiny_lm}", "--lm-eval-task", task,
                 "--lm-eval-include-path", str(tasks_dir)])
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the datasets progress bars
    assert code == 2 and last.startswith("adaptive-eval: error: ") and message in last


@pytest.mark.server
def test_openai_compatible_backend_against_llama_cpp(tmp_path):
    """lm-eval's ``local-completions`` backend answers free-form questions with generate_until
    through the real llama.cpp server (SmolLM2 GGUF). Not loglikelihood: lm-eval sends token-id
    prompts, which llama-cpp-python's server rejects (HTTP 500: prompt must be text), and with
    ``tokenized_requests=False`` every option's log-likelihood comes back as 0.0, which the
    examinee refuses instead of answering "A" every time."""
    process, base_url = start_llama_server(tmp_path / "server.log")
    try:
        questions = {qid: Question(qid, f"What is {k} plus {k}?", answer_type="numeric",
                                   answer=str(2 * k)) for k, qid in enumerate(GSM8K_IDS[:2])}
        examinee = examinee_from_spec(
            f"lm-eval:local-completions:model=smollm2,base_url={base_url}/completions,"
            "tokenizer_backend=None,max_gen_toks=16,batch_size=1", questions=questions)
        answers = examinee.answers(list(questions))
        choice = {"mc-0": Question("mc-0", "Which is a colour?", ["red", "seven", "run"], 0)}
        scorer = examinee_from_spec(
            f"lm-eval:local-completions:model=smollm2,base_url={base_url}/completions,"
            f"tokenizer={resolve_base_model(SMOLLM2)},tokenized_requests=False,batch_size=1",
            questions=choice)
        with pytest.raises(ExamineeError, match="same log-likelihood"):
            scorer.answers(["mc-0"])
    finally:
        stop_server(process)
    for qid, answer in zip(questions, answers):
        assert isinstance(answer.response, str) and answer.response.strip()
        assert answer.correct == int(questions[qid].is_correct(answer.extracted))


def _local_dataset(folder: Path, splits: dict[str, list[dict]], config: str | None = None) -> Path:
    """``folder`` laid out like a Hub dataset repository: ``<config or data>/<split>-00000-of-00001
    .parquet`` per split, and for a named config the README's ``configs:`` entry naming its files
    (openai/gsm8k's layout; TIGER-Lab/MMLU-Pro's default config needs none)."""
    sub = config or "data"
    (folder / sub).mkdir(parents=True)
    for split, rows in splits.items():
        pd.DataFrame(rows).to_parquet(folder / sub / f"{split}-00000-of-00001.parquet")
    if config:
        files = "".join(f"  - split: {s}\n    path: {sub}/{s}-*\n" for s in splits)
        (folder / "README.md").write_text(f"---\nconfigs:\n- config_name: {config}\n"
                                          f"  data_files:\n{files}---\n")
    return folder


@pytest.fixture(scope="module")
def real_tasks(tmp_path_factory) -> Iterator[tuple[Path, pd.DataFrame, pd.DataFrame]]:
    """The installed ``gsm8k`` and ``mmlu_pro_math`` tasks over local copies of their Hub datasets:
    task YAMLs ``gsm8k_local`` / ``mmlu_pro_math_local`` that ``include:`` the installed ones and
    set only ``dataset_path`` (``gsm8k_snapshot``: the gsm8k copy in a folder not named gsm8k).
    Returns the include folder and the test documents (GSM8K: ZeroEval's first items in id order;
    MMLU-Pro: math questions). The few-shot splits (gsm8k's train,
    MMLU-Pro's validation, neither in the shared data) are other questions of the same data.

    The datasets cache is a fresh folder: ``datasets`` names a local copy's cache by folder name,
    config and README, so a copy with other rows would otherwise load a former copy's rows."""
    gsm8k_items = SHARED / "zeroeval" / "items.csv.gz"
    mmlu_items = SHARED / "mmlu_pro" / "items.csv.gz"
    for path in (gsm8k_items, mmlu_items):
        if not path.exists():
            pytest.skip(f"question text not found at {path} (only beside the project's checkout)")
    root = tmp_path_factory.mktemp("real-lm-eval-tasks")
    zeroeval = pd.read_csv(gsm8k_items)
    gsm8k = zeroeval[zeroeval.benchmark == "gsm8k"].reset_index(drop=True)
    gsm8k_rows = [{"question": q, "answer": f"Steps.\n#### {a}"}
                  for q, a in zip(gsm8k.question, gsm8k.answer)]
    gsm8k_splits = {"train": gsm8k_rows[100:110], "test": gsm8k_rows[:N_TEST]}
    gsm8k_copy = _local_dataset(root / "gsm8k", gsm8k_splits, config="main")
    # the same copy in a folder named like a cache snapshot: its ids no longer name gsm8k
    snapshot = _local_dataset(root / "3f2a9c0d", gsm8k_splits, config="main")
    math = pd.read_csv(mmlu_items).query("category == 'math'").reset_index(drop=True)
    mmlu_rows = [{"question_id": int(r.question_id), "question": r.question,
                  "options": json.loads(r.options), "answer": r.answer,
                  "answer_index": int(r.answer_index), "category": r.category, "src": r.src,
                  "cot_content": f"A: Let's think step by step. The answer is ({r.answer})."}
                 for r in math.itertuples()]
    mmlu_copy = _local_dataset(root / "MMLU-Pro", {"validation": mmlu_rows[:5],
                                                   "test": mmlu_rows[5 : 5 + N_TEST]})
    tasks = root / "tasks"
    tasks.mkdir()
    (tasks / "gsm8k_local.yaml").write_text(
        f"include: {INSTALLED_TASKS / 'gsm8k' / 'gsm8k.yaml'}\ntask: gsm8k_local\n"
        f"dataset_path: {gsm8k_copy}\n")
    (tasks / "gsm8k_snapshot.yaml").write_text(
        f"include: {INSTALLED_TASKS / 'gsm8k' / 'gsm8k.yaml'}\ntask: gsm8k_snapshot\n"
        f"dataset_path: {snapshot}\n")
    (tasks / "mmlu_pro_math_local.yaml").write_text(
        f"include: {INSTALLED_TASKS / 'mmlu_pro' / 'mmlu_pro_math.yaml'}\n"
        f"task: mmlu_pro_math_local\ndataset_path: {mmlu_copy}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", str(root / "datasets-cache"))
        yield tasks, gsm8k.head(N_TEST), math.iloc[5 : 5 + N_TEST]


def test_real_mmlu_pro_task_maps_documents_by_question_id(real_tasks):
    """The installed mmlu_pro task's documents map to the mmlu-pro bank by ``question_id``; each
    prompt is the task's own: its description, 5 chain-of-thought shots from the validation split,
    its ``Question:/Options:/A. ...`` formatting; its gold is the letter, its filter
    ``custom-extract``."""
    tasks, _, math = real_tasks
    prompts = load_task_prompts("mmlu_pro_math_local", ItemBank.load("mmlu-pro").ids,
                                "multiple_choice", include_path=tasks)
    assert sorted(prompts) == sorted(str(q) for q in math.question_id)
    for row in math.itertuples():
        prompt = prompts[str(row.question_id)]
        text, generation = prompt.requests[0].args
        options = "".join(f"{letter}. {option.strip()}\n"
                          for letter, option in zip("ABCDEFGHIJ", json.loads(row.options)))
        assert text.startswith("The following are multiple choice questions (with answers) "
                               "about math. Think step by step")
        assert text.endswith(f"Question:\n{row.question}\nOptions:\n{options}"
                             "Answer: Let's think step by step.")
        assert text.count("Question:\n") == 6 and text.count("The answer is (") == 5
        assert generation["until"] == ["Question:"] and not prompt.multiple_choice
        assert prompt.gold == row.answer and prompt.filter.name == "custom-extract"


def test_real_gsm8k_task_maps_test_split_indices(real_tasks):
    """ZeroEval's ``gsm8k-main-test-#N`` is document N of openai/gsm8k's test split (#0 is the
    split's first question, Janet's ducks); the installed gsm8k task's documents map to the gsm8k
    bank by index, with the task's 5-shot ``Question: ...\\nAnswer:`` prompts and strict-match
    filter."""
    tasks, gsm8k, _ = real_tasks
    assert gsm8k.question_id.tolist() == [f"gsm8k-main-test-#{i}" for i in range(N_TEST)]
    assert gsm8k.question[0].startswith("Janet’s ducks lay 16 eggs per day.")
    prompts = load_task_prompts("gsm8k_local", ItemBank.load("gsm8k").ids, "numeric",
                                include_path=tasks)
    assert sorted(prompts) == sorted(gsm8k.question_id)
    for row in gsm8k.itertuples():
        prompt = prompts[row.question_id]
        text = prompt.requests[0].args[0]
        assert text.endswith(f"Question: {row.question}\nAnswer:")
        assert text.count("Question: ") == 6 and text.count("\n#### ") == 5
        assert prompt.doc_id == int(row.question_id.split("#")[1])
        assert prompt.gold == extract("numeric", str(row.answer))
        assert prompt.filter.name == "strict-match"


def test_cli_evaluates_gsm8k_with_the_real_task(tiny_lm, real_tasks, tmp_path, capsys):
    """``evaluate --bank gsm8k --lm-eval-task gsm8k_local`` end to end: the hf backend answers the
    task's prompts, each reply is read through the task's strict-match filter (``#### N``), and
    the run is written in lm-eval's layout."""
    tasks, gsm8k, _ = real_tasks
    out = tmp_path / "out"
    code = main(["evaluate", "--bank", "gsm8k", "--lm-eval-task", "gsm8k_local",
                 "--lm-eval-include-path", str(tasks), "--examinee",
                 f"lm-eval:hf:pretrained={tiny_lm},dtype=float32", "--max-items", "3",
                 "--target-se", "0", "--output-path", str(out), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n_items"] == 3
    for step in payload["history"]:
        assert step["question_id"] in set(gsm8k.question_id)
        strict = re.findall(r"#### (\-?[0-9\.\,]+)", step["response"])
        assert step["extracted"] == (extract("numeric", strict[0]) if strict else None)
    (results_file,) = out.glob("*/results_*.json")
    assert json.loads(results_file.read_text())["results"]["gsm8k_local"]["n_items"] == 3
    (samples_file,) = out.glob("*/samples_gsm8k_local_*.jsonl")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    for sample, step in zip(samples, payload["history"]):
        assert sample["doc_id"] == int(step["question_id"].split("#")[1])
        assert sample["arguments"][0][0].endswith(f"Question: {sample['doc']['question']}\nAnswer:")


def test_cli_says_how_to_name_a_local_copy(tiny_lm, real_tasks, capsys):
    """A gsm8k copy in a folder not named after the dataset gives ids that match no bank id: one
    error line saying how documents get their ids."""
    tasks, _, _ = real_tasks
    code = main(["evaluate", "--bank", "gsm8k", "--lm-eval-task", "gsm8k_snapshot",
                 "--lm-eval-include-path", str(tasks), "--examinee",
                 f"lm-eval:hf:pretrained={tiny_lm}"])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("adaptive-eval: error: --lm-eval-task 'gsm8k_snapshot'")
    assert "name a local copy's folder after the dataset" in last
