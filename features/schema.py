"""Column contracts for outcomes tables, items to price and photo manifests (see SPEC.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GRADES: tuple[str, ...] = ("A", "B", "C")
"""Condition grades, best first."""

SOURCES: tuple[str, ...] = ("trade_in", "buy_back", "return", "overstock", "partner")
RETURN_REASONS: tuple[str, ...] = (
    "changed_mind",
    "sizing",
    "cosmetic",
    "defect",
    "not_as_described",
    "other",
)
SPLITS: tuple[str, ...] = ("train", "val", "test")

BENCHMARK_PREFIX = "benchmark_"
ATTR_PREFIX = "attr_"

Kind = Literal["text", "number", "flag", "choice", "date", "bool"]


@dataclass(frozen=True)
class Column:
    """The contract of one column.

    Attributes:
        name: Column name as it appears in the file.
        kind: text, number, flag (0|1), choice (one of `choices`), date (ISO) or bool.
        choices: Allowed values for a choice column.
        minimum: Smallest allowed number (inclusive).
        maximum: Largest allowed number (inclusive).
        required: The column must be present and every row must have a value.
    """

    name: str
    kind: Kind
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False


def _money(name: str) -> Column:
    return Column(name, "number", minimum=0.0)


ITEM_COLUMNS: dict[str, Column] = {
    c.name: c
    for c in (
        Column("item_id", "text", required=True),
        Column("category", "text", required=True),
        Column("grade", "choice", choices=GRADES, required=True),
        Column("brand", "text"),
        Column("age_months", "number", minimum=0.0),
        _money("new_price"),
        _money("list_price"),
        _money("acquisition_cost"),
        _money("refurb_cost"),
        _money("logistics_cost"),
        Column("source", "choice", choices=SOURCES),
        Column("return_reason", "choice", choices=RETURN_REASONS),
        Column("inventory_level", "number", minimum=0.0),
        Column("conversion_rate_30d", "number", minimum=0.0, maximum=1.0),
        Column("listed_date", "date"),
        Column("order_id", "text"),
        Column("serial_number", "text"),
        Column("purchase_date", "date"),
        Column("opened", "bool"),
    )
}
"""Columns that describe a unit before sale."""

OUTCOME_TARGETS: dict[str, Column] = {
    c.name: c
    for c in (
        _money("sold_price"),
        Column("days_listed", "number", minimum=0.0),
        Column("sold", "flag"),
    )
}
"""What happened after listing: the training targets."""

OUTCOME_COLUMNS: dict[str, Column] = {**ITEM_COLUMNS, **OUTCOME_TARGETS}

MANIFEST_COLUMNS: dict[str, Column] = {
    c.name: c
    for c in (
        Column("image", "text", required=True),
        Column("item_id", "text", required=True),
        Column("grade", "choice", choices=GRADES, required=True),
        Column("counterfeit", "flag"),
        Column("category", "text"),
        Column("brand", "text"),
        Column("split", "choice", choices=SPLITS),
    )
}
"""Columns of a photo dataset's manifest.csv."""


def column_for(name: str, known: dict[str, Column]) -> Column | None:
    """The contract for a column name, including the `benchmark_*` family.

    Returns None for `attr_*` and unknown columns, which are carried through unchecked.
    """
    if name in known:
        return known[name]
    if name.startswith(BENCHMARK_PREFIX) and len(name) > len(BENCHMARK_PREFIX):
        return _money(name)
    return None


def benchmark_columns(columns: list[str]) -> list[str]:
    """The `benchmark_<marketplace>` columns among `columns`, in order."""
    return [c for c in columns if c.startswith(BENCHMARK_PREFIX) and len(c) > len(BENCHMARK_PREFIX)]


def attr_columns(columns: list[str]) -> list[str]:
    """The `attr_<name>` columns among `columns`, in order."""
    return [c for c in columns if c.startswith(ATTR_PREFIX) and len(c) > len(ATTR_PREFIX)]
