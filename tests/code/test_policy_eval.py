"""The policy's profit under the generator's truth, and the closing-price fit, on hand-made rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training.pricing.policy_eval import true_profit
from training.pricing.train import fit_closing
from training.synth.outcomes import ASK_ANCHORING


def test_true_profit_matches_a_hand_computed_exponential_case():
    # shape 1 (exponential), elasticity 0: P(sold within H) = 1 - exp(-rate H),
    # E[min(T, H)] = (1 - exp(-rate H)) / rate.
    truth = {
        "market_value": np.array([100.0]),
        "hazard_rate": np.array([0.02]),
        "list_price": np.array([120.0]),
        "price_elasticity": np.array([0.0]),
        "weibull_shape": np.array([1.0]),
    }
    args = (truth, np.array([50.0]), np.array([0.1]), np.array([0.2]), np.array([90.0]))
    ask = 120.0
    close = 100.0 * (1.2**ASK_ANCHORING)
    sold = 1 - math.exp(-0.02 * 90)
    expected = (close * 0.9 - 50.0) * sold - 0.2 * sold / 0.02
    assert true_profit(np.array([ask]), *args)[0] == pytest.approx(expected, rel=1e-3)
    # an ask below the value closes at the ask
    below = true_profit(np.array([80.0]), *args)[0]
    assert below == pytest.approx((80.0 * 0.9 - 50.0) * sold - 0.2 * sold / 0.02, rel=1e-3)


def test_a_higher_ask_sells_slower_under_elastic_demand():
    truth = {
        "market_value": np.array([100.0]),
        "hazard_rate": np.array([0.05]),
        "list_price": np.array([100.0]),
        "price_elasticity": np.array([4.0]),
        "weibull_shape": np.array([0.9]),
    }
    prices = np.array([[90.0, 100.0, 150.0, 300.0]])
    profit = true_profit(prices, truth, np.array([60.0]), np.zeros(1), np.zeros(1), np.full(1, 90))
    assert profit[0, 3] < profit[0, 1]  # far above value: barely sells
    assert np.argmax(profit[0]) in (1, 2)


def test_closing_fit_recovers_the_anchoring_slope():
    rng = np.random.default_rng(0)
    n = 2000
    value = rng.uniform(50, 500, n)
    ask = value * np.exp(rng.normal(0.1, 0.2, n))
    sold = value * (ask / value) ** 0.3 * np.exp(rng.normal(0, 0.02, n))
    rows = pd.DataFrame({"list_price": ask, "sold_price": sold})
    closing = fit_closing(rows, np.log1p(value))
    assert closing["slope"] == pytest.approx(0.3, abs=0.03)
    assert abs(closing["offset"]) < 0.02
    assert fit_closing(rows.iloc[:10], np.log1p(value[:10])) is None  # too few rows
    assert fit_closing(rows[["sold_price"]], np.log1p(value)) is None  # no list price


def test_the_expected_close_averages_the_closing_fit_over_the_values_spread():
    from models.pricing.predictor import expected_close

    value = np.array([100.0, 250.0, 40.0])
    asks = value[:, None] * np.exp(np.linspace(-0.4, 0.4, 17))[None, :]
    slope, offset = 0.25, -0.02
    plug_in = np.minimum(
        asks, value[:, None] * np.exp(offset + slope * np.log(asks / value[:, None]))
    )
    assert np.allclose(expected_close(value, asks, slope, offset), plug_in)
    assert np.allclose(
        expected_close(value, asks, slope, offset, np.array([0.0, np.nan, 0.0])), plug_in
    )

    spread = np.array([0.02, 0.07, 0.15])
    got = expected_close(value, asks, slope, offset, spread)
    draws = np.random.default_rng(0).standard_normal(400_000)
    for i in range(3):
        v = value[i] * np.exp(spread[i] * draws)[:, None]
        sampled = np.minimum(asks[i], v * np.exp(offset + slope * np.log(asks[i] / v))).mean(axis=0)
        assert np.allclose(got[i], sampled, rtol=2e-3), i
    assert (got <= asks + 1e-9).all()
    assert (np.diff(got, axis=1) > 0).all()  # asking more still closes higher
    # at the value a sale closes below the plug-in (a higher value cannot lift it above the ask,
    # a lower one lowers it), and the wider the doubt the lower
    at_value = np.argmin(np.abs(np.log(asks[0] / value[0])))
    shortfall = 1 - got[:, at_value] / plug_in[:, at_value]
    assert 0 < shortfall[0] < shortfall[1] < shortfall[2]


def test_evaluation_reports_profit_capture_beside_truth(tmp_path):
    from features.tables import load_outcomes, read_table
    from models.pricing.artifact import load_artifact, save_artifact
    from models.pricing.predictor import PricingPredictor
    from tests.pricing_data import fast_config
    from training.pricing.evaluate import evaluate_pricing_model
    from training.pricing.train import train_pricing_model
    from training.synth import synthesize

    synthesize(tmp_path / "s", items=1500, photos_per_item=0, seed=3)
    frame = load_outcomes(tmp_path / "s" / "outcomes.csv")
    truth = read_table(tmp_path / "s" / "truth.csv")
    config = fast_config()
    artifact = train_pricing_model(frame, config).artifact
    closing = artifact.info["closing"]
    assert 0.0 < closing["slope"] < 0.8  # the generator anchors the sale at 0.25 of the ask
    artifact = load_artifact(save_artifact(artifact, tmp_path / "model"))
    assert artifact.info["closing"] == closing
    # the price search's close: the band's width is the doubt about the value; none, the fit
    predictor = PricingPredictor(artifact)
    items = frame.iloc[:20]
    band = predictor.predict(items)
    p10, p50, p90 = (band[f"price_p{q}"].to_numpy() for q in (10, 50, 90))
    kink = np.exp(closing["offset"] / (1 - closing["slope"]))  # the fit's close meets the ask
    asks = p50[:, None] * np.array([[0.9, kink, 1.2]])
    plug_in = predictor.closing_prices(items, asks)
    assert np.allclose(predictor.closing_prices(items, asks, band=(p50, p50)), plug_in)
    doubted = predictor.closing_prices(items, asks, band=(p10, p90))
    assert (doubted[:, 1] < 0.999 * plug_in[:, 1]).all()  # the ask caps the upside there
    assert (doubted <= asks + 1e-9).all()
    metrics = evaluate_pricing_model(artifact, frame, holdout_fraction=0.2, truth=truth)
    assert metrics["policy_units"] > 50
    for key in ("", "_p50", "_list"):
        assert 0.5 < metrics[f"policy_profit_capture{key}"] <= 1.0 + 1e-9, key
    # the recommendation beats pricing at P50 clearly; against the legacy list price 1,500 items
    # are too few to tell (0.9619 against 0.9613 before the P50 blend, 0.9575 against 0.9611
    # with it): that comparison is the model card's, on 20,000 items
    assert metrics["policy_profit_capture"] > metrics["policy_profit_capture_p50"] + 0.01
    assert metrics["policy_profit_capture"] > metrics["policy_profit_capture_list"] - 0.01
    # the best price inside the searched band bounds the recommendation, below the best overall
    best_in_band = metrics["policy_profit_capture_range_best"]
    assert metrics["policy_profit_capture"] - 1e-3 <= best_in_band <= 1.0 + 1e-9
    assert evaluate_pricing_model(artifact, frame, holdout_fraction=0.2)["n_test"] > 0
