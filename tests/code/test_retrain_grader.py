"""`regrade retrain grader`: the graders' decisions join the champion's photos (newest per item),
the holdout's items never reach train or val, both graders are scored on the whole holdout."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from models.kinds import CHAMPION, GRADER
from serving.settings import load_settings
from tests.code.conftest import TINY
from training.grader.config import GraderConfig
from training.grader.data import load_photoset
from training.grader.toy import write_toy_dataset
from training.loop.data import grader_data
from training.loop.holdout import create_holdout
from training.tracking import alias_version, version_tags


@pytest.fixture(scope="module")
def grader_home(tmp_path_factory):
    """A home with a one-epoch toy grader @champion and a grader holdout."""
    from training.grader.pipeline import train_grader

    root = tmp_path_factory.mktemp("grader-loop")
    settings = load_settings({"REGRADE_HOME": str(root / "home")})
    write_toy_dataset(root / "toy", n_items=60, photos_per_item=2, image_size=32)
    train_grader(
        GraderConfig(epochs=1, **TINY), root / "toy", root / "champ", settings, promote=True
    )
    holdout = create_holdout(settings, GRADER, root / "toy", 0.15)
    return settings, root, holdout


def _store_rows(root, base_ids: list[str]) -> pd.DataFrame:
    """A graders' decisions export: other toy photos, the first two items renamed to base items."""
    write_toy_dataset(root / "store", n_items=6, photos_per_item=2, image_size=32, seed=11)
    rows = pd.read_csv(root / "store" / "manifest.csv")
    rows["image"] = [str((root / "store" / p).resolve()) for p in rows["image"]]
    rename = dict(zip(sorted(rows["item_id"].unique())[:2], base_ids, strict=True))
    rows["item_id"] = rows["item_id"].replace(rename)
    rows["grade"] = "C"  # the grader's verdict replaces the model's
    rows["case_id"], rows["grader_id"] = "c1", "g1"
    return rows.drop(columns=["split"], errors="ignore")


def test_merged_photos_take_the_graders_verdict_and_never_train_on_the_holdout(grader_home):
    _, root, holdout = grader_home
    base = pd.read_csv(root / "toy" / "manifest.csv")
    replaced = [base["item_id"].iloc[0], sorted(holdout.item_ids)[0]]
    store = _store_rows(root, replaced)
    data = grader_data(root / "toy", store, holdout, root / "merged")

    manifest = pd.read_csv(data.path / "manifest.csv")
    assert set(manifest.loc[manifest["item_id"] == replaced[0], "grade"]) == {"C"}
    assert len(manifest[manifest["item_id"] == replaced[0]]) == 2  # the store's photos only
    assert set(manifest.loc[manifest["split"] == "test", "item_id"]) == holdout.item_ids
    assert not data.train_ids & holdout.item_ids
    photos, problems = load_photoset(data.path, 32)
    assert problems == []
    drawn = photos.items.set_index("item_id")["split"]
    assert set(drawn[drawn == "test"].index) == holdout.item_ids  # the loader keeps the split
    assert {"train", "val"} <= set(drawn)


def test_retrain_grader_compares_on_the_whole_holdout_and_tags_the_challenger(grader_home):
    from training.loop.retrain import retrain

    settings, _, holdout = grader_home
    result = retrain(GRADER, settings)
    comparison = json.loads((result.run_dir / "comparison.json").read_text())
    assert comparison["primary"]["metric"] == "qwk"
    assert comparison["holdout"]["label"] == holdout.label
    rows = {row["metric"]: row for row in comparison["metrics"]}
    assert rows["n_test"]["champion"] == rows["n_test"]["challenger"] == len(holdout.item_ids)
    assert {"accuracy", "macro_f1", "ece", "auto_coverage", "counterfeit_auroc"} <= set(rows)
    assert not result.data.train_ids & holdout.item_ids
    assert not result.promoted and alias_version("regrade-grader", CHAMPION, settings) == "1"
    tags = version_tags("regrade-grader", result.training.version, settings)
    assert tags["promotion_reason"] == result.decision.reason
    assert tags["promotion_decision"] == ("promote" if result.decision.promote else "refuse")


def test_a_grader_that_answers_nothing_on_its_own_passes_the_calibration_band():
    from serving.settings import PromotionPolicy
    from training.loop.compare import Comparison
    from training.loop.promotion import decide

    def comparison(**challenger) -> Comparison:
        return Comparison(
            kind=GRADER,
            holdout={"label": "grader/v1", "sha256": "x"},
            champion_version="1",
            challenger_version="2",
            champion={"qwk": 0.6, "ece": 0.03, "auto_accuracy": 0.97, "auto_coverage": 0.5},
            challenger={"qwk": 0.7, "ece": 0.03, **challenger},
            primary="qwk",
            difference=0.1,
            interval=(0.05, 0.15),
            n_paired=100,
            sizes=(1000, 1000),
            extra={"target_accuracy": 0.97},
        )

    policy = PromotionPolicy(grader_guardrails={})
    silent = decide(comparison(auto_accuracy=None, auto_coverage=0.0), policy)
    band = next(check for check in silent.checks if check.name == "auto_accuracy")
    assert silent.promote and "answers nothing on its own" in band.detail
    unknown = decide(comparison(auto_accuracy=None), policy)  # no coverage reported: not trusted
    assert not unknown.promote and "auto_accuracy null" in unknown.reason
    wrong = decide(comparison(auto_accuracy=0.80, auto_coverage=0.6), policy)
    assert not wrong.promote
