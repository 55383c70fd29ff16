"""Synthetic sales outcomes with known ground truth: what each unit was worth, cost and did.

The generative process, per unit (all vectorised numpy):

1. Source (trade_in, buy_back, return, overstock; by grade), age (by source, category, grade),
   colour, phone storage, new price (category x brand tier x storage x spread).
2. True market value: new price x used discount x exp(-depreciation x age) (depreciation by
   category, slower for premium brands) x obsolescence (old phones) x grade factor (by
   category) x colour premium x storage premium growing with age x a unit-level factor that
   only comparable listings reveal.
3. `benchmark_<market>`: each marketplace's comparable price, blind to part of the grade and age
   difference, with its own bias and noise and a category-dependent share missing.
4. List price from a noisy legacy policy: median benchmark x legacy grade factor x markup.
5. Costs: trade-in credit or buy-back cash against the legacy estimate, returns near zero,
   overstock at wholesale; refurbishment by grade, logistics by category; return reasons.
6. Demand: a latent demand level seen through `conversion_rate_30d`; `inventory_level` competition.
7. Time to sell: Weibull with rate = base_hazard (category x grade) x season_factor (listing month)
   x demand_factor x (list_price / market_value) ** -price_elasticity; right-censored at the
   observation date (listing dates spread over the window before it). A list price is an ask:
   the sale closes at the market value pulled a little towards the ask (anchoring), with small
   negotiation noise, and never above the ask (underpriced units sell at their list price).

Counterfeits are not in the outcomes: they are caught at authentication and never listed, so
`outcomes` and `truth` hold one row per non-counterfeit item, in the order of `items`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import GRADES, RETURN_REASONS
from training.synth.catalog import (
    BRAND_SPECS,
    CATEGORIES,
    MARKETS,
    PHONE_STORAGE_AGE_PREMIUM,
    PHONE_STORAGE_GB,
    PHONE_STORAGE_PRICE_EXPONENT,
    PHONE_STORAGE_SHARES,
)
from training.synth.items import draw_choices

OUTCOMES_STREAM = 2
"""Mixed into the seed so outcomes draw independently of the items stream."""
OBSERVATION_DATE = "2026-06-30"
LISTING_WINDOW_DAYS = 180
"""Listing dates are spread uniformly over this many days before the observation date."""

SOURCES_DRAWN: tuple[str, ...] = ("trade_in", "buy_back", "return", "overstock")
TRADE_IN, BUY_BACK, RETURN, OVERSTOCK = range(len(SOURCES_DRAWN))
SOURCE_SHARES = np.array(
    [[0.35, 0.20, 0.30, 0.15], [0.45, 0.25, 0.30, 0.0], [0.50, 0.25, 0.25, 0.0]]
)
"""Per grade (rows A, B, C), the share of each source; overstock is always grade A."""
RETURN_REASON_SHARES = np.array(
    [
        [0.45, 0.30, 0.03, 0.02, 0.12, 0.08],
        [0.30, 0.22, 0.18, 0.10, 0.12, 0.08],
        [0.15, 0.10, 0.25, 0.35, 0.10, 0.05],
    ]
)
"""Per grade (rows A, B, C), the share of each return reason in schema order."""

AGE_GRADE_FACTORS = np.array([0.7, 1.0, 1.4])
"""Traded-in units of worse grades are older: mean age multiplier per grade."""
AGE_GAMMA_SHAPE = 2.0
RETURN_MAX_AGE_MONTHS = 3
OVERSTOCK_MAX_AGE_MONTHS = 6
NEW_IN_BOX_DISCOUNT_SHARE = 0.5
"""Overstock units are new in box: they lose only this share of the category's used discount."""
VALUE_NOISE_SD = 0.05
"""Unit-level log-value variation that only comparable listings reveal."""

COMP_NOISE_SD = 0.06
"""Log-price noise shared by all markets' comps for a unit (the comp set is imperfect)."""
COMP_GRADE_BLINDNESS = 0.4
"""Share of the grade discount that comparable prices do not reflect."""
COMP_AGE_BLINDNESS = 0.5
"""Share of the age difference from the category's typical age that comps do not reflect."""

