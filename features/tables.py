"""Reading, checking and typing tables (CSV or Parquet by extension).

`check_table` applies the column contracts of `features.schema` and returns a typed frame plus
every problem found; `load_outcomes` and `load_items` raise `DataError` when there is any.
Rows are numbered from 1, not counting the header.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from features.problems import DataError, Problem
from features.schema import (
    ITEM_COLUMNS,
    OUTCOME_COLUMNS,
    Column,
    attr_columns,
    column_for,
)

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def _table_suffix(path: Path) -> str:
    """The table type by extension, or DataError naming the file."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise DataError([Problem(path, f"unknown table type {suffix!r}: use .csv or .parquet")])
    return suffix


@contextmanager
def _parse_errors(path: Path) -> Iterator[None]:
    """Turn the reader's exceptions into a DataError naming the file."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise DataError([Problem(path, f"not UTF-8 text: {exc.reason}")]) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError([Problem(path, "the file is empty (no header row)")]) from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DataError([Problem(path, f"cannot be parsed: {exc}")]) from exc


def _readable_table(path: Path | str) -> tuple[Path, str]:
    path = Path(path)
    suffix = _table_suffix(path)
    if not path.is_file():
        raise DataError([Problem(path, "file not found")])
    return path, suffix


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV (all columns as text, empty cells as missing) or Parquet file.

    Raises:
        DataError: the file is missing, has an unknown extension or cannot be parsed.
    """
    path, suffix = _readable_table(path)
    with _parse_errors(path):
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        return pd.read_parquet(path)


def write_table(frame: pd.DataFrame, path: Path | str) -> None:
    """Write a table atomically (temporary file renamed into place); CSV or Parquet by suffix."""
    path = Path(path)
    suffix = _table_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def coerce_column(
    values: pd.Series, column: Column, *, file: Path | str, row_offset: int = 0
) -> tuple[pd.Series, list[Problem]]:
    """Type one column by its contract.

    Args:
        values: Raw values (text from CSV, or typed from Parquet); missing values are NaN/None.
        column: The contract.
        file: Named in problems.
        row_offset: Added to the 1-based position to give the row number in problems.

    Returns:
        The typed column (float64 for number/flag, object strings otherwise, bool as float 1/0
        so missing stays NaN) and the problems found.
    """
    problems: list[Problem] = []
    missing = values.isna().to_numpy()

    def bad(pos: int, message: str) -> None:
        problems.append(Problem(file, message, row=row_offset + pos + 1, column=column.name))

    if column.required:
        for pos in np.flatnonzero(missing):
            bad(int(pos), "missing value in a required column")

    if column.kind in ("number", "flag"):
        typed = pd.to_numeric(values, errors="coerce").astype("float64")
        for pos in np.flatnonzero(typed.isna().to_numpy() & ~missing):
            bad(int(pos), f"not a number: {_shown(values.iloc[pos])}")
        arr = typed.to_numpy()
        finite = ~np.isnan(arr)
        for pos in np.flatnonzero(finite & np.isinf(arr)):
            bad(int(pos), "not a finite number")
        if column.kind == "flag":
            for pos in np.flatnonzero(finite & ~np.isin(arr, (0.0, 1.0))):
                bad(int(pos), f"must be 0 or 1, got {_shown(values.iloc[pos])}")
        if column.minimum is not None:
            for pos in np.flatnonzero(finite & (arr < column.minimum)):
                what = "negative" if column.minimum == 0 else f"below {column.minimum:g}"
                bad(int(pos), f"{what} value {_shown(values.iloc[pos])}")
        if column.maximum is not None:
            for pos in np.flatnonzero(finite & (arr > column.maximum)):
                bad(int(pos), f"above {column.maximum:g}: {_shown(values.iloc[pos])}")
        return typed, problems

    if column.kind == "bool":
        out = np.full(len(values), np.nan)
        for pos, value in enumerate(values):
            if missing[pos]:
                continue
            text = str(value).strip().lower()
            if text in _TRUE:
                out[pos] = 1.0
            elif text in _FALSE:
                out[pos] = 0.0
            else:
                bad(pos, f"not a boolean (true/false, 1/0): {_shown(value)}")
        return pd.Series(out, index=values.index, name=values.name), problems

    # Python runs once per distinct value, numpy once per row (catalogues repeat values).
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    codes = np.where(missing, -1, codes)
    stripped = [str(v).strip() for v in uniques]
    text = pd.Series(
        np.array([*stripped, None], dtype=object)[codes],  # code -1 (missing) -> None
        index=values.index,
        name=values.name,
        dtype=object,
    )

    def rows_where(fails: list[bool]) -> np.ndarray:
        return np.flatnonzero(np.array([*fails, False], dtype=bool)[codes])

    if column.kind == "choice":
        allowed = set(column.choices)
        for pos in rows_where([v not in allowed for v in stripped]):
            bad(int(pos), f"{_shown(text.iloc[pos])} is not one of {'|'.join(column.choices)}")
    elif column.kind == "date":
        for pos in rows_where([not _iso_date(v) for v in stripped]):
            bad(int(pos), f"not an ISO date (YYYY-MM-DD): {_shown(text.iloc[pos])}")
    elif column.required:
        for pos in rows_where([v == "" for v in stripped]):
            bad(int(pos), "empty value in a required column")
    return text, problems


