"""`PricingPredictor`: price band, days to sell, survival curves and explanations for items.

Serving and batch pricing load one from an artifact folder and call it with an items frame
(the "Item to price or assess" columns; absent columns are treated as missing). The same fitted
feature transform as in training turns the frame into the models' matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, ndtr, ndtri

from features.pricing_features import grade_codes
from models.pricing.artifact import PricingArtifact, load_artifact
from models.pricing.listing import LABELS, listing_matrix, listing_names

LISTING_ROWS = 65_536
"""Most candidate listings built at once by `days_at_prices`."""
OUTPUT_COLUMNS = ("price_p10", "price_p50", "price_p90", "days_to_sell_p50", "days_to_sell_p90")


@dataclass(frozen=True)
class PreparedItems:
    """Items with their feature matrix and log1p(P50) computed once, for repeated calls.

    `PricingPredictor.prepare` makes one; `predict`, `days_at_prices`, `closing_prices` and
    `price_p50` accept it wherever they accept a frame (batch pricing asks several questions
    of the same rows).
    """

    items: pd.DataFrame
    x: np.ndarray
    log_p50: np.ndarray

    def __len__(self) -> int:
        return len(self.items)

    def take(self, rows: np.ndarray) -> PreparedItems:
        """The prepared subset at integer positions `rows`."""
        return PreparedItems(self.items.iloc[rows], self.x[rows], self.log_p50[rows])


Items = pd.DataFrame | PreparedItems


class PricingPredictor:
    """Predictions from one pricing artifact."""

    def __init__(self, artifact: PricingArtifact):
        self.artifact = artifact
        self.features = artifact.features
        self.price_model = artifact.price
        self.tts_model = artifact.tts

    @classmethod
    def load(cls, model_dir: Path | str) -> PricingPredictor:
        """Load from an artifact folder (see `models.pricing.artifact`).

        Raises:
            ArtifactError: the folder is not a complete pricing artifact.
        """
        return cls(load_artifact(Path(model_dir)))

    @property
    def has_time_to_sell(self) -> bool:
        """Whether the model predicts days to sell (its training data had them)."""
        return self.tts_model is not None

    @property
    def metrics(self) -> dict:
        """The metrics recorded in the artifact at training time."""
        return self.artifact.metrics

    def matrix(self, items: pd.DataFrame) -> np.ndarray:
        """[n, d] feature matrix for `items`."""
        return self.features.transform(items)[0]

    def prepare(self, items: Items) -> PreparedItems:
        """The feature matrix and log1p(P50) of `items`, computed once."""
        if isinstance(items, PreparedItems):
            return items
        x = self.matrix(items)
        return PreparedItems(items, x, self.price_model.predict_mid(x) if len(x) else np.empty(0))

    def at_grade(self, items: Items, grades: np.ndarray) -> PreparedItems:
        """`items` regraded to `grades` ([n]), prepared without transforming the frame again.

        Grade is one ordinal column of the matrix and no other column depends on it (no level
        encoding involves grade), so only that column and P50 change.
        """
        prepared = self.prepare(items)
        frame = prepared.items.copy()
        frame["grade"] = grades
        x = prepared.x.copy()
        if len(x):
            x[:, self.features.names.index("grade")] = grade_codes(np.asarray(grades, dtype=object))
        log_p50 = self.price_model.predict_mid(x) if len(x) else np.empty(0)
        return PreparedItems(frame, x, log_p50)

    def price_p50(self, items: Items) -> np.ndarray:
        """[n] P50 price in money."""
        return np.expm1(self.prepare(items).log_p50)

    def predict(self, items: Items) -> pd.DataFrame:
        """Price band and days to sell per item.

        Days are predicted at the item's `list_price` where it is given, else at its predicted
        P50 price; they are NaN when the model has no time-to-sell part.

        Returns:
            A frame indexed like `items` with OUTPUT_COLUMNS.
        """
        if len(items) == 0:
            index = items.items.index if isinstance(items, PreparedItems) else items.index
            return pd.DataFrame(index=index, columns=list(OUTPUT_COLUMNS), dtype="float64")
        prepared = self.prepare(items)
        items, x = prepared.items, prepared.x
        low, mid, high = self.price_model.predict_log(x, prepared.log_p50)
        out = pd.DataFrame(
            {"price_p10": np.expm1(low), "price_p50": np.expm1(mid), "price_p90": np.expm1(high)},
            index=items.index,
        )
        days50 = days90 = np.full(len(items), np.nan)
        if self.tts_model is not None:
            price = self._listing_price(items, out["price_p50"].to_numpy())
            survival = self.tts_model.survival(listing_matrix(self.features, x, mid, price))
            days50 = self.tts_model.quantile_days(survival, 0.5)
            days90 = self.tts_model.quantile_days(survival, 0.9)
        out["days_to_sell_p50"] = days50
        out["days_to_sell_p90"] = days90
        return out

    @staticmethod
    def _listing_price(items: pd.DataFrame, fallback: np.ndarray) -> np.ndarray:
        if "list_price" not in items.columns:
            return fallback
        given = pd.to_numeric(items["list_price"], errors="coerce").to_numpy(dtype="float64")
        return np.where(np.isfinite(given) & (given > 0), given, fallback)

    def days_at_prices(self, items: Items, prices: np.ndarray) -> np.ndarray:
        """P50 days to sell at each candidate price (for the guardrails' price search).

        Args:
            items: n items.
            prices: [n, k] candidate list prices per item; a row of only NaN prices is not run
                (the price search passes them for units it cannot list); a NaN among
                others is a missing price to the model.

        Returns:
            [n, k] P50 days; NaN in rows of only NaN prices, and everywhere when the model has
            no time-to-sell part.
        """
        prices = np.asarray(prices, dtype="float64")
        if prices.ndim != 2 or prices.shape[0] != len(items):
            raise ValueError(f"prices must be [n_items, k], got {prices.shape} for {len(items)}")
        out = np.full(prices.shape, np.nan)
        if self.tts_model is None:
            return out
        run = np.flatnonzero(np.isfinite(prices).any(axis=1))
        prepared = self.prepare(items)
        if len(run) < len(prices):
            prepared, prices = prepared.take(run), prices[run]
        x, log_value = prepared.x, prepared.log_p50
        days = np.empty(prices.shape)
        step = max(1, LISTING_ROWS // max(1, prices.shape[1]))  # bounds memory on big batches
        for lo in range(0, len(prices), step):
            block = slice(lo, lo + step)
            rows = listing_matrix(self.features, x[block], log_value[block], prices[block])
            survival = self.tts_model.survival(rows)
            days[block] = self.tts_model.quantile_days(survival, 0.5).reshape(prices[block].shape)
        out[run] = days
        return out

    def closing_prices(
        self,
        items: Items,
        prices: np.ndarray,
        band: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Expected closing price of a sale at each asking price (for the price search).

        The artifact's `closing` fit (training: how sold prices followed list prices):
        close = P50 x exp(offset + slope x log(ask / P50)), never above the ask. Without one
        (older artifacts, tables without list prices) the ask itself.

        With `band`, the value the fit starts from is uncertain: log value is read as normal
        around log P50 with the spread the band implies (P10 and P90 at the band's coverage),
        and the close is the expectation of min(ask, close at that value) over it (closed form).
        An ask near the value then expects less than the plug-in close (a value above the
        estimate cannot lift the sale above the ask, one below it lowers the sale), and the price
        search no longer treats the point estimate of the value as known.

        Args:
            items: n items.
            prices: [n, k] candidate asking prices.
            band: ([n] P10, [n] P90) of the same items (crossed ones read as sorted), or None
                for the point estimate; rows whose band is missing or empty use the point
                estimate.

        Returns:
            [n, k] expected closing prices.
        """
        prices = np.asarray(prices, dtype="float64")
        closing = self.artifact.info.get("closing")
        if not closing or len(items) == 0:
            return prices
        spread = None
        if band is not None:
            z = ndtri(0.5 + self.price_model.coverage / 2.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                width = np.abs(
                    np.log(np.asarray(band[1], "float64") / np.asarray(band[0], "float64"))
                )
            spread = np.where(np.isfinite(width) & (width > 0), width / (2.0 * z), 0.0)
        return expected_close(
            self.price_p50(items), prices, closing["slope"], closing["offset"], spread
        )

    def survival_curve(
        self,
        items: pd.DataFrame,
        days: np.ndarray | None = None,
        prices: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Chance of still being unsold after each number of days.

        Args:
            items: n items.
            days: Days to evaluate at; default the model's period edges.
            prices: [n] list prices; default `list_price` where given, else the predicted P50.

        Returns:
            (days [m], survival [n, m]); survival is NaN when there is no time-to-sell model.
        """
        if self.tts_model is None:
            grid = np.asarray(days if days is not None else [0.0], dtype="float64")
            return grid, np.full((len(items), len(grid)), np.nan)
        grid = self.tts_model.edges if days is None else np.asarray(days, dtype="float64")
        x = self.matrix(items)
        log_value = self.price_model.predict_mid(x)
        if prices is None:
            prices = self._listing_price(items, np.expm1(log_value))
        rows = listing_matrix(self.features, x, log_value, np.asarray(prices, dtype="float64"))
        return grid, self.tts_model.survival_at(rows, grid)

    def contributions(self, items: Items, top: int = 5) -> list[list[tuple[str, float]]]:
        """The largest feature contributions to each item's P50 price.

        Returns:
            Per item, up to `top` pairs (readable "feature = value", contribution to log price),
            largest magnitude first. exp(contribution) is the factor it applies to the price.
        """
        x = items.x if isinstance(items, PreparedItems) else self.matrix(items)
        contrib = self.price_model.contributions(x)[:, :-1]  # drop the bias column
        names = self.features.names
        order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top]
        result = []
        for i, row in enumerate(order):
            result.append(
                [
                    (self.features.describe(names[j], x[i, j]), round(float(contrib[i, j]), 4))
                    for j in row
                    if contrib[i, j] != 0.0
                ]
            )
        return result

    def readable(self, name: str) -> str:
        """Readable label for any item or listing feature name."""
        return LABELS.get(name) or self.features.label(name)

    @property
    def listing_feature_names(self) -> list[str]:
        """Feature names of the time-to-sell model's listing rows (without the period)."""
        return listing_names(self.features)


def expected_close(
    value: np.ndarray,
    prices: np.ndarray,
    slope: float,
    offset: float,
    spread: np.ndarray | None = None,
) -> np.ndarray:
    """Expected closing price at each ask: E[min(ask, v x exp(offset + slope x log(ask / v)))].

    With v = `value` (spread None or 0) this is the closing fit itself. With a spread, log v is
    normal around log `value` with that standard deviation; writing u = offset + (1 - slope) x
    log(v / ask) ~ N(m, tau^2), close / ask = min(1, e^u) and its expectation is
    Phi(m / tau) + exp(m + tau^2 / 2) Phi(-(m + tau^2) / tau).

    Args:
        value: [n] the value the fit starts from (P50).
        prices: [n, k] asking prices.
        slope, offset: The artifact's closing fit.
        spread: [n] standard deviation of log value, or None (0 everywhere).

    Returns:
        [n, k] expected closing prices, never above the ask; the ask where not finite.
    """
    prices = np.asarray(prices, dtype="float64")
    value = np.asarray(value, dtype="float64")[:, None]
    spread = np.zeros(len(value)) if spread is None else np.asarray(spread, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        m = offset + (1.0 - slope) * np.log(value / prices)
        tau = np.broadcast_to((1.0 - slope) * np.nan_to_num(spread)[:, None], m.shape)
        t = np.where(tau > 0, tau, 1.0)
        below = np.exp(m + t**2 / 2.0 + log_ndtr(-(m + t**2) / t))  # E[e^u; u < 0]
        share = np.where(tau > 0, ndtr(m / t) + below, np.minimum(1.0, np.exp(m)))
        close = prices * share
    return np.where(np.isfinite(close), np.minimum(close, prices), prices)
