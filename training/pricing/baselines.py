"""The heuristics pricing teams use today, as SPEC.md defines them, fitted on training rows.

- benchmark: the median of the row's benchmark columns times a per-grade factor;
- depreciation: new price times a per-category, per-grade depreciation curve in age;
- group median: the median sold price of the row's category, brand and grade;
- plain LightGBM: LightGBM on log price of the raw item columns, no constraints, no tuning.

Each is fitted on sold training rows and predicts every row it is asked about: where a row lacks
what the heuristic needs (no benchmark, no new price), it falls back to the median sold price of
its category and grade, as an analyst would. `fit_*` returns None when the table lacks the
columns altogether, and the metric is then null.
"""

from __future__ import annotations

from collections.abc import Callable

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.schema import attr_columns, benchmark_columns

MIN_CURVE_ROWS = 20
"""Fewest rows for a category-grade depreciation curve; below it the grade pools categories."""

Predict = Callable[[pd.DataFrame], np.ndarray]


def _num(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _keys(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    parts = [
        frame[c].astype(object).where(frame[c].notna(), "") if c in frame.columns else ""
        for c in columns
    ]
    joined = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    for part in parts:
        joined = joined + "|" + (part.astype(str) if isinstance(part, pd.Series) else part)
    return joined


def fit_group_median(
    train: pd.DataFrame, levels: tuple[tuple[str, ...], ...] = (("category", "grade"),)
) -> Predict:
    """Median sold price of the first group level holding the row's key, then grade, then all."""
    price = _num(train, "sold_price")
    chain = [*levels, ("grade",)]
    tables = [pd.Series(price).groupby(_keys(train, cols).to_numpy()).median() for cols in chain]
    overall = float(np.median(price))

    def predict(frame: pd.DataFrame) -> np.ndarray:
        out = np.full(len(frame), np.nan)
        for cols, table in zip(chain, tables, strict=True):
            found = _keys(frame, cols).map(table).to_numpy(dtype="float64", na_value=np.nan)
            out = np.where(np.isnan(out), found, out)
        return np.where(np.isnan(out), overall, out)

    return predict


def fit_category_brand_grade_median(train: pd.DataFrame) -> Predict:
    """Median by category-brand-grade, falling back to category-grade, grade, all rows."""
    return fit_group_median(train, (("category", "brand", "grade"), ("category", "grade")))


def fit_benchmark(train: pd.DataFrame) -> Predict | None:
    """Median benchmark times a per-grade factor (geometric mean of sold / median benchmark)."""
    columns = benchmark_columns(list(train.columns))
    if not columns:
        return None
    fallback = fit_group_median(train)

    def median_benchmark(frame: pd.DataFrame) -> np.ndarray:
        values = np.column_stack([_num(frame, c) for c in columns])
        some = ~np.all(np.isnan(values), axis=1)
        out = np.full(len(frame), np.nan)
        out[some] = np.nanmedian(values[some], axis=1)
        return out

    bench = median_benchmark(train)
    ratio = np.log(_num(train, "sold_price")) - np.log(bench)
    keep = np.isfinite(ratio)
    if not keep.any():
        return None
    grades = train["grade"].astype(str).to_numpy()
    overall = float(np.mean(ratio[keep]))
    factors = {g: float(np.mean(ratio[keep & (grades == g)])) for g in set(grades[keep])}

    def predict(frame: pd.DataFrame) -> np.ndarray:
        base = median_benchmark(frame)
        log_factor = np.array([factors.get(g, overall) for g in frame["grade"].astype(str)])
        out = base * np.exp(log_factor)
        return np.where(np.isfinite(out) & (out > 0), out, fallback(frame))

    return predict


def fit_depreciation(train: pd.DataFrame) -> Predict | None:
    """New price times exp(a + b * age) fitted per category and grade (per grade when few rows)."""
    new, age = _num(train, "new_price"), _num(train, "age_months")
    if np.all(np.isnan(new)) or np.all(np.isnan(age)):
        return None
    fallback = fit_group_median(train)
    ratio = np.log(_num(train, "sold_price")) - np.log(new)
    keep = np.isfinite(ratio) & np.isfinite(age)
    if keep.sum() < 2:
        return None
    median_age = float(np.median(age[keep]))
    category = train["category"].astype(str).to_numpy()
    grades = train["grade"].astype(str).to_numpy()

    def line(mask: np.ndarray) -> tuple[float, float]:
        a = age[mask]
        if len(a) < 2 or np.ptp(a) == 0:
            return float(np.mean(ratio[mask])), 0.0
        slope, intercept = np.polyfit(a, ratio[mask], 1)
        return float(intercept), float(slope)

    overall = line(keep)
    by_grade = {g: line(keep & (grades == g)) for g in set(grades[keep])}
    curves = {}
    for c, g in set(zip(category[keep], grades[keep], strict=True)):
        mask = keep & (category == c) & (grades == g)
        curves[(c, g)] = line(mask) if mask.sum() >= MIN_CURVE_ROWS else by_grade[g]

    def predict(frame: pd.DataFrame) -> np.ndarray:
        pairs = zip(frame["category"].astype(str), frame["grade"].astype(str), strict=True)
        coef = np.array([curves.get((c, g), by_grade.get(g, overall)) for c, g in pairs])
        coef = coef.reshape(-1, 2)
        a = _num(frame, "age_months")
        a = np.where(np.isnan(a), median_age, a)
        out = _num(frame, "new_price") * np.exp(coef[:, 0] + coef[:, 1] * a)
        return np.where(np.isfinite(out) & (out > 0), out, fallback(frame))

    return predict


PLAIN_LGBM_PARAMS: dict = {
    "objective": "regression",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
}
"""The plain reference: LightGBM defaults but learning rate and leaves; no constraints."""
PLAIN_LGBM_ROUNDS = 400
PLAIN_NUMERIC = ("age_months", "inventory_level", "conversion_rate_30d", "new_price")
PLAIN_CHOICES = ("category", "brand", "grade", "source", "return_reason")


def plain_columns(frame: pd.DataFrame) -> list[str]:
    """The item columns the product reads, raw: what a plain LightGBM on the table would use."""
    names = [c for c in (*PLAIN_CHOICES, *PLAIN_NUMERIC) if c in frame.columns]
    names += benchmark_columns(list(frame.columns)) + attr_columns(list(frame.columns))
    return [c for c in names if frame[c].notna().any()]


def fit_plain_lgbm(train: pd.DataFrame, *, seed: int = 0) -> Predict:
    """A plain LightGBM on log1p(sold price) of the raw item columns, fitted on sold train rows.

    Text columns become pandas categoricals with the training levels (unseen levels are
    missing), numbers stay numbers; 400 trees, learning rate 0.03, 15 leaves, no constraints,
    no early stopping, no feature engineering: the reference that says whether the product's
    machinery pays (`baseline_lgbm_rmsle`).
    """
    columns = plain_columns(train)
    levels: dict[str, list] = {}
    for name in columns:
        numeric = pd.to_numeric(train[name], errors="coerce")
        if name not in PLAIN_CHOICES and numeric.notna().sum() == train[name].notna().sum():
            continue
        levels[name] = sorted(train[name].dropna().astype(str).unique())

    def matrix(frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for name in columns:
            values = frame[name] if name in frame.columns else pd.Series(np.nan, frame.index)
            if name in levels:
                text = values.astype(object).where(values.isna(), values.astype(str))
                out[name] = pd.Categorical(text, categories=levels[name])
            else:
                out[name] = pd.to_numeric(values, errors="coerce").astype("float64")
        return pd.DataFrame(out, index=frame.index)

    booster = lgb.train(
        {**PLAIN_LGBM_PARAMS, "seed": seed},
        lgb.Dataset(matrix(train), label=np.log1p(_num(train, "sold_price"))),
        num_boost_round=PLAIN_LGBM_ROUNDS,
    )

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return np.expm1(booster.predict(matrix(frame)))

    return predict