LEGACY_GRADE_FACTORS = np.array([1.0, 0.92, 0.80])
LEGACY_MARKUP = 1.25
"""The legacy policy asks above comps and expects offers."""
LEGACY_NOISE_SD = 0.06
LEGACY_NO_COMPS_SHARE_OF_NEW = 0.6
LEGACY_NO_COMPS_YEARLY_RETENTION = 0.9
ASK_ANCHORING = 0.25
"""Sold price = min(list price, market value x (list / market value) ** this x noise)."""
NEGOTIATION_SD = 0.04
"""Log-price noise of where a negotiated sale closes."""

TRADE_IN_CREDIT = 0.60
BUY_BACK_CASH = 0.50
"""Acquisition cost as a share of the legacy price estimate."""
ACQUISITION_NOISE_SD = 0.08
RETURN_COST_MAX = 0.02
"""Returns cost up to this share of the new price (handling of the refund)."""
OVERSTOCK_COST = (0.40, 0.55)
"""Overstock is bought at this range of shares of the new price."""
REFURB_SHARES = np.array([[0.0, 0.2], [0.3, 0.8], [0.8, 1.6]])
"""Per grade, the range of refurbishment cost as a share of the category's grade-C cost."""
REFURB_FREE_SHARE_A = 0.7
DEFECT_REFURB_MULTIPLIER = 1.5
LOGISTICS_RANGE = (0.8, 1.3)
RETURN_SHIPPING_SHARE = 0.5

DEMAND_SD = 0.30
CONVERSION_NOISE_SD = 0.20
INVENTORY_SPREAD_SD = 0.40
INVENTORY_ELASTICITY = 0.25
"""Sale rate scales with (relative inventory) ** -this: more competing stock, slower sales."""
GRADE_HAZARD = np.array([1.15, 1.0, 0.8])
"""Sale rate multiplier per grade at the same price ratio."""
MISSING_SHARES = {"age_months": 0.02, "conversion_rate_30d": 0.04}
"""Optional columns left empty at random, as in real exports."""

TRUTH_COLUMNS: tuple[str, ...] = (
    "item_id", "market_value", "expected_sold_price", "list_price_ratio", "base_hazard",
    "price_elasticity", "season_factor", "demand_factor", "hazard_rate", "weibull_shape",
    "median_days_to_sell",
)  # fmt: skip


def _per_category(field: str, category_idx: np.ndarray) -> np.ndarray:
    return np.array([getattr(c, field) for c in CATEGORIES.values()])[category_idx]


