"""The synthetic items and outcomes generator keeps its promises (a few thousand rows, seconds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.schema import GRADES, OUTCOME_COLUMNS, RETURN_REASONS, benchmark_columns
from features.tables import check_outcomes
from training.synth.catalog import BRANDS, CATEGORIES
from training.synth.items import make_items
from training.synth.outcomes import (
    LISTING_WINDOW_DAYS,
    OBSERVATION_DATE,
    TRUTH_COLUMNS,
    make_outcomes,
)

N_ITEMS = 4000
SEED = 7
EXPECTED_COLUMNS = [
    "item_id", "category", "brand", "grade", "sold_price", "days_listed", "sold", "age_months",
    "new_price", "list_price", "acquisition_cost", "refurb_cost", "logistics_cost", "source",
    "return_reason", "inventory_level", "conversion_rate_30d", "listed_date",
]  # fmt: skip


@pytest.fixture(scope="module")
def generated():
    items = make_items(N_ITEMS, counterfeit_rate=0.1, seed=SEED)
    outcomes, truth = make_outcomes(items, seed=SEED)
    return items, outcomes, truth


@pytest.fixture(scope="module")
def joined(generated):
    _, outcomes, truth = generated
    frame = outcomes.merge(truth, on="item_id", validate="one_to_one")
    frame["age_months"] = frame["age_months"].astype(float)
    return frame


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_items_columns_and_shares(generated):
    items, _, _ = generated
    assert list(items.columns) == ["item_id", "category", "brand", "grade", "counterfeit", "split"]
    assert items["item_id"].iloc[0] == "u000001" and items["item_id"].is_unique
    assert set(items["category"]) == {"phone", "sneaker", "handbag", "watch"} == set(CATEGORIES)
    for category, brands in items.groupby("category")["brand"]:
        assert set(brands) == set(BRANDS[category])
    grade_share = items["grade"].value_counts(normalize=True)
    assert grade_share["A"] > grade_share["B"] > grade_share["C"] > 0.15
    split_share = items["split"].value_counts(normalize=True)
    assert split_share.to_dict() == pytest.approx(
        {"train": 0.70, "val": 0.15, "test": 0.15}, abs=1e-3
    )


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3])
def test_counterfeit_share_near_rate_and_independent_of_grade(rate):
    items = make_items(N_ITEMS, counterfeit_rate=rate, seed=SEED)
    assert items["counterfeit"].mean() == pytest.approx(rate, abs=0.005)
    if rate:
        by_grade = items.groupby("grade")["counterfeit"].mean()
        assert (by_grade - rate).abs().max() < 0.04, by_grade.to_dict()


def test_same_seed_same_bytes_different_seed_differs(generated):
    items, outcomes, truth = generated
    again_items = make_items(N_ITEMS, counterfeit_rate=0.1, seed=SEED)
    again_outcomes, again_truth = make_outcomes(again_items, seed=SEED)
    assert csv_bytes(again_items) == csv_bytes(items)
    assert csv_bytes(again_outcomes) == csv_bytes(outcomes)
    assert csv_bytes(again_truth) == csv_bytes(truth)
    other_outcomes, other_truth = make_outcomes(items, seed=SEED + 1)
    assert csv_bytes(other_outcomes) != csv_bytes(outcomes)
    assert csv_bytes(other_truth) != csv_bytes(truth)
    assert csv_bytes(make_items(N_ITEMS, seed=SEED + 1)) != csv_bytes(items)


def test_outcomes_pass_the_contract(generated, tmp_path):
    items, outcomes, truth = generated
    path = tmp_path / "outcomes.csv"
    outcomes.to_csv(path, index=False)
    frame, problems = check_outcomes(path)
    assert [str(p) for p in problems] == []
    assert list(outcomes.columns[: len(EXPECTED_COLUMNS)]) == EXPECTED_COLUMNS
    assert set(EXPECTED_COLUMNS) <= set(OUTCOME_COLUMNS)
    assert 2 <= len(benchmark_columns(list(outcomes.columns))) <= 4
    assert {"attr_storage_gb", "attr_colour"} <= set(outcomes.columns)
    assert frame["attr_storage_gb"].dtype == np.float64  # numeric attr: every value parses
    assert frame.loc[frame["category"] != "phone", "attr_storage_gb"].isna().all()
    # counterfeits are caught at authentication: never listed, never in outcomes or truth
    genuine = items.loc[items["counterfeit"] == 0, "item_id"]
    assert outcomes["item_id"].tolist() == genuine.tolist() == truth["item_id"].tolist()
    assert list(truth.columns) == list(TRUTH_COLUMNS)


def test_return_reason_only_for_returns(generated):
    _, outcomes, _ = generated
    returns = outcomes["source"] == "return"
    assert outcomes.loc[returns, "return_reason"].isin(RETURN_REASONS).all()
    assert outcomes.loc[~returns, "return_reason"].isna().all()
    phones = outcomes["category"] == "phone"
    assert not (outcomes.loc[phones, "return_reason"] == "sizing").any()
    costs = outcomes.groupby("source")["acquisition_cost"].median()
    assert costs["return"] < 0.1 * costs["trade_in"]  # returns cost next to nothing


def test_value_depreciates_with_age_and_phones_fastest(joined):
    slopes = {}
    for category, group in joined[joined["source"] == "trade_in"].groupby("category"):
        years = group["age_months"].to_numpy() / 12
        ok = ~np.isnan(years)
        grade_dummies = pd.get_dummies(group["grade"]).to_numpy(float)[ok]
        design = np.column_stack([years[ok], grade_dummies])
        target = np.log(group["market_value"] / group["new_price"]).to_numpy()[ok]
        slopes[category] = np.linalg.lstsq(design, target, rcond=None)[0][0]
    assert all(slope < 0 for slope in slopes.values()), slopes
    assert slopes["phone"] < -0.2  # ~25% a year
    assert slopes["phone"] < slopes["sneaker"] < slopes["handbag"], slopes
    assert slopes["handbag"] > -0.1  # designer bags hold value


def test_grade_a_worth_more_than_b_more_than_c(joined):
    ratio = joined["market_value"] / joined["new_price"]
    means = ratio.groupby([joined["category"], joined["grade"]]).mean().unstack()
    for category, row in means.iterrows():
        assert row["A"] > row["B"] > row["C"], (category, row.to_dict())


def test_cheaper_than_market_listings_sell_faster(joined):
    tercile = pd.qcut(joined["list_price_ratio"], 3, labels=["cheap", "fair", "dear"])
    by = joined.groupby(tercile, observed=True)
    sold_share, days = by["sold"].mean(), by["days_listed"].median()
    assert sold_share["cheap"] > sold_share["fair"] > sold_share["dear"] + 0.1, sold_share
    assert days["cheap"] < days["fair"] < days["dear"], days


def test_censoring_at_the_observation_date(joined):
    unsold = joined[joined["sold"] == 0]
    assert 0.15 <= len(unsold) / len(joined) <= 0.35
    assert unsold["sold_price"].isna().all()
    assert joined.loc[joined["sold"] == 1, "sold_price"].notna().all()
    listed = pd.to_datetime(unsold["listed_date"])
    observed = listed + pd.to_timedelta(unsold["days_listed"], unit="D")
    assert (observed == pd.Timestamp(OBSERVATION_DATE)).all()
    assert joined["days_listed"].between(1, LISTING_WINDOW_DAYS).all()


def test_truth_hazard_explains_who_sold(joined):
    expected_rate = (
        joined["base_hazard"] * joined["season_factor"] * joined["demand_factor"]
        * joined["list_price_ratio"] ** -joined["price_elasticity"]
    )  # fmt: skip
    assert np.allclose(expected_rate, joined["hazard_rate"], rtol=1e-3)
    window = (pd.Timestamp(OBSERVATION_DATE) - pd.to_datetime(joined["listed_date"])).dt.days
    survival = np.exp(-((joined["hazard_rate"] * window) ** joined["weibull_shape"]))
    assert joined["sold"].mean() == pytest.approx((1 - survival).mean(), abs=0.02)


def test_sold_price_near_list_and_noise_floor_beats_benchmark_heuristic(joined):
    sold = joined[joined["sold"] == 1]
    assert (sold["sold_price"] <= sold["list_price"]).all()
    assert (sold["sold_price"] / sold["list_price"]).median() > 0.8
    log_sold = np.log1p(sold["sold_price"])
    bench = sold[benchmark_columns(list(sold.columns))]
    assert bench.notna().mean().between(0.2, 0.99).all()  # every market misses some units
    median = bench.median(axis=1)
    factor = np.exp((np.log(sold["sold_price"]) - np.log(median)).groupby(sold["grade"]).mean())
    heuristic = (median * sold["grade"].map(factor)).fillna(sold["sold_price"].median())

    def rmsle(pred):
        return float(np.sqrt(np.mean((np.log1p(pred) - log_sold) ** 2)))

    floor = rmsle(sold["expected_sold_price"])
    assert floor <= 0.5 * rmsle(heuristic), (floor, rmsle(heuristic))
    assert rmsle(sold["market_value"]) < rmsle(heuristic)


def test_unknown_category_or_grade_is_refused():
    items = make_items(5, seed=1)
    with pytest.raises(ValueError, match="unknown category"):
        make_outcomes(items.assign(category="sofa"))
    with pytest.raises(ValueError, match="unknown grade"):
        make_outcomes(items.assign(grade="D"))
    assert set(GRADES) == {"A", "B", "C"}
