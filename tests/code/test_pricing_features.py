"""The pricing feature transform: schema, unseen categories, missing values, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.pricing_features import PricingFeatures


def train_frame() -> pd.DataFrame:
    n = 12
    return pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "category": ["Women/Tops/Blouse"] * 6 + ["Men/Shoes"] * 6,
            "brand": ["Acme"] * 10 + ["Rare", None],
            "grade": ["A", "B", "C"] * 4,
            "age_months": np.arange(n, dtype=float),
            "new_price": [100.0] * n,
            "benchmark_ebay": [50.0, np.nan] * 6,
            "benchmark_vinted": [np.nan] * n,  # never observed: not a feature
            "attr_storage_gb": [64.0, 128.0] * 6,
            "attr_colour": ["red", "blue"] * 6,
            "listed_date": ["2026-03-01"] * n,
        }
    )


@pytest.fixture
def fitted() -> PricingFeatures:
    return PricingFeatures(min_level_count=2).fit(train_frame())


def column(fitted: PricingFeatures, matrix: np.ndarray, name: str) -> np.ndarray:
    return matrix[:, fitted.names.index(name)]


def test_schema_learned_from_the_training_table(fitted):
    assert fitted.category_levels == [
        ["Men", "Women"],
        ["Men/Shoes", "Women/Tops"],
        ["Women/Tops/Blouse"],
    ]
    assert fitted.brand_levels == ["Acme"]  # "Rare" seen once: pooled as other
    assert fitted.benchmarks == ["benchmark_ebay"]
    assert fitted.attrs == {"attr_storage_gb": None, "attr_colour": ["blue", "red"]}
    assert fitted.numeric_inputs == ["age_months"]
    assert "bench_to_new" in fitted.names and "listed_month" in fitted.names


def test_unseen_categories_and_missing_values(fitted):
    items = pd.DataFrame(
        {
            "category": ["Women/Tops/Tee", "Garden", None],
            "brand": ["Acme", "Unknown", None],
            "grade": ["C", "A", None],
            "attr_colour": ["red", "green", None],
        }
    )
    matrix, names = fitted.transform(items)
    assert matrix.shape == (3, len(names))
    assert column(fitted, matrix, "category_l1").tolist()[:2] == [1.0, 2.0]  # Women; other
    assert column(fitted, matrix, "category_l2")[0] == 1.0  # Women/Tops is known
    assert np.isnan(column(fitted, matrix, "category_l1")[2])
    assert column(fitted, matrix, "brand").tolist()[:2] == [0.0, 1.0]  # Acme; other
    assert np.isnan(column(fitted, matrix, "brand")[2])
    assert column(fitted, matrix, "grade").tolist()[:2] == [2.0, 0.0]
    assert np.isnan(column(fitted, matrix, "grade")[2])
    assert column(fitted, matrix, "attr_colour").tolist()[:2] == [1.0, 2.0]  # red; other
    # columns the items do not have are missing, never an error
    assert np.isnan(column(fitted, matrix, "age_months")).all()
    assert np.isnan(column(fitted, matrix, "bench_median")).all()
    assert (column(fitted, matrix, "bench_count") == 0).all()


def test_benchmark_summary_and_ratio_to_new(fitted):
    items = pd.DataFrame(
        {
            "category": ["Men/Shoes"],
            "grade": ["A"],
            "new_price": [99.0],
            "benchmark_ebay": [49.0],
            "listed_date": ["2026-07-15"],
        }
    )
    matrix, _ = fitted.transform(items)
    assert column(fitted, matrix, "bench_median")[0] == pytest.approx(np.log(50.0))
    assert column(fitted, matrix, "bench_to_new")[0] == pytest.approx(np.log(0.5))
    assert column(fitted, matrix, "listed_month")[0] == 7.0


def test_price_inputs_rise_with_price(fitted):
    items = train_frame().iloc[:1]
    matrix, _ = fitted.transform(items)
    prices = np.array([[20.0, 50.0, 100.0]])
    inputs = fitted.price_inputs(matrix, prices)
    assert inputs.shape == (1, 3, 3)
    assert (np.diff(inputs[0], axis=0) > 0).all()
    assert inputs[0, 1, 1] == pytest.approx(0.0)  # list 50 = the only benchmark
    assert inputs[0, 2, 2] == pytest.approx(0.0)  # list 100 = new price


def test_json_round_trip_gives_identical_matrices(fitted):
    restored = PricingFeatures.from_dict(json.loads(json.dumps(fitted.to_dict(), sort_keys=True)))
    frame = train_frame()
    assert restored.names == fitted.names
    np.testing.assert_array_equal(restored.transform(frame)[0], fitted.transform(frame)[0])


def test_schema_version_is_checked(fitted):
    data = fitted.to_dict()
    data["schema_version"] = 99
    with pytest.raises(ValueError, match="version"):
        PricingFeatures.from_dict(data)


def test_readable_descriptions(fitted):
    assert fitted.describe("brand", 0.0) == "brand = Acme"
    assert fitted.describe("brand", 1.0) == "brand = other"
    assert fitted.describe("grade", 2.0) == "grade = C"
    assert fitted.describe("bench_median", np.log1p(50.0)) == "median benchmark price = 50.00"
    assert fitted.describe("age_months", np.nan) == "age (months) = missing"
    assert fitted.label("log_benchmark_ebay") == "ebay benchmark price"
