"""Store a drawn `History` in the case database, all in one transaction.

Rows go in through SQLAlchemy Core in batches, in the tables' dependency order (cases and
their review kinds first); an error stores nothing. Synthetic cases have no photos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine, Table, func, insert, select

from serving.store.engine import WRITE_OPTION
from serving.store.tables import (
    Case,
    CaseEvent,
    CaseReviewKind,
    Outcome,
    PricingDecision,
    ReviewResolution,
    SecondGrading,
)
from training.synth.history import History

BATCH = 5_000


def case_count(engine: Engine) -> int:
    """Cases already in the database."""
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Case)) or 0)


def _batches(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def write_history(
    engine: Engine, history: History, progress: Callable[..., Iterable] | None = None
) -> dict[str, int]:
    """Insert every row of `history`; the rows stored per table.

    Args:
        engine: An engine on a migrated case database.
        history: From `training.synth.history.draw_history`.
        progress: A `progress(iterable, total)` wrapper shown over the batches.
    """
    kinds = [{"case_id": c["case_id"], "kind": kind} for c in history.cases for kind in c["kinds"]]
    cases = [{k: v for k, v in c.items() if k != "kinds"} for c in history.cases]
    tables: list[tuple[Table, list[dict[str, Any]]]] = [
        (Case.__table__, cases),
        (CaseReviewKind.__table__, kinds),
        (ReviewResolution.__table__, history.resolutions),
        (PricingDecision.__table__, history.decisions),
        (Outcome.__table__, history.outcomes),
        (SecondGrading.__table__, history.second_gradings),
        (CaseEvent.__table__, sorted(history.events, key=lambda e: e["at"])),
    ]
    batches = [(table, batch) for table, rows in tables for batch in _batches(rows)]
    steps = progress(batches, len(batches)) if progress is not None else batches
    with engine.connect() as connection:
        connection = connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            for table, batch in steps:
                connection.execute(insert(table), batch)
    return {table.name: len(rows) for table, rows in tables}
