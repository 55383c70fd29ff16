"""Pricing metrics, baselines and the holdout, computed on hand-made tables."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from training.pricing import metrics as m
from training.pricing.baselines import (
    fit_benchmark,
    fit_category_brand_grade_median,
    fit_depreciation,
    fit_plain_lgbm,
    plain_columns,
)
from training.pricing.data import holdout_mask


def test_price_errors_on_hand_made_values():
    y = np.array([9.0, 99.0])
    pred = np.array([19.0, 99.0])  # log1p errors: log(20/10) and 0
    assert m.rmsle(y, pred) == pytest.approx(math.log(2) / math.sqrt(2))
    assert m.mape(y, pred) == pytest.approx((10 / 9 + 0) / 2)
    assert m.r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])) == pytest.approx(0.5)


def test_interval_coverage_and_width():
    y = np.array([10.0, 20.0, 30.0, 40.0])
    low = np.array([5.0, 25.0, 30.0, 0.0])
    high = np.array([15.0, 35.0, 30.0, 39.0])
    assert m.interval_coverage(y, low, high) == pytest.approx(0.5)  # rows 0 and 2 (edges count)
    mid = np.array([10.0, 30.0, 30.0, 20.0])
    assert m.interval_width(low, mid, high) == pytest.approx((1.0 + 1 / 3 + 0.0 + 39 / 20) / 4)


def brute_force_c(time, event, pred):
    concordant = comparable = 0.0
    for i, j in itertools.permutations(range(len(time)), 2):
        if event[i] and time[i] < time[j]:
            comparable += 1
            concordant += 1.0 if pred[i] < pred[j] else 0.5 if pred[i] == pred[j] else 0.0
    return concordant / comparable


def test_harrell_c_hand_made():
    time = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([1, 1, 0, 1])
    # comparable pairs: (0,1) (0,2) (0,3) (1,2) (1,3); the censored row 2 is never the earlier one
    assert m.harrell_c(time, event, time) == 1.0
    assert m.harrell_c(time, event, -time) == 0.0
    assert m.harrell_c(time, event, np.ones(4)) == 0.5
    pred = np.array([1.0, 3.0, 2.0, 4.0])  # (1,2) is discordant: 4 of 5
    assert m.harrell_c(time, event, pred) == pytest.approx(4 / 5)


def test_harrell_c_matches_brute_force_with_ties_and_censoring():
    rng = np.random.default_rng(3)
    time = rng.integers(1, 15, 80).astype(float)  # many tied times
    event = rng.random(80) < 0.6
    pred = rng.integers(0, 10, 80).astype(float)  # many tied predictions
    assert m.harrell_c(time, event, pred) == pytest.approx(brute_force_c(time, event, pred))


def test_harrell_c_without_comparable_pairs_is_nan():
    assert math.isnan(m.harrell_c(np.array([1.0, 2.0]), np.array([0, 0]), np.array([1.0, 2.0])))


def table(**columns):
    n = len(next(iter(columns.values())))
    base = {"item_id": [f"i{k}" for k in range(n)], "category": ["phone"] * n, "grade": ["A"] * n}
    return pd.DataFrame({**base, **columns})


def test_benchmark_baseline_is_median_times_grade_factor():
    train = table(
        grade=["A", "A", "B", "B"],
        sold_price=[100.0, 100.0, 50.0, 50.0],
        benchmark_ebay=[100.0, 200.0, 100.0, 100.0],
        benchmark_vinted=[100.0, np.nan, 100.0, 100.0],
    )
    predict = fit_benchmark(train)
    # grade A factor: geometric mean of 100/100 and 100/200 = 1/sqrt(2); grade B: 0.5
    test = table(grade=["A", "B"], benchmark_ebay=[80.0, 300.0], benchmark_vinted=[120.0, 100.0])
    assert predict(test) == pytest.approx([100.0 / math.sqrt(2), 100.0])


def test_benchmark_baseline_falls_back_to_category_grade_median_and_is_none_without_columns():
    train = table(grade=["A", "A"], sold_price=[10.0, 30.0], benchmark_ebay=[10.0, 30.0])
    predict = fit_benchmark(train)
    assert predict(table(grade=["A"], benchmark_ebay=[np.nan])) == pytest.approx([20.0])
    assert fit_benchmark(table(sold_price=[1.0, 2.0])) is None


def test_depreciation_baseline_recovers_an_exact_curve():
    age = np.arange(0.0, 40.0)
    n = len(age)
    train = table(
        grade=["B"] * n,
        sold_price=200.0 * 0.6 * np.exp(-0.02 * age),
        new_price=[200.0] * n,
        age_months=age,
    )
    predict = fit_depreciation(train)
    test = table(grade=["B"], new_price=[500.0], age_months=[10.0])
    assert predict(test) == pytest.approx([500.0 * 0.6 * math.exp(-0.2)])
    assert fit_depreciation(table(sold_price=[1.0, 2.0], new_price=[3.0, 4.0])) is None


def test_category_brand_grade_median_falls_back_level_by_level():
    train = table(
        category=["phone", "phone", "phone", "bag"],
        brand=["X", "X", "Y", "Z"],
        grade=["A", "A", "A", "C"],
        sold_price=[10.0, 20.0, 40.0, 7.0],
    )
    predict = fit_category_brand_grade_median(train)
    test = table(
        category=["phone", "phone", "shoe", "moon"],
        brand=["X", "Q", "Z", None],
        grade=["A", "A", "C", "B"],
    )
    # exact group; category-grade; grade only; nothing known -> all rows
    assert predict(test) == pytest.approx([15.0, 20.0, 7.0, 15.0])


def test_holdout_is_fixed_by_item_id_or_by_split_column():
    frame = table(sold_price=np.ones(2000))
    held = holdout_mask(frame, 0.2)
    assert 0.17 < held.mean() < 0.23
    shuffled = frame.sample(frac=1.0, random_state=1)
    assert holdout_mask(shuffled, 0.2).sum() == held.sum()
    assert set(shuffled["item_id"][holdout_mask(shuffled, 0.2)]) == set(frame["item_id"][held])
    frame["split"] = ["test" if k % 4 == 0 else "train" for k in range(2000)]
    assert holdout_mask(frame, 0.2).sum() == 500


def test_plain_lgbm_learns_brand_and_age_from_raw_columns_and_ignores_costs():
    rng = np.random.default_rng(0)
    n = 600
    brand = rng.choice(["Kepler", "Orbit", "Nova"], n)
    age = rng.integers(0, 48, n)
    price = np.exp(np.log(400) + (brand == "Kepler") * 0.7 - 0.02 * age + rng.normal(0, 0.05, n))
    train = table(brand=brand, age_months=age, sold_price=price, acquisition_cost=price / 2)
    assert plain_columns(train) == ["category", "brand", "grade", "age_months"]
    predict = fit_plain_lgbm(train)
    test = table(brand=["Kepler", "Nova", "Unseen"], age_months=[12, 12, 12])
    guess = predict(test)
    assert guess[0] / guess[1] == pytest.approx(math.exp(0.7), rel=0.15)
    assert guess[1] == pytest.approx(400 * math.exp(-0.24), rel=0.15)
    assert np.isfinite(guess[2])  # an unseen brand is missing, never an error
    assert m.rmsle(price, predict(train)) < 0.1
