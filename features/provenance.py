"""The sales ledger: proof that a returned or traded-in unit is one we sold.

A ledger has one row per unit sold: `order_id, serial_number` (at least one per row) and optional
`brand, purchase_date`. It is read from a CSV or Parquet file or from a database table through
SQLAlchemy. `SalesLedger.verify` checks a unit's order id and serial number against it:

- neither given: `provenance_missing`;
- the serial is already on another open case: `serial_on_open_case`;
- a given order id or serial number is not in the ledger: `order_not_found`, `serial_not_found`;
- both given but sold on different orders: `serial_not_on_order`;
- a given brand differs from the ledger's for that sale: `brand_mismatch`;
- otherwise verified (`provenance_verified`). One identifier found is enough when only one is given.

Order ids are compared trimmed; serial numbers trimmed and case-insensitively; brands ignoring case.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.problems import DataError, Problem
from features.schema import Column
from features.tables import check_table, read_table

if TYPE_CHECKING:
    from sqlalchemy import Engine

LEDGER_COLUMNS: dict[str, Column] = {
    c.name: c
    for c in (
        Column("order_id", "text"),
        Column("serial_number", "text"),
        Column("brand", "text"),
        Column("purchase_date", "date"),
    )
}
"""Ledger columns; `order_id` and `serial_number` must be present, each row needs one of them."""

PROVENANCE_REASONS: dict[str, str] = {
    "provenance_verified": "The unit's order id and serial number (those given) match one sale "
    "in the ledger.",
    "provenance_missing": "Neither an order id nor a serial number was given for the unit.",
    "serial_on_open_case": "The serial number is already on another open case.",
    "order_not_found": "The order id is not in the sales ledger.",
    "serial_not_found": "The serial number is not in the sales ledger.",
    "serial_not_on_order": "The serial number was sold on a different order than the one given.",
    "brand_mismatch": "The brand differs from the one recorded for this sale.",
}
"""Codes `SalesLedger.verify` returns, with a sentence each."""


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def normalise_order(value: Any) -> str | None:
    """An order id as compared: trimmed text, None when empty."""
    return _clean(value)


def normalise_serial(value: Any) -> str | None:
    """A serial number as compared: trimmed, upper case, None when empty."""
    text = _clean(value)
    return text.upper() if text else None


class SalesLedger:
    """The units we sold, indexed by order id and by serial number."""

    def __init__(self, frame: pd.DataFrame, *, source: str = "sales ledger"):
        """Index a ledger frame.

        Raises:
            DataError: a required column is missing, a row has neither identifier, or a value
                breaks its column contract; each problem names `source`, row and column.
        """
        problems = [
            Problem(source, "required column is missing", column=name)
            for name in ("order_id", "serial_number")
            if name not in frame.columns
        ]
        if problems:
            raise DataError(problems)
        known = [c for c in frame.columns if c in LEDGER_COLUMNS]
        typed, problems = check_table(frame[known], LEDGER_COLUMNS, file=source)
        orders = [normalise_order(v) for v in typed["order_id"]]
        serials = [normalise_serial(v) for v in typed["serial_number"]]
        brands = [_clean(v) for v in typed["brand"]] if "brand" in typed else [None] * len(typed)
        self._by_order: dict[str, set[int]] = defaultdict(set)  # order id -> ledger rows
        self._by_serial: dict[str, set[int]] = defaultdict(set)  # serial -> ledger rows
        self._orders = orders
        self._brands = [b.casefold() if b else None for b in brands]
        for pos, (order, serial) in enumerate(zip(orders, serials, strict=True)):
            if order is None and serial is None:
                problems.append(Problem(source, "neither order_id nor serial_number", row=pos + 1))
            if order is not None:
                self._by_order[order].add(pos)
            if serial is not None:
                self._by_serial[serial].add(pos)
        if problems:
            raise DataError(problems)
        self._by_order, self._by_serial = dict(self._by_order), dict(self._by_serial)
        self.source = source

    def __len__(self) -> int:
        return len(self._orders)

    @classmethod
    def from_file(cls, path: Path | str) -> SalesLedger:
        """Read a ledger from a CSV or Parquet file.

        Raises:
            DataError: naming the file (and row and column) at fault.
        """
        return cls(read_table(path), source=str(path))

    @classmethod
    def from_sql(cls, engine: Engine | str, table: str) -> SalesLedger:
        """Read a ledger from database table `table` (an Engine or an SQLAlchemy URL).

        Raises:
            DataError: the table or a required column is missing, or a value is bad.
        """
        from sqlalchemy import MetaData, Table, create_engine, select
        from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

        owned = isinstance(engine, str)
        bound = create_engine(engine) if isinstance(engine, str) else engine
        source = f"{bound.url.render_as_string(hide_password=True)} table {table!r}"
        try:
            found = Table(table, MetaData(), autoload_with=bound)
            columns = [found.c[name] for name in LEDGER_COLUMNS if name in found.c]
            with bound.connect() as connection:
                rows = connection.execute(select(*columns)).all()
        except NoSuchTableError as exc:
            raise DataError([Problem(source, "table not found")]) from exc
        except SQLAlchemyError as exc:
            raise DataError([Problem(source, f"cannot be read: {exc}")]) from exc
        finally:
            if owned:
                bound.dispose()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=[c.name for c in columns])
        return cls(frame.astype(object).where(frame.notna(), None), source=source)

    def verify(
        self,
        order_id: Any,
        serial_number: Any,
        open_serials: Iterable[str] = (),
        brand: Any = None,
    ) -> tuple[bool, str]:
        """Check one unit against the ledger.

        Args:
            order_id: The order the unit was sold on, or None.
            serial_number: The unit's serial number, or None.
            open_serials: Serial numbers on other open cases (this unit's own case excluded).
            brand: The unit's brand; checked when given and the ledger records one.

        Returns:
            (verified, code): the code is one of `PROVENANCE_REASONS`.
        """
        opened = {normalise_serial(s) for s in open_serials} - {None}
        return self._verify(order_id, serial_number, opened, brand)

    def verify_many(
        self,
        order_ids: Iterable[Any],
        serial_numbers: Iterable[Any],
        open_serials: Iterable[str] = (),
        brands: Iterable[Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """`verify` per row: a bool array and an object array of codes."""
        opened = {normalise_serial(s) for s in open_serials} - {None}
        orders, serials = list(order_ids), list(serial_numbers)
        brand_list = [None] * len(orders) if brands is None else list(brands)
        results = [
            self._verify(o, s, opened, b)
            for o, s, b in zip(orders, serials, brand_list, strict=True)
        ]
        verified = np.array([r[0] for r in results], dtype=bool)
        return verified, np.array([r[1] for r in results], dtype=object)

    def _verify(
        self, order_id: Any, serial_number: Any, opened: set[str], brand: Any
    ) -> tuple[bool, str]:
        order, serial = normalise_order(order_id), normalise_serial(serial_number)
        if order is None and serial is None:
            return False, "provenance_missing"
        if serial is not None and serial in opened:
            return False, "serial_on_open_case"
        if order is not None and order not in self._by_order:
            return False, "order_not_found"
        if serial is not None and serial not in self._by_serial:
            return False, "serial_not_found"
        if order is not None and serial is not None:
            rows = self._by_order[order] & self._by_serial[serial]
            if not rows:
                return False, "serial_not_on_order"
        else:
            rows = self._by_order[order] if order is not None else self._by_serial[serial]
        wanted = _clean(brand)
        recorded = {self._brands[r] for r in rows} - {None}
        if wanted is not None and recorded and wanted.casefold() not in recorded:
            return False, "brand_mismatch"
        return True, "provenance_verified"


def load_ledger(source: Path | str | Engine, table: str | None = None) -> SalesLedger:
    """A ledger from a file, or from `table` in a database (an Engine or an SQLAlchemy URL)."""
    if table is not None:
        return SalesLedger.from_sql(source, table)  # type: ignore[arg-type]
    if not isinstance(source, (str, Path)):
        raise TypeError("a database ledger needs the table name")
    if isinstance(source, str) and "://" in source:
        raise DataError([Problem(source, "a database ledger needs a table name")])
    return SalesLedger.from_file(source)
