"""The time-bounded CV search of the price booster and the level encodings, on tiny tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.level_encoding import LevelEncoding, fold_of
from models.pricing.boosting import BoostParams
from training.pricing.search import search_price_params


def test_search_keeps_the_base_without_budget_and_picks_the_best_trial():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = np.exp(3 + x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 0.1, 400))
    names, base = ["a", "b", "c"], BoostParams(num_boost_round=60, early_stopping_rounds=10)
    off = search_price_params(x, y, names, [], base, budget_seconds=0)
    assert off.best == base and off.trials == []
    found = search_price_params(x, y, names, [], base, budget_seconds=30, max_trials=4, seed=1)
    assert len(found.trials) == 4
    assert found.trials[0].params == {}  # trial 0 is the configured settings
    winner = found.ranked()[0]
    assert found.best == base.model_copy(update=winner.params)
    assert all(0 < t.cv_rmsle < 1 and t.rounds >= 1 for t in found.trials)


def test_the_budget_is_a_trial_count_and_the_seconds_only_a_cap():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 3))
    y = np.exp(2 + x[:, 0] + rng.normal(0, 0.2, 300))
    names, base = ["a", "b", "c"], BoostParams(num_boost_round=40, early_stopping_rounds=5)
    runs = [
        search_price_params(x, y, names, [], base, budget_seconds=60, max_trials=5, seed=3)
        for _ in range(2)
    ]
    assert [len(r.trials) for r in runs] == [5, 5] and not runs[0].capped
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]
    assert [t.cv_rmsle for t in runs[0].trials] == [t.cv_rmsle for t in runs[1].trials]
    assert runs[0].best == runs[1].best  # the same choice, however long each trial took
    capped = search_price_params(x, y, names, [], base, budget_seconds=1e-9, max_trials=5)
    assert capped.capped and len(capped.trials) < 5 and capped.best == base


def test_level_encoding_is_out_of_fold_on_training_rows_and_smoothed():
    ids = pd.Series([f"i{k}" for k in range(60)])
    keys = pd.Series(["rare"] + ["common"] * 59, dtype=object)
    target = np.where(keys == "rare", 10.0, 2.0)
    folds = fold_of(ids, 5)
    enc = LevelEncoding("brand", smoothing=5.0).fit(keys, target, folds)
    full, count = enc.encode(pd.Series(["rare", "common", "unseen", None], dtype=object))
    prior = target.mean()
    assert full[0] == pytest.approx((10.0 + 5 * prior) / 6)
    assert full[2] == pytest.approx(prior)  # an unseen level gets the prior
    assert np.isnan(full[3]) and np.isnan(count[3])
    assert count[1] == pytest.approx(np.log1p(59))
    oof, _ = enc.encode(keys, folds)
    assert oof[0] == pytest.approx(prior)  # the only "rare" row never sees its own price
    restored = LevelEncoding.from_dict(enc.to_dict())
    np.testing.assert_allclose(restored.encode(keys)[0], enc.encode(keys)[0])
    np.testing.assert_array_equal(fold_of(ids, 5), folds)  # stable by item id