def _indices(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Category and grade indices; unknown values raise ValueError."""
    category = items["category"].astype(object).to_numpy()
    grade = items["grade"].astype(object).to_numpy()
    for values, known, what in ((category, list(CATEGORIES), "category"), (grade, GRADES, "grade")):
        unknown = sorted({str(v) for v in values} - set(known))
        if unknown:
            raise ValueError(f"unknown {what} {unknown}: expected one of {list(known)}")
    return (
        pd.Index(list(CATEGORIES)).get_indexer(category),
        pd.Index(GRADES).get_indexer(grade),
    )


def _brand_params(brands: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Price tier and depreciation multiplier per row; unknown brands count as mid-tier."""
    tier = brands.map({b.name: b.tier for b in BRAND_SPECS.values()}).astype(float)
    retention = brands.map({b.name: b.retention for b in BRAND_SPECS.values()}).astype(float)
    return tier.fillna(1.0).to_numpy(), retention.fillna(1.0).to_numpy()


def _per_category_choice(field: str, category_idx: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Element `choice` of each row's category tuple `field` (tuples may differ in length)."""
    rows = [list(getattr(c, field)) for c in CATEGORIES.values()]
    width = max(len(r) for r in rows)
    table = np.array([r + [r[-1]] * (width - len(r)) for r in rows], dtype=object)
    return table[category_idx, choice]


def _provenance(
    rng: np.random.Generator, cat: np.ndarray, grade: np.ndarray, tier: np.ndarray
) -> dict[str, np.ndarray]:
    """Source, age in whole months, colour, phone storage and new price of each unit."""
    n = len(cat)
    u = {"cat": cat, "grade": grade, "source": draw_choices(rng, SOURCE_SHARES[grade])}
    mean_age = _per_category("typical_age_months", cat) * AGE_GRADE_FACTORS[grade]
    age = np.select(
        [u["source"] == RETURN, u["source"] == OVERSTOCK],
        [rng.uniform(0, RETURN_MAX_AGE_MONTHS, n), rng.uniform(0, OVERSTOCK_MAX_AGE_MONTHS, n)],
        rng.gamma(AGE_GAMMA_SHAPE, mean_age / AGE_GAMMA_SHAPE),
    )
    u["age"] = np.round(np.minimum(age, _per_category("max_age_months", cat)))
    n_colours = np.array([len(c.colours) for c in CATEGORIES.values()])[cat]
    u["colour"] = np.floor(rng.random(n) * n_colours).astype(np.int64)
    u["is_phone"] = cat == list(CATEGORIES).index("phone")
    u["storage"] = np.array(PHONE_STORAGE_GB, dtype=float)[
        draw_choices(rng, np.tile(PHONE_STORAGE_SHARES, (n, 1)))
    ]
    u["storage_log2"] = np.where(u["is_phone"], np.log2(u["storage"] / 128), 0.0)
    price = _per_category("new_price", cat) * tier
    price *= 2 ** (PHONE_STORAGE_PRICE_EXPONENT * u["storage_log2"])
    price *= np.exp(rng.normal(0, _per_category("new_price_sd", cat)))
    u["new_price"] = np.ceil(price / 10) * 10 - 0.01  # price points: 699.99
    return u


def _log_market_value(rng: np.random.Generator, u: dict, retention: np.ndarray) -> np.ndarray:
    """Log true market value; also stores the yearly decay and log grade factor in `u`."""
    cat, specs, years = u["cat"], list(CATEGORIES.values()), u["age"] / 12
    u["decay"] = -np.log1p(-_per_category("annual_depreciation", cat) * retention)
    used = _per_category("used_discount", cat)
    used = used * np.where(u["source"] == OVERSTOCK, NEW_IN_BOX_DISCOUNT_SHARE, 1.0)
    obsolete_after = np.array([c.obsolete_after_months or np.inf for c in specs])[cat]
    obsolete_years = np.maximum(0, u["age"] - obsolete_after) / 12
    u["grade_log"] = np.log(np.array([c.grade_factors for c in specs])[cat, u["grade"]])
    return (
        np.log(u["new_price"]) + np.log1p(-used) - u["decay"] * years + u["grade_log"]
        - _per_category("obsolete_loss_per_year", cat) * obsolete_years
        + _per_category_choice("colour_premiums", cat, u["colour"]).astype(float)
        + PHONE_STORAGE_AGE_PREMIUM * u["storage_log2"] * years
        + rng.normal(0, VALUE_NOISE_SD, len(cat))
    )  # fmt: skip


def _benchmarks(rng: np.random.Generator, u: dict, log_value: np.ndarray) -> dict[str, np.ndarray]:
    """Each market's comparable price: partly grade- and age-blind, biased, noisy, missing."""
    n = len(log_value)
    age_gap = u["age"] - _per_category("typical_age_months", u["cat"])
    comp = log_value - COMP_GRADE_BLINDNESS * u["grade_log"]
    comp += COMP_AGE_BLINDNESS * u["decay"] * age_gap / 12 + rng.normal(0, COMP_NOISE_SD, n)
    columns = {}
    for market in MARKETS.values():
        price = np.exp(comp + market.bias + rng.normal(0, market.noise_sd, n))
        missing_share = np.array([market.missing[c] for c in CATEGORIES])[u["cat"]]
        price[rng.random(n) < missing_share] = np.nan
        columns[f"benchmark_{market.name}"] = np.round(price, 2)
    return columns


def _legacy_estimate(u: dict, benchmarks: dict[str, np.ndarray]) -> np.ndarray:
    """The legacy policy's price estimate: median comp (or a share of new) x grade factor."""
    comps = pd.DataFrame(benchmarks).median(axis=1, skipna=True).to_numpy()
    no_comps = u["new_price"] * LEGACY_NO_COMPS_SHARE_OF_NEW
    no_comps *= LEGACY_NO_COMPS_YEARLY_RETENTION ** (u["age"] / 12)
    return np.where(np.isnan(comps), no_comps, comps) * LEGACY_GRADE_FACTORS[u["grade"]]


def _costs(rng: np.random.Generator, u: dict, estimate: np.ndarray) -> dict[str, np.ndarray]:
    """Acquisition, refurbishment and logistics costs, and the return reason of returns."""
    n, cat, grade, source = len(estimate), u["cat"], u["grade"], u["source"]
    acquisition = np.select(
        [source == TRADE_IN, source == BUY_BACK, source == RETURN],
        [TRADE_IN_CREDIT * estimate * np.exp(rng.normal(0, ACQUISITION_NOISE_SD, n)),
         BUY_BACK_CASH * estimate * np.exp(rng.normal(0, ACQUISITION_NOISE_SD, n)),
         RETURN_COST_MAX * u["new_price"] * rng.random(n)],
        rng.uniform(*OVERSTOCK_COST, n) * u["new_price"],
    )  # fmt: skip
    reason_idx = draw_choices(rng, RETURN_REASON_SHARES[grade])
    reason_idx[
        (reason_idx == RETURN_REASONS.index("sizing")) & ~_per_category("has_sizes", cat)
    ] = 0
    reason = np.where(source == RETURN, np.array(RETURN_REASONS, dtype=object)[reason_idx], None)
    low, high = REFURB_SHARES[grade].T
    refurb = _per_category("refurb_cost", cat) * rng.uniform(low, high)
    refurb[(grade == GRADES.index("A")) & (rng.random(n) < REFURB_FREE_SHARE_A)] = 0.0
    refurb[source == OVERSTOCK] = 0.0
    refurb[reason == "defect"] *= DEFECT_REFURB_MULTIPLIER
    logistics = _per_category("logistics_cost", cat)
    logistics = logistics * (
        rng.uniform(*LOGISTICS_RANGE, n) + RETURN_SHIPPING_SHARE * (source == RETURN)
    )
    return {
        "acquisition_cost": np.round(acquisition, 2),
        "refurb_cost": np.round(refurb, 2),
        "logistics_cost": np.round(logistics, 2),
        "return_reason": reason,
    }


def _demand(rng: np.random.Generator, cat: np.ndarray) -> tuple[np.ndarray, ...]:
    """(conversion_rate_30d, inventory_level, demand_factor): demand seen through conversions."""
    n = len(cat)
    demand = np.exp(rng.normal(0, DEMAND_SD, n))
    conversion = _per_category("conversion_rate", cat) * demand
    conversion = np.clip(conversion * np.exp(rng.normal(0, CONVERSION_NOISE_SD, n)), 0, 1)
    inventory_mean = _per_category("inventory_mean", cat)
    inventory = rng.poisson(inventory_mean * np.exp(rng.normal(0, INVENTORY_SPREAD_SD, n)))
    factor = demand * ((inventory + 1) / (inventory_mean + 1)) ** -INVENTORY_ELASTICITY
    return np.round(conversion, 4), inventory, factor


def _time_to_sell(rng, rate, shape, window) -> tuple[np.ndarray, np.ndarray]:
    """Whole days to sale (Weibull), censored at `window`: (days_listed, sold)."""
    sale_day = np.maximum(1, np.ceil(rng.exponential(1.0, len(rate)) ** (1 / shape) / rate))
    sold = sale_day <= window
    return np.where(sold, sale_day, window).astype(np.int64), sold.astype(np.int64)


def make_outcomes(
    items: pd.DataFrame, *, seed: int = 0, observation_date: str = OBSERVATION_DATE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Price, cost, list and sell every non-counterfeit item; return what happened and why.

    Args:
        items: Units from `make_items` (item_id, category, brand, grade, optional counterfeit).
            Categories and grades must be the catalog's; unknown brands count as mid-tier.
        seed: Random seed; the same items and seed give the same frames.
        observation_date: ISO date the data is observed at; unsold units are censored there.

    Returns:
        (outcomes, truth). `outcomes` follows the SPEC outcomes table: item_id, category, brand,
        grade, sold_price (empty when unsold), days_listed, sold, age_months, new_price,
        list_price, acquisition_cost, refurb_cost, logistics_cost, source, return_reason
        (returns only), inventory_level, conversion_rate_30d, listed_date, one
        `benchmark_<market>` per catalog market, attr_storage_gb (phones only), attr_colour.
        age_months and attr_storage_gb are nullable integers (Int64); money is rounded to cents.
        `truth` has one row per outcome row: market_value (true expected resale value),
        expected_sold_price (sold price at this list price without negotiation noise), and the
        hazard: survival S(t) = exp(-(hazard_rate * t) ** weibull_shape), t in days, with
        hazard_rate = base_hazard * season_factor * demand_factor
        * list_price_ratio ** -price_elasticity (list_price_ratio = list_price / market_value).

    Raises:
        ValueError: an unknown category or grade.
    """
    if "counterfeit" in items.columns:
        items = items[pd.to_numeric(items["counterfeit"]).fillna(0).to_numpy() == 0]
    items = items.reset_index(drop=True)
    n = len(items)
    rng = np.random.default_rng([OUTCOMES_STREAM, seed])
    cat, grade = _indices(items)
    tier, retention = _brand_params(items["brand"])

    u = _provenance(rng, cat, grade, tier)
    log_value = _log_market_value(rng, u, retention)
    benchmarks = _benchmarks(rng, u, log_value)
    estimate = _legacy_estimate(u, benchmarks)
    list_price = np.round(estimate * LEGACY_MARKUP * np.exp(rng.normal(0, LEGACY_NOISE_SD, n)), 2)
    log_ratio = np.log(list_price) - log_value
    closing = log_value + ASK_ANCHORING * log_ratio
    sold_price = np.minimum(list_price, np.exp(closing + rng.normal(0, NEGOTIATION_SD, n)))
    costs = _costs(rng, u, estimate)
    conversion, inventory, demand_factor = _demand(rng, cat)

    window = rng.integers(1, LISTING_WINDOW_DAYS + 1, n)
    listed = np.datetime64(observation_date, "D") - window.astype("timedelta64[D]")
    month = listed.astype("datetime64[M]").astype(np.int64) % 12 + 1
    phase = 2 * np.pi * (month - _per_category("season_peak_month", cat)) / 12
    season = 1 + _per_category("season_amplitude", cat) * np.cos(phase)
    base_hazard = _per_category("daily_hazard", cat) * GRADE_HAZARD[grade]
    elasticity = _per_category("price_elasticity", cat)
    rate = base_hazard * season * demand_factor * np.exp(-elasticity * log_ratio)
    shape = _per_category("weibull_shape", cat)
    days_listed, sold = _time_to_sell(rng, rate, shape, window)

    outcomes = pd.DataFrame(
        {
            "item_id": items["item_id"].to_numpy(),
            "category": items["category"].to_numpy(),
            "brand": items["brand"].to_numpy(),
            "grade": items["grade"].to_numpy(),
            "sold_price": np.where(sold == 1, np.round(sold_price, 2), np.nan),
            "days_listed": days_listed,
            "sold": sold,
            "age_months": pd.array(u["age"].astype(np.int64), dtype="Int64"),
            "new_price": np.round(u["new_price"], 2),
            "list_price": list_price,
            "acquisition_cost": costs["acquisition_cost"],
            "refurb_cost": costs["refurb_cost"],
            "logistics_cost": costs["logistics_cost"],
            "source": np.array(SOURCES_DRAWN, dtype=object)[u["source"]],
            "return_reason": costs["return_reason"],
            "inventory_level": inventory,
            "conversion_rate_30d": conversion,
            "listed_date": np.datetime_as_string(listed, unit="D"),
            **benchmarks,
            "attr_storage_gb": pd.array(np.where(u["is_phone"], u["storage"], np.nan), "Int64"),
            "attr_colour": _per_category_choice("colours", cat, u["colour"]),
        }
    )
    for column, share in MISSING_SHARES.items():
        outcomes.loc[rng.random(n) < share, column] = pd.NA
    truth = pd.DataFrame(
        {
            "item_id": items["item_id"].to_numpy(),
            "market_value": np.round(np.exp(log_value), 2),
            "expected_sold_price": np.round(np.minimum(list_price, np.exp(closing)), 2),
            "list_price_ratio": np.round(np.exp(log_ratio), 6),
            "base_hazard": np.round(base_hazard, 8),
            "price_elasticity": elasticity,
            "season_factor": np.round(season, 6),
            "demand_factor": np.round(demand_factor, 6),
            "hazard_rate": np.round(rate, 8),
            "weibull_shape": shape,
            "median_days_to_sell": np.round(np.log(2) ** (1 / shape) / rate, 2),
        },
        columns=list(TRUTH_COLUMNS),
    )
    return outcomes, truth
