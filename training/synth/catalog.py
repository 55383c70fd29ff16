"""The synthetic catalog: four categories, three fictional brands each, and the marketplaces.

Every number that shapes the synthetic economy lives here as a named field: new prices, yearly
depreciation (phones lose about 25% a year, sneakers sit in between, designer handbags hold value
best, watches hold it well), grade discounts, how fast each category sells, and how each
marketplace's comparable prices are biased and noisy. `items.py` and `outcomes.py` read them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CategorySpec:
    """How one category is priced, depreciates and sells.

    Attributes:
        name: Category name as written in the tables.
        sector: electronics, fashion, designer or luxury (documentation only).
        share: Share of generated items in this category.
        new_price: Median new price of a mid-tier brand (currency units).
        new_price_sd: Spread of log new price within a brand (models, sizes, editions).
        annual_depreciation: Fraction of value lost per year of age for a mid-tier brand.
        used_discount: Fraction lost at once when a new unit becomes a used one.
        grade_factors: Value multiplier for grades A, B, C.
        typical_age_months: Mean age of a traded-in grade-B unit.
        max_age_months: Oldest unit taken in.
        obsolete_after_months: Age after which an extra loss applies (None: never).
        obsolete_loss_per_year: Extra log-value lost per year past `obsolete_after_months`.
        daily_hazard: Sale rate per day of a grade-B unit listed at market value, average demand.
        price_elasticity: How strongly the sale rate rises as list price falls below market value:
            rate is multiplied by (list_price / market_value) ** -price_elasticity.
        weibull_shape: Shape of the time-to-sell distribution (< 1: long tail of slow sellers).
        season_peak_month: Month (1-12) when demand peaks.
        season_amplitude: Demand swing over the year (peak 1 + a, trough 1 - a).
        refurb_cost: Typical refurbishment cost of a grade-C unit.
        logistics_cost: Typical inbound plus outbound logistics cost.
        inventory_mean: Mean number of comparable units in stock.
        conversion_rate: Median 30-day conversion rate of comparable listings.
        colours: Colours the category comes in.
        colour_premiums: Log-value premium per colour on the resale market (same order).
        has_sizes: Whether "sizing" is a possible return reason.
        counterfeit_weight: Relative prevalence of counterfeits in this category.
    """

    name: str
    sector: str
    share: float
    new_price: float
    new_price_sd: float
    annual_depreciation: float
    used_discount: float
    grade_factors: tuple[float, float, float]
    typical_age_months: float
    max_age_months: float
    obsolete_after_months: float | None
    obsolete_loss_per_year: float
    daily_hazard: float
    price_elasticity: float
    weibull_shape: float
    season_peak_month: int
    season_amplitude: float
    refurb_cost: float
    logistics_cost: float
    inventory_mean: float
    conversion_rate: float
    colours: tuple[str, ...]
    colour_premiums: tuple[float, ...]
    has_sizes: bool
    counterfeit_weight: float


@dataclass(frozen=True)
class BrandSpec:
    """A fictional brand.

    Attributes:
        name: Brand name as written in the tables.
        category: The category it makes.
        tier: New-price multiplier against the category's mid-tier brand.
        retention: Depreciation multiplier (< 1: holds value better than its category).
        popularity: Relative share of the category's items.
    """

    name: str
    category: str
    tier: float
    retention: float
    popularity: float


@dataclass(frozen=True)
class MarketSpec:
    """A marketplace whose prices for comparable units appear as `benchmark_<name>`.

    Attributes:
        name: Marketplace name (the column is `benchmark_<name>`).
        bias: Log-price bias of its comparable prices against the true market value.
        noise_sd: Log-price noise of one observation.
        missing: Per category, the share of items with no comparable listing there.
    """

    name: str
    bias: float
    noise_sd: float
    missing: dict[str, float]


CATEGORIES: dict[str, CategorySpec] = {
    c.name: c
    for c in (
        CategorySpec(
            name="phone", sector="electronics", share=0.35,
            new_price=700.0, new_price_sd=0.30,
            annual_depreciation=0.25, used_discount=0.12, grade_factors=(1.0, 0.80, 0.55),
            typical_age_months=20.0, max_age_months=84.0,
            obsolete_after_months=48.0, obsolete_loss_per_year=0.25,
            daily_hazard=1 / 10, price_elasticity=6.0, weibull_shape=1.1,
            season_peak_month=11, season_amplitude=0.15,
            refurb_cost=60.0, logistics_cost=9.0, inventory_mean=40.0, conversion_rate=0.06,
            colours=("black", "white", "blue", "green"), colour_premiums=(0.0, 0.02, -0.03, -0.05),
            has_sizes=False, counterfeit_weight=0.5,
        ),
        CategorySpec(
            name="sneaker", sector="fashion", share=0.25,
            new_price=160.0, new_price_sd=0.35,
            annual_depreciation=0.18, used_discount=0.30, grade_factors=(1.0, 0.72, 0.45),
            typical_age_months=10.0, max_age_months=60.0,
            obsolete_after_months=None, obsolete_loss_per_year=0.0,
            daily_hazard=1 / 18, price_elasticity=4.5, weibull_shape=0.9,
            season_peak_month=9, season_amplitude=0.20,
            refurb_cost=15.0, logistics_cost=12.0, inventory_mean=25.0, conversion_rate=0.04,
            colours=("white", "black", "red", "grey"), colour_premiums=(0.04, 0.0, -0.06, -0.02),
            has_sizes=True, counterfeit_weight=1.5,
        ),
        CategorySpec(
            name="handbag", sector="designer", share=0.20,
            new_price=1400.0, new_price_sd=0.45,
            annual_depreciation=0.05, used_discount=0.20, grade_factors=(1.0, 0.78, 0.50),
            typical_age_months=36.0, max_age_months=240.0,
            obsolete_after_months=None, obsolete_loss_per_year=0.0,
            daily_hazard=1 / 28, price_elasticity=3.0, weibull_shape=0.85,
            season_peak_month=12, season_amplitude=0.25,
            refurb_cost=90.0, logistics_cost=18.0, inventory_mean=8.0, conversion_rate=0.025,
            colours=("black", "tan", "red", "cream"), colour_premiums=(0.05, 0.02, -0.06, -0.03),
            has_sizes=True, counterfeit_weight=1.6,
        ),
        CategorySpec(
            name="watch", sector="luxury", share=0.20,
            new_price=900.0, new_price_sd=0.55,
            annual_depreciation=0.09, used_discount=0.18, grade_factors=(1.0, 0.82, 0.60),
            typical_age_months=48.0, max_age_months=300.0,
            obsolete_after_months=None, obsolete_loss_per_year=0.0,
            daily_hazard=1 / 35, price_elasticity=3.5, weibull_shape=0.8,
            season_peak_month=12, season_amplitude=0.20,
            refurb_cost=150.0, logistics_cost=14.0, inventory_mean=6.0, conversion_rate=0.02,
            colours=("silver", "gold", "black", "blue"), colour_premiums=(0.0, 0.03, -0.02, 0.01),
            has_sizes=True, counterfeit_weight=0.8,
        ),
    )
}  # fmt: skip
"""The four categories; the photo generator draws the same names."""

BRAND_SPECS: dict[str, BrandSpec] = {
    b.name: b
    for b in (
        BrandSpec("Novaphone", "phone", 1.30, 0.80, 0.45),
        BrandSpec("Kepler", "phone", 1.00, 1.00, 0.35),
        BrandSpec("Orbit", "phone", 0.65, 1.30, 0.20),
        BrandSpec("Stride", "sneaker", 1.00, 1.00, 0.40),
        BrandSpec("Kinetic", "sneaker", 1.20, 0.80, 0.35),
        BrandSpec("Aerolite", "sneaker", 0.80, 1.25, 0.25),
        BrandSpec("Maison Vale", "handbag", 2.20, 0.40, 0.25),
        BrandSpec("Lumen", "handbag", 1.00, 1.00, 0.40),
        BrandSpec("Corda", "handbag", 0.55, 1.80, 0.35),
        BrandSpec("Tempus", "watch", 1.80, 0.50, 0.30),
        BrandSpec("Halden", "watch", 1.00, 1.00, 0.40),
        BrandSpec("Brightwater", "watch", 0.60, 1.60, 0.30),
    )
}
"""Every brand by name."""

BRANDS: dict[str, list[str]] = {
    category: [b.name for b in BRAND_SPECS.values() if b.category == category]
    for category in CATEGORIES
}
"""Brand names per category, in a fixed order."""

MARKETS: dict[str, MarketSpec] = {
    m.name: m
    for m in (
        MarketSpec("ebay", -0.03, 0.14, {"phone": 0.05, "sneaker": 0.10, "handbag": 0.15,
                                          "watch": 0.05}),
        MarketSpec("poshmark", 0.08, 0.16, {"phone": 0.85, "sneaker": 0.25, "handbag": 0.10,
                                             "watch": 0.60}),
        MarketSpec("vinted", -0.12, 0.20, {"phone": 0.80, "sneaker": 0.30, "handbag": 0.35,
                                            "watch": 0.70}),
        MarketSpec("mercari", -0.05, 0.17, {"phone": 0.30, "sneaker": 0.30, "handbag": 0.40,
                                             "watch": 0.45}),
    )
}  # fmt: skip
"""Marketplaces with comparable prices, one `benchmark_<name>` column each."""

PHONE_STORAGE_GB: tuple[int, ...] = (64, 128, 256, 512)
"""Storage sizes a phone comes in (`attr_storage_gb`)."""
PHONE_STORAGE_SHARES: tuple[float, ...] = (0.15, 0.40, 0.30, 0.15)
PHONE_STORAGE_PRICE_EXPONENT = 0.18
"""New price scales with (storage / 128 GB) ** this."""
PHONE_STORAGE_AGE_PREMIUM = 0.04
"""Extra log-value per doubling of storage per year of age: big phones age better."""
