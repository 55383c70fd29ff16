"""`regrade retrain pricing`: the merged data (newest row per item, the holdout out of training),
champion and challenger on the same holdout, the promotion rule, registry tags, dry runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.kinds import CHALLENGER, CHAMPION, PRICING
from serving.settings import PromotionPolicy, load_settings
from tests.pricing_data import fast_config, make_table
from training.loop.compare import Comparison
from training.loop.data import pricing_data
from training.loop.holdout import create_holdout
from training.loop.promotion import decide
from training.tracking import alias_version, version_tags


def shuffled(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The table with sold prices permuted among sold rows: a model trained on it is worse."""
    bad = table.copy()
    sold = bad["sold_price"].notna()
    values = bad.loc[sold, "sold_price"].to_numpy()
    bad.loc[sold, "sold_price"] = np.random.default_rng(seed).permutation(values)
    return bad


@pytest.fixture
def loop_home(tmp_path):
    """A home whose pricing champion was trained on shuffled prices, and a pricing holdout."""
    from training.pricing.pipeline import train_pricing

    settings = load_settings({"REGRADE_HOME": str(tmp_path / "home")})
    table = make_table(700, seed=3)
    table.to_csv(tmp_path / "good.csv", index=False)
    shuffled(table).to_csv(tmp_path / "shuffled.csv", index=False)
    train_pricing(
        fast_config(), tmp_path / "shuffled.csv", tmp_path / "champ", settings, promote=True
    )
    create_holdout(settings, PRICING, tmp_path / "good.csv", 0.15)
    return settings, tmp_path


def test_merged_pricing_data_keeps_the_newest_row_and_never_trains_on_the_holdout(loop_home):
    from training.loop.holdout import latest_holdout
    from training.pricing.data import holdout_mask, load_run_data

    settings, tmp = loop_home
    holdout = latest_holdout(settings, PRICING)
    base = pd.read_csv(tmp / "good.csv")
    store = make_table(40, seed=9)
    store.loc[:9, "item_id"] = base["item_id"].iloc[:10].to_numpy()  # ten replace base rows
    in_holdout = sorted(holdout.item_ids)[:3]
    store.loc[10:12, "item_id"] = in_holdout  # the store's rows of held-out items never train
    store["case_id"], store["grade_source"] = "c", "grader"
    data = pricing_data(tmp / "good.csv", store, holdout, tmp / "merged")

    frame = load_run_data(data.path).frame
    assert frame["item_id"].is_unique
    assert (data.n_replaced, data.n_store_items) == (10, 40)
    trained_on = set(frame.loc[~holdout_mask(frame, 0.2), "item_id"])
    assert trained_on == data.train_ids and not trained_on & holdout.item_ids
    assert data.test_ids == holdout.item_ids
    newest = frame.set_index("item_id").loc[store["item_id"].iloc[0], "age_months"]
    assert float(newest) == pytest.approx(store["age_months"].iloc[0])
    assert "case_id" not in frame.columns


def test_a_better_challenger_is_promoted_and_a_worse_one_refused_with_its_reason(loop_home):
    from training.loop.retrain import retrain

    settings, tmp = loop_home
    better = retrain(PRICING, settings, base=tmp / "good.csv", promote_if_better=True)
    assert better.promoted and better.decision.promote
    assert better.comparison.difference < 0 and better.comparison.interval[1] < 0
    assert alias_version("regrade-pricing", CHAMPION, settings) == better.training.version == "2"
    written = json.loads((better.run_dir / "comparison.json").read_text())
    assert written["primary"]["metric"] == "rmsle" and written["decision"]["promote"] is True
    keys = {row["metric"] for row in written["metrics"]}
    assert {"rmsle", "mape", "r2", "interval_coverage_80", "tts_cindex", "n_test"} <= keys
    assert (better.run_dir / "calibration_side_by_side.png").is_file()

    worse = retrain(PRICING, settings, base=tmp / "shuffled.csv", promote_if_better=True)
    assert not worse.promoted and worse.decision.reason.startswith("refused: rmsle")
    assert alias_version("regrade-pricing", CHAMPION, settings) == "2"
    assert alias_version("regrade-pricing", CHALLENGER, settings) == worse.training.version
    tags = version_tags("regrade-pricing", worse.training.version, settings)
    assert tags["promotion_decision"] == "refuse"
    assert tags["promotion_reason"] == worse.decision.reason and tags["holdout"] == "pricing/v1"


def test_a_dry_run_registers_nothing(loop_home):
    from training.loop.retrain import retrain

    settings, tmp = loop_home
    result = retrain(PRICING, settings, base=tmp / "good.csv", dry_run=True, promote_if_better=True)
    assert result.training.version is None and not result.promoted
    assert result.decision.promote  # it would have been promoted
    assert alias_version("regrade-pricing", CHALLENGER, settings) == "1"
    assert (result.run_dir / "comparison.json").is_file()


def _comparison(**changes) -> Comparison:
    values = dict(
        kind=PRICING,
        holdout={"label": "pricing/v1", "sha256": "x"},
        champion_version="1",
        challenger_version="2",
        champion={"rmsle": 0.30, "interval_coverage_80": 0.8, "mape": 0.2, "tts_cindex": 0.7},
        challenger={"rmsle": 0.25, "interval_coverage_80": 0.8, "mape": 0.19, "tts_cindex": 0.7},
        primary="rmsle",
        difference=-0.05,
        interval=(-0.08, -0.02),
        n_paired=100,
        sizes=(1000, 1000),
    )
    return Comparison(**{**values, **changes})


def test_promotion_rule_checks_primary_interval_bands_and_guardrails():
    policy = PromotionPolicy()
    assert decide(_comparison(), policy).promote
    unsure = _comparison(difference=-0.01, interval=(-0.03, 0.004))
    assert not decide(unsure, policy).promote
    assert decide(
        _comparison(difference=-0.01, interval=(-0.03, 0.004), sizes=(1000, 800)), policy
    ).promote
    assert not decide(
        _comparison(difference=0, interval=(-0.01, 0.01), sizes=(1000, 800)), policy
    ).promote
    off_band = _comparison(challenger={"rmsle": 0.25, "interval_coverage_80": 0.6, "mape": 0.19})
    decision = decide(off_band, policy)
    assert not decision.promote and "interval_coverage_80 0.6000 vs [0.7, 0.9]" in decision.reason
    guard = _comparison(
        challenger={"rmsle": 0.25, "interval_coverage_80": 0.8, "mape": 0.19, "tts_cindex": 0.6}
    )
    assert "tts_cindex 0.6000 vs champion 0.7000" in decide(guard, policy).reason
    loose = PromotionPolicy(pricing_guardrails={"tts_cindex": 0.2})
    assert decide(guard, loose).promote
