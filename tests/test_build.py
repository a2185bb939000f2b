"""The calibrate pipeline (build_bank): model choice, items metadata, quality flags."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.banks.answers import AnswerTypeError
from adaptive_eval.banks.bank import ItemBank
from adaptive_eval.banks.build import ItemsFileError, build_bank, quality_flags
from adaptive_eval.banks.responses import ResponseData
from adaptive_eval.irt.calibration import calibrate


def simulated(n_models: int = 60, n_items: int = 80, wrong_keys=(3, 17), seed: int = 0):
    """2PL answers; the items in ``wrong_keys`` are answered right by the *weaker* models,
    as an item whose key is wrong is."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_models)
    b, a = rng.normal(size=n_items), np.exp(rng.normal(0, 0.3, n_items))
    p = 1 / (1 + np.exp(-a * (theta[:, None] - b)))
    p[:, list(wrong_keys)] = 1 - p[:, list(wrong_keys)]
    y = (rng.random(p.shape) < p).astype(int)
    frame = pd.DataFrame([(f"m{j}", f"q{i}", y[j, i]) for j in range(n_models)
                          for i in range(n_items)], columns=["model", "question_id", "correct"])
    return ResponseData.from_long(frame)


def test_flags_find_items_answered_against_ability():
    data = simulated()
    flags = quality_flags(data, calibrate(data, "2pl"))
    assert {"q3", "q17"} <= set(flags)
    assert "answers_against_ability" in flags["q3"]
    assert len(flags) <= 6  # a handful of false alarms at most among 78 sound items


def test_build_bank_chooses_a_model_and_reads_the_items_once(tmp_path):
    data = simulated()
    options = json.dumps(["w", "x", "y", "z"])
    items = pd.DataFrame({"question_id": data.question_ids,
                          "category": ["even" if int(q[1:]) % 2 == 0 else "odd"
                                       for q in data.question_ids],
                          "options": options})
    built = build_bank(data, "auto", items=items, misfit_models=3)
    assert set(built.heldout) == {"rasch", "2pl"}
    best = min(built.heldout, key=lambda m: built.heldout[m]["log_loss"])
    assert built.bank.model == best
    assert built.bank.metadata["answer_type"] == "multiple_choice"
    assert built.bank.metadata["chance_accuracy"] == pytest.approx(0.25)
    assert set(built.bank.category) == {"even", "odd"}
    assert len(built.misfit_errors) == 3 and "heldout_misfit_sd" in built.bank.metadata
    assert {"q3", "q17"} <= set(built.bank.metadata["flags"])
    built.bank.save(tmp_path / "bank")
    assert ItemBank.load(tmp_path / "bank").metadata["flags"] == built.flags


def test_free_form_items_have_chance_zero():
    data = simulated(wrong_keys=())
    items = pd.DataFrame({"question_id": data.question_ids, "options": ""})
    built = build_bank(data, "2pl", items=items, answer_type="numeric", misfit_models=0,
                       heldout_fraction=0)
    assert built.bank.metadata["answer_type"] == "numeric"
    assert built.bank.metadata["chance_accuracy"] == 0.0


def test_bad_items_and_answer_types():
    data = simulated(wrong_keys=())
    with pytest.raises(AnswerTypeError, match="unknown answer type 'essay'"):
        build_bank(data, answer_type="essay", misfit_models=0, heldout_fraction=0)
    with pytest.raises(ItemsFileError, match="question_id"):
        build_bank(data, items=pd.DataFrame({"id": ["q1"]}), misfit_models=0,
                   heldout_fraction=0)
    mixed = pd.DataFrame({"question_id": ["q0", "q1"], "answer_type": ["numeric", "math"]})
    with pytest.raises(ItemsFileError, match="mix answer types"):
        build_bank(data, items=mixed, misfit_models=0, heldout_fraction=0)
    with pytest.raises(ValueError, match="model 'irt3'"):
        build_bank(data, "irt3")
