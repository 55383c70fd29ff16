"""The fitted feature transform of the price and time-to-sell models, for training and serving.

`PricingFeatures.fit(frame)` learns the schema of a training table (category levels, brand levels
with rare brands pooled as "other", the benchmark columns seen, the `attr_*` columns and their
kind); `transform(frame)` turns any items table into a numeric matrix with that schema, whatever
columns it has. Unknown categories and missing values become NaN (LightGBM's missing value).
The schema round-trips through JSON (`to_dict` / `from_dict`) inside the model artifact.

Money is on the log1p scale. Grade is ordinal (A=0, B=1, C=2: higher is worse) so monotone
constraints can apply to it. `price_inputs` derives the time-to-sell model's price features from a
matrix and candidate list prices, so one matrix serves many candidate prices.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.level_encoding import FOLDS, SMOOTHING, LevelEncoding, fold_of
from features.schema import GRADES, RETURN_REASONS, SOURCES, attr_columns, benchmark_columns

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Version 1 (no level encodings) still loads."""
OTHER = "other"
CATEGORY_SEPARATOR = "/"
NUMERIC_INPUTS: tuple[str, ...] = ("age_months", "inventory_level", "conversion_rate_30d")
CHOICE_INPUTS: dict[str, tuple[str, ...]] = {"source": SOURCES, "return_reason": RETURN_REASONS}
PRICE_INPUTS: tuple[str, ...] = ("log_list_price", "list_to_benchmark", "list_to_new")
"""Time-to-sell price features: each rises with the list price, all else equal."""

_LABELS = {
    "grade": "grade",
    "age_months": "age (months)",
    "log_new_price": "new price",
    "bench_median": "median benchmark price",
    "bench_min": "lowest benchmark price",
    "bench_spread": "benchmark spread",
    "bench_count": "benchmarks available",
    "bench_to_new": "benchmark / new price",
    "inventory_level": "inventory level",
    "conversion_rate_30d": "conversion rate (30 d)",
    "listed_month": "listing month",
    "source": "source",
    "return_reason": "return reason",
    "brand": "brand",
    "log_list_price": "list price",
    "list_to_benchmark": "list price / benchmark",
    "list_to_new": "list price / new price",
}


def _levels(values: pd.Series | np.ndarray, min_count: int) -> list[str]:
    counts = pd.Series(np.asarray(values, dtype=object)).dropna().astype(str).str.strip()
    counts = counts.value_counts()
    return sorted(str(k) for k, v in counts.items() if v >= min_count)


def _codes(values: pd.Series | np.ndarray, levels: list[str], other: bool) -> np.ndarray:
    """Codes as floats: a level's index, `other` for unseen or rare values, NaN when missing."""
    lookup = {name: float(i) for i, name in enumerate(levels)}
    fallback = float(len(levels)) if other else np.nan
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    mapped = np.array([lookup.get(str(u).strip(), fallback) for u in uniques] + [np.nan])
    return mapped[codes]  # code -1 (missing) picks the trailing NaN


def grade_codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """The matrix's grade column: A=0, B=1, C=2 as floats, NaN for missing or unknown grades."""
    return _codes(values, list(GRADES), other=False)


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _category_parts(values: pd.Series, depth: int) -> list[np.ndarray]:
    """Category path prefixes: "Women/Tops/Blouse" -> "Women", "Women/Tops", "Women/Tops/Blouse"."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    pieces = [[p.strip() for p in str(u).split(CATEGORY_SEPARATOR)] for u in uniques]
    parts = []
    for level in range(1, depth + 1):
        prefixes = [CATEGORY_SEPARATOR.join(p[:level]) if len(p) >= level else None for p in pieces]
        parts.append(np.array([*prefixes, None], dtype=object)[codes])
    return parts


def _month(values: pd.Series) -> np.ndarray:
    """Calendar month (1-12) of ISO dates; NaN when missing or unparsable."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    months = []
    for value in uniques:
        try:
            months.append(float(dt.date.fromisoformat(str(value)[:10]).month))
        except ValueError:
            months.append(np.nan)
    return np.array([*months, np.nan])[codes]


