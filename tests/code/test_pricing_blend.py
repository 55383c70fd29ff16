"""P50 blended with its partners (extra trees; a booster without the level encodings): the
out-of-fold weights, the mix, and its promises."""

from __future__ import annotations

import numpy as np
import pytest

from models.pricing.boosting import BoostParams
from models.pricing.price_model import (
    EXTRA_FILE,
    RAW_FILE,
    PriceModel,
    _blend_weight,
    _blend_weights,
)
from tests.pricing_data import fast_config, make_table
from training.pricing.train import train_pricing_model

NAMES = ["age_months", "grade", "size", "noise"]
BOOST = BoostParams(num_boost_round=200, early_stopping_rounds=20, learning_rate=0.1)


def rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.uniform(0, 60, n), rng.integers(0, 3, n), rng.normal(size=n), rng.normal(size=n)]
    )
    log_price = 5 - 0.02 * x[:, 0] - 0.3 * x[:, 1] + 0.5 * np.sin(2 * x[:, 2])
    return x, np.expm1(log_price + rng.normal(0, 0.1, n))


def test_blend_weight_is_the_best_on_the_grid():
    rng = np.random.default_rng(0)
    target = rng.normal(size=500)
    error = rng.normal(size=500)
    assert _blend_weight(target, target + error, target) == 0.0
    assert _blend_weight(target + error, target, target) == 1.0
    assert _blend_weight(target + error, target - error, target) == pytest.approx(0.5)


def test_three_way_weights_are_the_best_on_the_simplex_grid():
    rng = np.random.default_rng(1)
    target = rng.normal(size=800)
    error = rng.normal(size=800)
    wrong = target + rng.normal(size=800)
    third = np.stack([wrong, wrong + error, target])
    np.testing.assert_allclose(_blend_weights(third, target), [0.0, 0.0, 1.0])
    halves = np.stack([target + error, wrong, target - error])
    np.testing.assert_allclose(_blend_weights(halves, target), [0.5, 0.0, 0.5])
    same = np.stack([target, target, target])  # ties keep the first member
    np.testing.assert_allclose(_blend_weights(same, target), [1.0, 0.0, 0.0])


def check_monotone(model: PriceModel, x: np.ndarray) -> None:
    """An older unit or a worse grade is never priced higher, P10 to P90."""
    probe = np.repeat(x[:40], 13, axis=0)
    probe[:, 0] = np.tile(np.linspace(0, 120, 13), 40)
    for band in model.predict_log(probe):
        assert (np.diff(band.reshape(40, 13), axis=1) <= 1e-12).all()
    probe = np.repeat(x[:40], 3, axis=0)
    probe[:, 1] = np.tile([0.0, 1.0, 2.0], 40)
    for band in model.predict_log(probe):
        assert (np.diff(band.reshape(40, 3), axis=1) <= 1e-12).all()


def test_a_partner_on_some_columns_reads_only_those_and_keeps_the_promises():
    x, y = rows(1500, 1)
    x = np.column_stack([x, np.random.default_rng(5).normal(size=(len(x), 6))])  # more noise
    names = [*NAMES, *(f"n_{i}" for i in range(6))]
    model = PriceModel.fit_cross(
        x, y, names, [], valid_share=0.1, boost=BOOST, folds=3, blend=True, raw_columns=[0, 1, 2]
    )
    # without the noise columns the third member is the better learner: it gets weight
    assert model.raw is not None and 0 < model.raw_blend <= 1 - model.blend
    assert model.raw.feature_name() == NAMES[:3] and model.raw_columns == [0, 1, 2]
    mixed = (1 - model.blend - model.raw_blend) * model.p50.predict(x)
    mixed += model.blend * model.extra.predict(x) if model.extra is not None else 0.0
    mixed += model.raw_blend * model.raw.predict(x[:, :3])
    np.testing.assert_allclose(model.predict_mid(x), mixed)
    contrib = model.contributions(x)
    np.testing.assert_allclose(contrib.sum(axis=1), mixed, atol=1e-9)
    check_monotone(model, x)
    texts = model.to_texts()
    assert RAW_FILE in texts
    loaded = PriceModel.from_texts(texts, model.meta())
    np.testing.assert_array_equal(loaded.predict_log(x)[1], model.predict_log(x)[1])
    # every column, or none: nothing to leave out, no third member
    for columns in (list(range(len(names))), []):
        whole = PriceModel.fit_cross(
            x, y, names, [], valid_share=0.1, boost=BOOST, folds=3, raw_columns=columns
        )
        assert whole.raw is None and whole.raw_blend == 0.0 and RAW_FILE not in whole.to_texts()


def test_the_blend_mixes_two_monotone_boosters_and_keeps_the_promises():
    x, y = rows(1500, 1)
    alone = PriceModel.fit_cross(x, y, NAMES, [], valid_share=0.1, boost=BOOST, folds=3)
    assert alone.extra is None and alone.blend == 0.0
    np.testing.assert_array_equal(alone.predict_mid(x), alone.p50.predict(x))
    model = PriceModel.fit_cross(x, y, NAMES, [], valid_share=0.1, boost=BOOST, folds=3, blend=True)
    assert model.extra is not None and 0 < model.blend <= 1
    mixed = (1 - model.blend) * model.p50.predict(x) + model.blend * model.extra.predict(x)
    np.testing.assert_allclose(model.predict_mid(x), mixed)
    np.testing.assert_allclose(model.contributions(x).sum(axis=1), mixed, atol=1e-9)
    low, mid, high = model.predict_log(x)
    assert (low <= mid).all() and (mid <= high).all()
    fresh, price = rows(2000, 2)  # the conformal band is calibrated on the blended P50
    low, _, high = model.predict_log(fresh)
    assert 0.75 <= np.mean((np.log1p(price) >= low) & (np.log1p(price) <= high)) <= 0.85
    check_monotone(model, x)
    # and it round-trips through the artifact's texts
    texts = model.to_texts()
    assert EXTRA_FILE in texts and EXTRA_FILE not in alone.to_texts()
    loaded = PriceModel.from_texts(texts, model.meta())
    np.testing.assert_array_equal(loaded.predict_log(x)[1], model.predict_log(x)[1])


def test_the_switches_turn_the_partners_off():
    frame = make_table(600, seed=3)
    off = train_pricing_model(
        frame, fast_config(blend_extra_trees=False, blend_without_encodings=False)
    ).artifact.price
    assert off.extra is None and EXTRA_FILE not in off.to_texts()
    assert off.raw is None and RAW_FILE not in off.to_texts()


def test_the_unencoded_columns_are_every_column_but_the_level_encodings():
    frame = make_table(600, seed=3)
    trained = train_pricing_model(frame, fast_config(search_seconds=0)).artifact
    names = trained.features.names
    columns = trained.features.unencoded_columns
    assert trained.features.encodings  # this table has encoded levels
    assert [n for i, n in enumerate(names) if i not in columns] == [
        f"{kind}_{e.name}" for e in trained.features.encodings for kind in ("te", "n")
    ]
    assert not any(names[i].startswith(("te_", "n_")) for i in columns)
    if trained.price.raw is not None:  # the partner reads exactly those columns
        assert trained.price.raw.feature_name() == [names[i] for i in columns]
