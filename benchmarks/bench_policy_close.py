"""The price search's closing price against the generator's truth, on a trained pricing run.

Run: `.venv/bin/python benchmarks/bench_policy_close.py --run RUN --data DIR [--headroom H]`
with DIR a synthetic table with truth.csv beside it (`regrade data synth`) and RUN a pricing
run trained on it (`regrade train pricing --data DIR --out RUN`). On the run's holdout, the
default policy (or `p90_headroom = H`) prices every unit it lists two ways with the same model:
the closing fit at the point estimate of the value (the price search before issue 21's last
change) and its expectation over the value's doubt that the unit's band implies (now); each
row prints `policy_profit_capture`, the bound inside the search range, P50, the legacy list
price and the recommendation's regret as a share of the list price's (target <= 0.5).

Then where the rest of the regret comes from: every unit's search range on a 25-price grid,
the choice made with the model's closing price and days at every price, then with the truth's
closing price, the truth's days (Weibull sale time), or both in their place (the last is the
bound inside the range).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models.guardrails import margin, sell_probability
from models.policy import Policy
from models.pricing.predictor import PricingPredictor
from training.pricing import policy_eval as pe
from training.pricing.data import holdout_mask, load_run_data
from training.synth.outcomes import ASK_ANCHORING

GRID = 25


class PointValue(PricingPredictor):
    """The closing fit at the point estimate of the value (the band is not passed on)."""

    def closing_prices(self, items, prices, band=None):
        return super().closing_prices(items, prices)


def main() -> None:
    """Parse the arguments, print one line per price choice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a pricing run folder")
    parser.add_argument("--data", type=Path, required=True, help="its table, truth.csv beside")
    parser.add_argument("--headroom", type=float, default=1.0, help="the policy's p90_headroom")
    args = parser.parse_args()
    data = load_run_data(args.data)
    if data.truth is None:
        parser.error(f"{args.data}: no truth.csv beside the table")
    test = data.frame[holdout_mask(data.frame, 0.2)]
    policy = Policy(p90_headroom=args.headroom)
    for name, cls in (("point value", PointValue), ("value in doubt", PricingPredictor)):
        got = pe.policy_profit_capture(cls.load(args.run / "model"), test, data.truth, policy)
        share = (1 - got["policy_profit_capture"]) / (1 - got["policy_profit_capture_list"])
        print(
            f"{name:>15}: capture {got['policy_profit_capture']:.4f}"
            f"  range best {got['policy_profit_capture_range_best']:.4f}"
            f"  p50 {got['policy_profit_capture_p50']:.4f}"
            f"  list {got['policy_profit_capture_list']:.4f}"
            f"  regret / list's {share:.3f}  at range top {got['policy_at_range_top']:.3f}"
            f"  units {got['policy_units']}"
        )
    decompose(PricingPredictor.load(args.run / "model"), test, data.truth, policy)


def decompose(predictor: PricingPredictor, test, truth, policy: Policy) -> None:
    """Capture of a grid choice with the model's or the truth's closing price and days."""
    units = pe.listed_units(predictor, test, truth, policy)
    sub, o, true, args, horizon = units.items, units.decided, units.truth, units.args, units.horizon
    cost, fee, hold = args[1], args[2][:, None], args[3][:, None]
    best_total = units.best.sum()
    low, high = units.searched()
    grid = low[:, None] + (high - low)[:, None] * np.linspace(0, 1, GRID)[None, :]
    ready = predictor.prepare(sub)
    band = (o["price_p10"].to_numpy(float), o["price_p90"].to_numpy(float))
    model_close = predictor.closing_prices(ready, grid, band=band)
    model_days = predictor.days_at_prices(ready, grid)
    value = true["market_value"][:, None]
    true_close = np.minimum(grid, value * (grid / value) ** ASK_ANCHORING)
    shape = true["weibull_shape"][:, None]
    rate = (
        true["hazard_rate"][:, None]
        * (grid / true["list_price"][:, None]) ** -true["price_elasticity"][:, None]
    )
    true_days = np.log(2) ** (1 / shape) / rate  # the median of the Weibull sale time
    h = np.where(np.isfinite(horizon), horizon, 365.0)[:, None]

    def capture(close, days, weibull: bool) -> float:
        sold = 1 - np.exp(-np.log(2) * (h / days) ** shape) if weibull else None
        sold = sell_probability(days, h) if sold is None else sold
        objective = margin(close, cost[:, None], fee) * sold - hold * days
        objective = np.where(np.isfinite(objective), objective, -np.inf)
        chosen = grid[np.arange(len(grid)), objective.argmax(axis=1)]
        return float(pe.true_profit(chosen, *args, horizon).sum() / best_total)

    for name, close, days, weibull in (
        ("model close, model days", model_close, model_days, False),
        ("truth's close, model days", true_close, model_days, False),
        ("model close, truth's days", model_close, true_days, True),
        ("truth's close and days", true_close, true_days, True),
    ):
        print(f"grid {GRID}, {name:>26}: capture {capture(close, days, weibull):.4f}")


if __name__ == "__main__":
    main()
