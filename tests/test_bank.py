"""ItemBank: exact save/load round trip, no pickle, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from adaptive_eval.banks.bank import ItemBank, ItemBankError
from huggingface_hub import DatasetCard


def make_bank(n=20):
    rng = np.random.default_rng(0)
    return ItemBank(
        ids=[f"q{k}" for k in range(n)], b=rng.normal(size=n), a=np.exp(rng.normal(0, .3, n)),
        b_se=rng.random(n), a_se=rng.random(n) / 10, predicted=rng.random(n) < 0.3,
        category=["math" if k % 2 else "law" for k in range(n)],
        metadata={"method": "test"}, abilities={"m": {"theta": 0.5, "se": 0.1, "accuracy": .4}},
    )


def test_exact_round_trip(tmp_path):
    bank = make_bank()
    bank.save(tmp_path / "bank")
    files = sorted(p.name for p in (tmp_path / "bank").iterdir())
    assert files == ["README.md", "config.json", "items.parquet", "params.safetensors"]
    loaded = ItemBank.load(tmp_path / "bank")
    assert loaded.ids == bank.ids and loaded.category == bank.category
    for name in ("b", "a", "b_se", "a_se", "predicted"):
        assert np.array_equal(getattr(loaded, name), getattr(bank, name)), name
    assert loaded.abilities == bank.abilities and loaded.metadata == bank.metadata
    assert json.loads((tmp_path / "bank" / "config.json").read_text())["artifact"] == "item-bank"
    card = (tmp_path / "bank" / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: adaptive-eval" in card


def test_subset_index_and_expected_accuracy():
    bank = make_bank()
    sub = bank.subset(["q3", "q1"])
    assert sub.ids == ["q3", "q1"] and sub.b[0] == bank.b[3]
    with pytest.raises(ItemBankError, match="'nope' is not in the bank"):
        bank.index(["nope"])
    acc = bank.mean_probability(np.array([-10.0, 0.0, 10.0]))
    assert acc[0] < 0.01 and acc[2] > 0.99 and 0 < acc[1] < 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ids=[], b=[]), "at least one item"),
        (dict(ids=["a", "a"], b=[0, 1]), "unique"),
        (dict(ids=["a", "b"], b=[0]), r"b has shape \(1,\)"),
        (dict(ids=["a"], b=[np.nan]), "finite"),
    ],
)
def test_bad_banks(kwargs, message):
    with pytest.raises(ItemBankError, match=message):
        ItemBank(**kwargs)


def test_not_a_bank_folder(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ItemBankError, match="not a readable item bank"):
        ItemBank.load(tmp_path)


def test_embedded_mmlu_pro_bank_loads_by_default():
    bank = ItemBank.load()
    assert len(bank) == 12032 and bank.model == "2pl"
    assert len(set(bank.category)) == 14 and len(bank.abilities) == 23


def test_item_table_is_what_the_hub_viewer_and_datasets_read(tmp_path):
    """items.parquet holds one row per item (ids, categories, parameters, flags); the card's
    configs point ``datasets.load_dataset`` at it; a bank saved with items.json still loads."""
    bank = make_bank()
    bank.metadata["flags"] = {"q3": ["answered right mostly by weaker models"]}
    folder = bank.save(tmp_path / "bank")
    table = pd.read_parquet(folder / "items.parquet")
    assert table["question_id"].tolist() == bank.ids
    assert table["category"].tolist() == bank.category
    np.testing.assert_array_equal(table["b"], bank.b)
    assert table.loc[3, "flags"] == "answered right mostly by weaker models"
    assert table.loc[2, "flags"] == ""
    card = DatasetCard.load(folder / "README.md")
    assert card.data.configs == [{"config_name": "default", "data_files": "items.parquet"}]
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(str(folder), split="train")
    assert loaded["question_id"] == bank.ids and loaded.num_rows == len(bank)
    (folder / "items.parquet").unlink()  # a bank from before the table
    (folder / "items.json").write_text(json.dumps({"ids": bank.ids, "category": None}))
    old = ItemBank.load(folder)
    assert old.ids == bank.ids and old.category is None