@dataclass
class PricingFeatures:
    """Fitted schema and transform from an items table to the models' numeric matrix.

    Attributes:
        min_level_count: Brands, category levels and attribute values seen fewer times than this
            in training are pooled as "other".
        max_category_depth: How many levels of a "a/b/c" category path become features.
    """

    min_level_count: int = 5
    max_category_depth: int = 3
    category_levels: list[list[str]] = field(default_factory=list)
    brand_levels: list[str] = field(default_factory=list)
    benchmarks: list[str] = field(default_factory=list)
    numeric_inputs: list[str] = field(default_factory=list)
    has_new_price: bool = False
    has_listed_date: bool = False
    attrs: dict[str, list[str] | None] = field(default_factory=dict)
    """attr column -> None when numeric, else its levels."""
    encode_levels: bool = True
    """Add smoothed target and count encodings of category paths, brand, brand x category and
    categorical attrs (`features.level_encoding`); needs `sold_price` in the training table."""
    smoothing: float = SMOOTHING
    encodings: list[LevelEncoding] = field(default_factory=list)

    def fit(self, frame: pd.DataFrame) -> PricingFeatures:
        """Learn the schema from a training table (an outcomes table or items table)."""
        depth = 1
        if "category" in frame.columns:
            paths = frame["category"].dropna().astype(str)
            if len(paths):
                depth = int(paths.str.count(CATEGORY_SEPARATOR).max()) + 1
        depth = min(depth, self.max_category_depth)
        category = frame.get("category", pd.Series([None] * len(frame), dtype=object))
        self.category_levels = [
            _levels(part, self.min_level_count) for part in _category_parts(category, depth)
        ]
        brand = frame["brand"] if "brand" in frame.columns else pd.Series(dtype=object)
        self.brand_levels = _levels(brand, self.min_level_count)
        self.benchmarks = [c for c in benchmark_columns(list(frame.columns)) if _present(frame, c)]
        self.numeric_inputs = [c for c in NUMERIC_INPUTS if _present(frame, c)]
        self.has_new_price = _present(frame, "new_price")
        self.has_listed_date = _present(frame, "listed_date")
        self.attrs = {}
        for name in attr_columns(list(frame.columns)):
            if not _present(frame, name):
                continue
            values = frame[name]
            numeric = pd.to_numeric(values, errors="coerce")
            if numeric.notna().sum() == values.notna().sum():
                self.attrs[name] = None
            else:
                self.attrs[name] = _levels(values, self.min_level_count)
        self.encodings = []
        if self.encode_levels and "sold_price" in frame.columns and "item_id" in frame.columns:
            target = np.log1p(_numbers(frame, "sold_price"))
            folds = fold_of(frame["item_id"], FOLDS)
            for name, keys in self._encoding_keys(frame).items():
                if keys.notna().any():
                    encoding = LevelEncoding(name, smoothing=self.smoothing)
                    self.encodings.append(encoding.fit(keys, target, folds))
        return self

    def _encoding_keys(self, frame: pd.DataFrame) -> dict[str, pd.Series]:
        """The keys encoded: category path levels, brand, brand x each level, categorical attrs."""
        n = len(frame)
        empty = pd.Series([None] * n, dtype=object, index=frame.index)
        category = frame.get("category", empty)
        brand = _text(frame.get("brand", empty))
        keys: dict[str, pd.Series] = {}
        parts = _category_parts(category, len(self.category_levels))
        levels = [pd.Series(part, index=frame.index, dtype=object) for part in parts]
        for i, level in enumerate(levels):
            keys[f"category_l{i + 1}"] = level
        keys["brand"] = brand
        for i, level in enumerate(levels):
            both = brand + "|" + level
            keys[f"brand_category_l{i + 1}"] = both.where(brand.notna() & level.notna(), None)
        for name, attr_levels in self.attrs.items():
            if attr_levels is not None:
                keys[name] = _text(frame.get(name, empty))
        return keys

    @property
    def names(self) -> list[str]:
        """Column names of the matrix `transform` returns, in order."""
        names = [f"category_l{i + 1}" for i in range(len(self.category_levels))]
        names += ["brand", "grade", *self.numeric_inputs]
        if self.has_new_price:
            names.append("log_new_price")
        if self.benchmarks:
            names += [f"log_{c}" for c in self.benchmarks]
            names += ["bench_median", "bench_min", "bench_spread", "bench_count"]
            if self.has_new_price:
                names.append("bench_to_new")
        names += list(CHOICE_INPUTS)
        if self.has_listed_date:
            names.append("listed_month")
        names += list(self.attrs)
        for encoding in self.encodings:
            names += [f"te_{encoding.name}", f"n_{encoding.name}"]
        return names

    @property
    def unencoded_columns(self) -> list[int]:
        """Indices of the matrix columns that are not level encodings (`te_*`, `n_*`: the last)."""
        return list(range(len(self.names) - 2 * len(self.encodings)))

    @property
    def categorical(self) -> list[str]:
        """Names of the columns holding category codes (LightGBM categorical features)."""
        names = [f"category_l{i + 1}" for i in range(len(self.category_levels))]
        names += ["brand", *CHOICE_INPUTS]
        return names + [a for a, levels in self.attrs.items() if levels is not None]

    def transform(
        self, frame: pd.DataFrame, *, out_of_fold: bool = False
    ) -> tuple[np.ndarray, list[str]]:
        """The numeric matrix for any items table.

        Args:
            frame: Items (or outcomes) with any subset of the item columns; absent columns and
                missing values become NaN, unseen categories become the "other" code.
            out_of_fold: The rows are (a subset of) the training rows this transform was just
                fitted on: target encodings leave out each row's own fold (training only).

        Returns:
            (matrix [n_rows, n_features] float64, feature names).
        """
        n = len(frame)
        cols: list[np.ndarray] = []
        category = frame.get("category", pd.Series([None] * n, dtype=object, index=frame.index))
        parts = _category_parts(category, len(self.category_levels))
        for part, levels in zip(parts, self.category_levels, strict=True):
            cols.append(_codes(part, levels, other=True))
        brand = frame.get("brand", pd.Series([None] * n, dtype=object, index=frame.index))
        cols.append(_codes(brand, self.brand_levels, other=True))
        grade = frame.get("grade", pd.Series([None] * n, dtype=object, index=frame.index))
        cols.append(grade_codes(grade))
        cols += [_numbers(frame, c) for c in self.numeric_inputs]
        log_new = np.log1p(_numbers(frame, "new_price"))
        if self.has_new_price:
            cols.append(log_new)
        if self.benchmarks:
            bench = np.log1p(np.column_stack([_numbers(frame, c) for c in self.benchmarks]))
            cols += list(bench.T)
            cols += _benchmark_summary(bench)
            if self.has_new_price:
                cols.append(cols[-4] - log_new)
        for name, choices in CHOICE_INPUTS.items():
            values = frame.get(name, pd.Series([None] * n, dtype=object, index=frame.index))
            cols.append(_codes(values, list(choices), other=False))
        if self.has_listed_date:
            listed = frame.get("listed_date", pd.Series([None] * n, dtype=object))
            cols.append(_month(listed))
        for name, levels in self.attrs.items():
            if levels is None:
                cols.append(_numbers(frame, name))
            else:
                values = frame.get(name, pd.Series([None] * n, dtype=object, index=frame.index))
                cols.append(_codes(values, levels, other=True))
        if self.encodings:
            folds = fold_of(frame["item_id"], FOLDS) if out_of_fold else None
            keys = self._encoding_keys(frame)
            for encoding in self.encodings:
                cols += encoding.encode(keys[encoding.name], folds)
        matrix = np.column_stack(cols) if cols else np.empty((n, 0))
        return matrix.astype("float64", copy=False), self.names

    def price_inputs(self, matrix: np.ndarray, prices: np.ndarray) -> np.ndarray:
        """Time-to-sell price features for candidate list prices.

        Args:
            matrix: [n, d] from `transform`.
            prices: [n] or [n, k] candidate list prices.

        Returns:
            [n, 3] or [n, k, 3]: log list price, and its log ratio to the median benchmark and to
            the new price (NaN where those are unknown). Each rises with the price.
        """
        log_price = np.log1p(np.asarray(prices, dtype="float64"))
        names = self.names
        squeeze = log_price.ndim == 1
        log_price = log_price[:, None] if squeeze else log_price

        def column(name: str) -> np.ndarray:
            if name in names:
                return matrix[:, names.index(name)][:, None]
            return np.full((len(matrix), 1), np.nan)

        out = np.stack(
            [
                log_price,
                log_price - column("bench_median"),
                log_price - column("log_new_price"),
            ],
            axis=-1,
        )
        return out[:, 0, :] if squeeze else out

    def label(self, name: str) -> str:
        """A readable name for a feature column."""
        if name in _LABELS:
            return _LABELS[name]
        if name.startswith("category_l"):
            return "category" if name == "category_l1" else f"category level {name[-1]}"
        if name.startswith("te_"):
            return f"typical price of its {self.label(name.removeprefix('te_'))}"
        if name.startswith("n_"):
            return f"listings of its {self.label(name.removeprefix('n_'))}"
        if name.startswith("brand_category_l"):
            return f"brand in {self.label(name.removeprefix('brand_'))}"
        if name.startswith("log_benchmark_"):
            return f"{name.removeprefix('log_benchmark_')} benchmark price"
        if name.startswith("attr_"):
            return name.removeprefix("attr_").replace("_", " ")
        return name.replace("_", " ")

    def describe(self, name: str, value: float) -> str:
        """A readable "feature = value" for one cell (category codes shown as their level)."""
        label = self.label(name)
        if np.isnan(value):
            return f"{label} = missing"
        levels = self._levels_of(name)
        if levels is not None:
            code = int(value)
            return f"{label} = {levels[code] if code < len(levels) else OTHER}"
        if name.startswith(("log_", "te_", "n_")) or name in ("bench_median", "bench_min"):
            return f"{label} = {np.expm1(value):.2f}"
        return f"{label} = {value:g}"

    def _levels_of(self, name: str) -> list[str] | None:
        if name.startswith("category_l"):
            return self.category_levels[int(name[len("category_l") :]) - 1]
        if name == "brand":
            return self.brand_levels
        if name == "grade":
            return list(GRADES)
        if name in CHOICE_INPUTS:
            return list(CHOICE_INPUTS[name])
        return self.attrs.get(name)

    def to_dict(self) -> dict[str, Any]:
        """The fitted schema as JSON-ready data."""
        return {
            "schema_version": SCHEMA_VERSION,
            "min_level_count": self.min_level_count,
            "max_category_depth": self.max_category_depth,
            "category_levels": self.category_levels,
            "brand_levels": self.brand_levels,
            "benchmarks": self.benchmarks,
            "numeric_inputs": self.numeric_inputs,
            "has_new_price": self.has_new_price,
            "has_listed_date": self.has_listed_date,
            "attrs": [{"name": k, "levels": v} for k, v in self.attrs.items()],
            "encode_levels": self.encode_levels,
            "smoothing": self.smoothing,
            "encodings": [e.to_dict() for e in self.encodings],
            "names": self.names,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PricingFeatures:
        """Rebuild a fitted transform from `to_dict` output.

        Raises:
            ValueError: the schema version is not one this code reads.
        """
        if data.get("schema_version") not in READABLE_VERSIONS:
            raise ValueError(f"unsupported feature schema version {data.get('schema_version')}")
        fitted = cls(
            min_level_count=int(data["min_level_count"]),
            max_category_depth=int(data["max_category_depth"]),
            category_levels=[list(x) for x in data["category_levels"]],
            brand_levels=list(data["brand_levels"]),
            benchmarks=list(data["benchmarks"]),
            numeric_inputs=list(data["numeric_inputs"]),
            has_new_price=bool(data["has_new_price"]),
            has_listed_date=bool(data["has_listed_date"]),
            attrs={
                a["name"]: (None if a["levels"] is None else list(a["levels"]))
                for a in data["attrs"]
            },
            encode_levels=bool(data.get("encode_levels", False)),
            smoothing=float(data.get("smoothing", SMOOTHING)),
            encodings=[LevelEncoding.from_dict(e) for e in data.get("encodings", [])],
        )
        if "names" in data and data["names"] != fitted.names:
            raise ValueError("feature schema names do not match the schema's fields")
        return fitted


def _text(values: pd.Series) -> pd.Series:
    """Stripped strings, None where missing."""
    text = values.astype(object)
    return text.where(text.isna(), text.astype(str).str.strip()).where(text.notna(), None)


def _present(frame: pd.DataFrame, name: str) -> bool:
    return name in frame.columns and bool(frame[name].notna().any())


def _benchmark_summary(bench: np.ndarray) -> list[np.ndarray]:
    """Median, minimum, relative spread (max - min on the log scale) and count per row."""
    count = np.sum(~np.isnan(bench), axis=1).astype("float64")
    some = count > 0
    median = np.full(len(bench), np.nan)
    low = np.full(len(bench), np.nan)
    high = np.full(len(bench), np.nan)
    if some.any():
        median[some] = np.nanmedian(bench[some], axis=1)
        low[some] = np.nanmin(bench[some], axis=1)
        high[some] = np.nanmax(bench[some], axis=1)
    return [median, low, high - low, count]
