"""ResponseData: every format it reads, and one clear error for each kind of bad input."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.banks.responses import ResponseData, ResponseDataError

LONG = "model,question_id,correct\nm1,q1,1\nm1,q2,0\nm2,q1,0\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_long_csv_keeps_missing_cells_missing(tmp_path):
    data = ResponseData.from_file(write(tmp_path, "r.csv", LONG))
    assert data.models == ["m1", "m2"] and data.question_ids == ["q1", "q2"]
    matrix = data.matrix()
    assert matrix[0].tolist() == [1, 0]
    assert matrix[1, 0] == 0 and np.isnan(matrix[1, 1])  # m2 never saw q2: missing, not wrong


def test_gzip_parquet_jsonl_and_wide_give_the_same_cells(tmp_path):
    reference = ResponseData.from_file(write(tmp_path, "r.csv", LONG)).to_long()
    gz = tmp_path / "r.csv.gz"
    gz.write_bytes(gzip.compress(LONG.encode()))
    reference.to_parquet(tmp_path / "r.parquet")
    (tmp_path / "r.jsonl").write_text(
        "\n".join(json.dumps(r) for r in reference.to_dict("records")))
    wide = write(tmp_path, "wide.csv", "model,q1,q2\nm1,1,0\nm2,0,\n")
    for path in [gz, tmp_path / "r.parquet", tmp_path / "r.jsonl", wide]:
        got = ResponseData.from_file(path).to_long()
        key = ["model", "question_id"]
        pd.testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True),
            reference.sort_values(key).reset_index(drop=True), check_dtype=False)


def test_lm_eval_samples(tmp_path):
    folder = tmp_path / "out" / "my-model"
    folder.mkdir(parents=True)
    rows = [{"doc_id": 0, "acc": 1.0, "doc": {}}, {"doc_id": 1, "acc": 0.0, "doc": {}}]
    (folder / "samples_mmlu_2024-05-01T12-00-00.000.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows))
    data = ResponseData.from_file(tmp_path / "out")
    assert data.models == ["my-model"]
    assert data.question_ids == ["mmlu/0", "mmlu/1"]
    assert data.correct.tolist() == [1, 0]


def test_threshold_applies_to_lm_eval_samples(tmp_path):
    folder = tmp_path / "out" / "my-model"
    folder.mkdir(parents=True)
    rows = [{"doc_id": 0, "acc": 0.7, "doc": {}}, {"doc_id": 1, "acc": 0.2, "doc": {}}]
    (folder / "samples_mmlu_2024-05-01T12-00-00.000.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows))
    with pytest.raises(ResponseDataError, match="threshold"):
        ResponseData.from_file(tmp_path / "out")
    data = ResponseData.from_file(tmp_path / "out", threshold=0.5)
    assert data.correct.tolist() == [1, 0]


def test_threshold_turns_scores_into_correctness(tmp_path):
    path = write(tmp_path, "s.csv", "model,question_id,correct\nm,q1,0.7\nm,q2,0.2\n")
    with pytest.raises(ResponseDataError, match=r"s\.csv: row 1 .*threshold"):
        ResponseData.from_file(path)
    assert ResponseData.from_file(path, threshold=0.5).correct.tolist() == [1, 0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("model,question_id,correct\nm,q1,1\nm,q1,0\n", r"row 2 repeats model 'm' question 'q1'"),
        ("model,question_id,correct\nm,q1,1\nm,q2,yes\n", r"row 2 has correct='yes'"),
        ("model,question_id,correct\nm,q1,1\nm,q2,3\n", r"row 2 has correct=3;"),
        ("model,question_id,extra\nm,q1,x\n",
         r"missing column\(s\) correct \(0/1\) or score \(in \[0, 1\]\); found model, question_id, "
         r"extra"),
        ("model,question_id,score\nm,q1,1\nm,q2,1.5\n",
         r"row 2 has score=1\.5; expected a number in"),
        ("", r"empty"),
        ("model,question_id,correct\n", r"empty"),
    ],
)
def test_bad_input_gives_one_clear_error_naming_file_and_row(tmp_path, text, message):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(ResponseDataError, match=message) as info:
        ResponseData.from_file(path)
    assert "bad.csv" in str(info.value)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(ResponseDataError, match="no such file"):
        ResponseData.from_file(tmp_path / "nope.csv")
    with pytest.raises(ResponseDataError, match="unknown format"):
        ResponseData.from_file(write(tmp_path, "r.xlsx", "x"))


def test_drop_models_and_responses_of(tmp_path):
    data = ResponseData.from_file(write(tmp_path, "r.csv", LONG))
    rest = data.drop_models(["m1"])
    assert rest.models == ["m2"] and rest.n_observed == 1
    assert data.responses_of("m1") == {"q1": 1, "q2": 0}
    with pytest.raises(ResponseDataError, match="unknown model 'zz'"):
        data.responses_of("zz")


def test_real_mmlu_pro_responses(mmlu_responses):
    assert mmlu_responses.n_models == 23
    assert mmlu_responses.n_items == 12032
    assert mmlu_responses.n_observed == 275035