def _iso_date(text: str) -> bool:
    """Whether `text` starts with an ISO date (YYYY-MM-DD)."""
    try:
        dt.date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


def _attr(values: pd.Series) -> pd.Series:
    """`attr_*` columns: numeric where every present value is a number, text otherwise."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().sum() == values.notna().sum():
        return numeric.astype("float64")
    return values.astype(object).where(values.notna(), None)


def check_table(
    frame: pd.DataFrame,
    contract: dict[str, Column],
    *,
    file: Path | str,
    unique: Iterable[str] = (),
    row_offset: int = 0,
) -> tuple[pd.DataFrame, list[Problem]]:
    """Type every column of `frame` by `contract` and collect the problems.

    Known columns are typed, `benchmark_*` columns are checked as prices, `attr_*` columns are
    typed as numbers where they all parse, and unknown columns are kept as they are.

    Args:
        frame: The raw table.
        contract: Column contracts by name.
        file: Named in problems.
        unique: Columns whose values must not repeat (e.g. item_id).
        row_offset: Added to 1-based positions to number rows (for tables read in chunks).
    """
    problems: list[Problem] = []
    present = list(frame.columns)
    for name, column in contract.items():
        if column.required and name not in present:
            problems.append(Problem(file, "required column is missing", column=name))
    duplicated = sorted({c for c in present if present.count(c) > 1})
    for name in duplicated:
        problems.append(Problem(file, "column appears more than once", column=name))
    if duplicated:
        frame = frame.loc[:, ~frame.columns.duplicated()]

    typed = {}
    for name in frame.columns:
        column = column_for(name, contract)
        if column is not None:
            typed[name], found = coerce_column(
                frame[name], column, file=file, row_offset=row_offset
            )
            problems.extend(found)
        elif name in attr_columns([name]):
            typed[name] = _attr(frame[name])
        else:
            typed[name] = frame[name]
    out = pd.DataFrame(typed, index=frame.index)

    for name in unique:
        if name not in out.columns:
            continue
        values = out[name]
        first_seen: dict[object, int] = {}
        for pos, value in enumerate(values):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            if value in first_seen:
                problems.append(
                    Problem(
                        file,
                        f"duplicate {name} {_shown(value)} (first on row "
                        f"{row_offset + first_seen[value] + 1})",
                        row=row_offset + pos + 1,
                        column=name,
                    )
                )
            else:
                first_seen[value] = pos
    return out, problems


def _check_outcome_rows(raw: pd.DataFrame, frame: pd.DataFrame, file: Path | str) -> list[Problem]:
    """Cross-column rules: a sold row has a sold price; an unsold row has none."""
    problems: list[Problem] = []
    if "sold" not in frame.columns or "sold_price" not in frame.columns:
        return problems
    sold = frame["sold"].to_numpy()
    price_given = raw["sold_price"].notna().to_numpy()
    for pos in np.flatnonzero((sold == 1) & ~price_given):
        problems.append(
            Problem(
                file, "sold is 1 but sold_price is empty", row=int(pos) + 1, column="sold_price"
            )
        )
    for pos in np.flatnonzero((sold == 0) & price_given):
        problems.append(
            Problem(
                file, "sold is 0 but sold_price is given", row=int(pos) + 1, column="sold_price"
            )
        )
    return problems


def check_outcomes(path: Path | str) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read and check an outcomes table: the typed frame (None if unreadable) and problems."""
    try:
        raw = read_table(path)
    except DataError as exc:
        return None, exc.problems
    frame, problems = check_table(raw, OUTCOME_COLUMNS, file=path, unique=("item_id",))
    problems += _check_outcome_rows(raw, frame, path)
    if len(raw) == 0:
        problems.append(Problem(path, "the table has a header but no rows"))
    return frame, problems


