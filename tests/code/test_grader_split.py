"""The user's split is honoured: a manifest with only train and test keeps its test items exactly
and carves val from its train items (stratified by grade, by item, seeded), and says so."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.code.conftest import TINY
from training.grader.config import GraderConfig
from training.grader.data import VAL_FROM_TRAIN, describe_split, load_photoset, split_items
from training.grader.toy import write_toy_dataset
from training.grader.train import train_grader_model


def _train_test_only(root, n_items=60):
    """A toy set whose manifest names only train and test (its own val items become test)."""
    manifest = write_toy_dataset(root, n_items=n_items, photos_per_item=2, image_size=32)
    manifest["split"] = manifest["split"].replace({"val": "test"})
    manifest.to_csv(root / "manifest.csv", index=False)
    return manifest


def test_train_and_test_only_keeps_test_and_carves_val_from_train(tmp_path):
    manifest = _train_test_only(tmp_path)
    data, problems = load_photoset(tmp_path, 32, seed=5)
    assert problems == []
    items = data.items.set_index("item_id")["split"]
    given = manifest.drop_duplicates("item_id").set_index("item_id")["split"]
    # the test items are exactly the manifest's test items
    assert set(items[items == "test"].index) == set(given[given == "test"].index)
    # val comes only from the manifest's train items, about VAL_FROM_TRAIN of them
    val = set(items[items == "val"].index)
    assert val and val <= set(given[given == "train"].index)
    n_train = int((given == "train").sum())
    assert len(val) == pytest.approx(VAL_FROM_TRAIN * n_train, abs=1)
    # stratified by grade: every grade has val items
    grades = data.items.set_index("item_id")["grade"]
    assert set(grades[list(val)]) == {"A", "B", "C"}
    # every photo of an item is in the item's split (by item)
    photo_split = data.items["split"].to_numpy()[data.item_index]
    assert len(photo_split) == len(manifest)
    assert data.split_info == {
        "source": "manifest",
        "val_from": "train",
        "val_share_of_train": VAL_FROM_TRAIN,
        "items": {
            "train": n_train - len(val),
            "val": len(val),
            "test": int((given == "test").sum()),
        },
    }
    assert "val carved from train" in describe_split(data.split_info)
    # seeded: the same seed carves the same val, another seed another
    again, _ = load_photoset(tmp_path, 32, seed=5)
    other, _ = load_photoset(tmp_path, 32, seed=6)
    assert again.items["split"].tolist() == data.items["split"].tolist()
    assert other.items["split"].tolist() != data.items["split"].tolist()


def test_a_complete_manifest_split_is_used_as_it_is(toy):
    _, data = toy
    assert data.split_info["source"] == "manifest" and "val_from" not in data.split_info
    assert data.split_info["items"] == {"train": 36, "val": 6, "test": 6}


@pytest.mark.parametrize(
    ("splits", "reason"),
    [
        ([None] * 30, "has no split"),
        (["train", "test", None] * 10, "for 20 of 30 items"),
        (["train", "val"] * 15, "train and test are both needed"),
    ],
)
def test_an_unusable_manifest_split_is_replaced_and_the_reason_recorded(splits, reason):
    items = pd.DataFrame({"grade": list("ABC") * 10, "counterfeit": [0.0] * 30, "split": splits})
    split, info = split_items(items, 0)
    assert info["source"] == "seeded" and reason in info["reason"]
    assert set(split) == {"train", "val", "test"}
    assert sum(info["items"].values()) == 30


def test_the_split_record_reaches_the_model_config(tmp_path):
    _train_test_only(tmp_path / "data", n_items=36)
    data, _ = load_photoset(tmp_path / "data", 32)
    config = GraderConfig(epochs=1, **TINY)
    model_dir = train_grader_model(config, data, tmp_path / "model").model_dir
    saved = json.loads((model_dir / "config.json").read_text())["info"]["split"]
    assert saved["source"] == "manifest" and saved["val_from"] == "train"
    assert saved["items"]["test"] == 12  # the toy set's val and test items
