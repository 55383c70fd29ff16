"""The public real data sets validate clean (skipped where the folder is absent)."""

from __future__ import annotations

from features.photos import check_photo_dataset
from features.tables import check_outcomes, table_capabilities


def test_magnetic_tile_validates_clean(real_data):
    frame, problems = check_photo_dataset(real_data / "magnetic_tile")
    assert problems == []
    assert len(frame) == 1344
    assert frame["grade"].value_counts().to_dict() == {"A": 952, "B": 218, "C": 174}


def test_mercari_validates_clean(real_data):
    frame, problems = check_outcomes(real_data / "mercari_10k" / "outcomes.csv")
    assert problems == []
    assert len(frame) == 9991
    assert table_capabilities(frame) == {
        "price model (sold_price)": True,
        "time-to-sell model (days_listed, sold)": False,
    }
    assert frame["attr_shipping_paid_by_seller"].dtype == "float64"