def load_outcomes(path: Path | str) -> pd.DataFrame:
    """Load an outcomes table, typed by its contract.

    Raises:
        DataError: with every problem found, when there is any.
    """
    frame, problems = check_outcomes(path)
    if problems or frame is None:
        raise DataError(problems)
    return frame


def load_items(path: Path | str) -> pd.DataFrame:
    """Load a table of items to price or assess (outcome columns, if present, are ignored).

    Raises:
        DataError: with every problem found, when there is any.
    """
    raw = read_table(path)
    frame, problems = check_table(raw, ITEM_COLUMNS, file=path, unique=("item_id",))
    if problems:
        raise DataError(problems)
    return frame


def table_capabilities(frame: pd.DataFrame) -> dict[str, bool]:
    """Which models a checked outcomes table can train."""
    cols = set(frame.columns)
    return {
        "price model (sold_price)": "sold_price" in cols and frame["sold_price"].notna().any(),
        "time-to-sell model (days_listed, sold)": {"days_listed", "sold"} <= cols,
    }


def count_rows(path: Path | str) -> int | None:
    """Data rows in a table without loading it (CSV: lines minus the header), or None."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except (OSError, ValueError):
            return None
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def iter_table(path: Path | str, chunksize: int = 50_000) -> Iterator[pd.DataFrame]:
    """Read a table in chunks of at most `chunksize` rows, indexed by their 0-based row number.

    CSV chunks are read as text like `read_table`; Parquet chunks keep their types.

    Raises:
        DataError: the file cannot be opened or parsed (raised when the bad chunk is reached).
    """
    path, suffix = _readable_table(path)
    with _parse_errors(path):
        if suffix == ".csv":
            chunks = pd.read_csv(
                path, dtype=str, keep_default_na=False, na_values=[""], chunksize=chunksize
            )
        else:
            import pyarrow.parquet as pq

            batches = pq.ParquetFile(path).iter_batches(batch_size=chunksize)
            chunks = (batch.to_pandas() for batch in batches)
        start = 0
        for chunk in chunks:
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk


class ChunkWriter:
    """Write a table chunk by chunk into a temporary file; `commit` renames it into place.

    Until `commit`, the destination is untouched; `discard` (or leaving the `with` block on an
    exception) removes the temporary file.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.suffix = _table_suffix(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        os.close(fd)
        self.tmp = Path(tmp)
        self.rows = 0
        self._parquet = None
        self._schema = None

    def write(self, frame: pd.DataFrame) -> None:
        """Append `frame` (its columns must match the first chunk's)."""
        if self.suffix == ".csv":
            frame.to_csv(self.tmp, mode="a", header=self.rows == 0, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._parquet is None:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                fields = [
                    pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                    for f in table.schema
                ]
                self._schema = pa.schema(fields)
                self._parquet = pq.ParquetWriter(self.tmp, self._schema)
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            self._parquet.write_table(table)
        self.rows += len(frame)

    def commit(self) -> Path:
        """Close and move the finished table into place."""
        if self._parquet is not None:
            self._parquet.close()
        elif self.rows == 0 and self.suffix == ".parquet":
            pd.DataFrame().to_parquet(self.tmp)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Drop the temporary file; the destination stays as it was."""
        if self._parquet is not None:
            self._parquet.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
