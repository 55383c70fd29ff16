"""The fixed holdout: stratified by item, the same items for the same data, hashed, versioned,
never holding items the champion trained on; a changed holdout is refused."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from features.problems import DataError
from models.kinds import GRADER, PRICING
from serving.settings import load_settings
from tests.pricing_data import make_table
from training.loop.holdout import create_holdout, extend_holdout, latest_holdout, load_holdout
from training.loop.strata import pick_items


@pytest.fixture
def home_settings(tmp_path):
    return load_settings({"REGRADE_HOME": str(tmp_path / "home")})


def test_pick_items_is_stratified_stable_and_respects_exclusions():
    items = pd.DataFrame(
        {"item_id": [f"i{k}" for k in range(200)], "grade": ["A"] * 100 + ["B"] * 60 + ["C"] * 40}
    )
    picked = pick_items(items, 0.15, ("grade", "category"))
    by_grade = items.set_index("item_id").loc[picked, "grade"].value_counts().to_dict()
    assert by_grade == {"A": 15, "B": 9, "C": 6}
    assert pick_items(items.sample(frac=1, random_state=3), 0.15, ("grade",)) == picked
    excluded = frozenset(picked[:10])
    again = pick_items(items, 0.15, ("grade",), excluded)
    assert not excluded & set(again) and len(again) == len(picked)


def test_pricing_holdout_is_written_hashed_and_versioned(tmp_path, home_settings):
    table = make_table(300, seed=2)
    table.to_csv(tmp_path / "base.csv", index=False)
    holdout = create_holdout(home_settings, PRICING, tmp_path / "base.csv", 0.2)
    assert holdout.folder == home_settings.home / "holdouts" / "pricing" / "v1"
    manifest = json.loads((holdout.folder / "manifest.json").read_text())
    assert manifest["sha256"] == holdout.fingerprint() and manifest["version"] == 1
    rows = holdout.frame()
    assert set(rows["item_id"]) == holdout.item_ids and (rows["split"] == "test").all()
    assert 50 <= len(holdout.item_ids) <= 70
    with pytest.raises(DataError, match="exists already"):
        create_holdout(home_settings, PRICING, tmp_path / "base.csv")

    more = make_table(200, seed=5)
    more.to_csv(tmp_path / "more.csv", index=False)
    grown = extend_holdout(home_settings, PRICING, tmp_path / "more.csv", 0.2)
    assert grown.version == 2 and holdout.item_ids < grown.item_ids
    assert grown.item_ids - holdout.item_ids <= set(more["item_id"])
    assert latest_holdout(home_settings, PRICING).version == 2
    assert load_holdout(home_settings, PRICING, 1).item_ids == holdout.item_ids

    with (holdout.folder / "holdout.csv").open("a") as handle:
        handle.write("\n")
    with pytest.raises(DataError, match="changed since it was written"):
        load_holdout(home_settings, PRICING, 1)


def test_grader_holdout_copies_photos_and_keeps_items_whole(toy, home_settings):
    root, _ = toy
    holdout = create_holdout(home_settings, GRADER, root, 0.25)
    photos = holdout.frame()
    assert set(photos["item_id"]) == holdout.item_ids
    assert photos.groupby("item_id").size().eq(2).all()  # every photo of a held-out item
    assert all((holdout.data / p).is_file() for p in photos["image"])
    assert holdout.fingerprint() == holdout.sha256


def test_a_holdout_never_holds_what_the_champion_trained_on(tmp_path, home_settings):
    from tests.pricing_data import fast_config
    from training.loop.strata import champion_trained_ids
    from training.pricing.pipeline import train_pricing

    make_table(400, seed=4).to_csv(tmp_path / "base.csv", index=False)
    train_pricing(
        fast_config(), tmp_path / "base.csv", tmp_path / "run", home_settings, promote=True
    )
    trained = champion_trained_ids(home_settings, PRICING)
    assert trained is not None and len(trained) > 250
    holdout = create_holdout(home_settings, PRICING, tmp_path / "base.csv", 0.15)
    assert holdout.item_ids and not holdout.item_ids & trained
