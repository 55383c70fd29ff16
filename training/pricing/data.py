"""A pricing run's data: the outcomes table (and truth) it reads, which rows it trains and
evaluates on, and checks that a table can train a model."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.problems import DataError, Problem
from features.tables import load_outcomes, read_table

HASH_BUCKETS = 10_000
OUTCOMES = "outcomes.csv"
TRUTH = "truth.csv"


@dataclass(frozen=True)
class RunData:
    """What a pricing run reads.

    Attributes:
        table: The outcomes table's path.
        frame: Its rows, checked against the outcomes contract.
        truth: The generator's hidden truth beside a synthetic table (truth.csv), else None.
    """

    table: Path
    frame: pd.DataFrame
    truth: pd.DataFrame | None


def outcomes_table(data: Path) -> Path:
    """The outcomes table named by `data`: the file itself, or `outcomes.csv` in a folder.

    Raises:
        DataError: there is no such table.
    """
    if data.is_dir():
        data = data / OUTCOMES
    if not data.is_file():
        raise DataError([Problem(data, "outcomes table not found")])
    return data


def load_run_data(data: Path) -> RunData:
    """The checked outcomes table named by `data`, and the truth.csv beside it if any.

    Raises:
        DataError: no table, or rows that break the outcomes contract.
    """
    table = outcomes_table(data)
    frame = load_outcomes(table)
    truth_path = table.parent / TRUTH
    truth = read_table(truth_path) if truth_path.is_file() else None
    return RunData(table, frame, truth)


def holdout_mask(frame: pd.DataFrame, fraction: float) -> np.ndarray:
    """The fixed evaluation holdout: True for rows held out of training.

    A `split` column, when the table has one, decides (rows marked "test"); otherwise a hash of
    item_id puts about `fraction` of the items in the holdout, the same items on every run.
    """
    if "split" in frame.columns and frame["split"].notna().any():
        return (frame["split"].astype(str).str.strip() == "test").to_numpy()
    ids = frame["item_id"].astype(str).to_numpy()
    buckets = np.fromiter(
        (int.from_bytes(hashlib.sha1(i.encode()).digest()[:4], "big") % HASH_BUCKETS for i in ids),
        dtype=np.int64,
        count=len(ids),
    )
    return buckets < round(fraction * HASH_BUCKETS)


def has_time_to_sell(frame: pd.DataFrame) -> bool:
    """Whether the table has usable days_listed and sold columns."""
    if not {"days_listed", "sold"} <= set(frame.columns):
        return False
    known = frame["days_listed"].notna() & frame["sold"].notna()
    return bool(known.sum() > 0 and frame.loc[known, "sold"].eq(1).any())


def sold_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a positive sold price (the price model's rows)."""
    if "sold_price" not in frame.columns:
        return frame.iloc[0:0]
    price = pd.to_numeric(frame["sold_price"], errors="coerce")
    return frame[price.notna() & (price > 0)]


def require_trainable(frame: pd.DataFrame, file: Path | str, min_sold_rows: int) -> None:
    """Raise DataError when the table cannot train a price model."""
    if "sold_price" not in frame.columns:
        raise DataError([Problem(file, "no sold_price column: cannot train a price model")])
    count = len(sold_rows(frame))
    if count < min_sold_rows:
        raise DataError(
            [Problem(file, f"{count} rows with a sold_price; at least {min_sold_rows} needed")]
        )
