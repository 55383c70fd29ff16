"""`regrade price`: batch pricing of a whole catalogue behind the guardrails.

Streams the input in chunks with a progress bar. Rows that break the item contract go to
`<output>.errors.csv` (row number, column, message) and the rest are priced. The output and the
errors file are written to temporary files and renamed into place only when every chunk is done,
so an interrupted run leaves the previous output untouched. The command body imports the pricing
model (LightGBM) when it runs, so `regrade --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from features.problems import DataError, Problem
from features.provenance import load_ledger
from features.schema import ITEM_COLUMNS
from features.tables import ChunkWriter, check_table, count_rows, iter_table
from models.decisions import IntakeSignals, decide
from models.kinds import PRICING
from models.policy import load_policy
from serving.settings import load_settings
from training.progress import console, out, progress_bar

DEFAULT_MODEL = PRICING.champion_uri
CHUNK_ROWS = 50_000
ROUNDING = {"margin_pct": 4, "list_margin_pct": 4}
"""Output precision: money to cents, shares to 4 places."""


def errors_path(output: Path) -> Path:
    """Where rows that could not be priced are listed: `<output>.errors.csv`."""
    return output.with_name(output.name + ".errors.csv")


def _format(decisions: pd.DataFrame) -> pd.DataFrame:
    for name in decisions.columns:
        if decisions[name].dtype.kind == "f":
            decisions[name] = decisions[name].round(ROUNDING.get(name, 2))
    return decisions


def price_chunk(
    raw: pd.DataFrame, *, source: Path, predictor, policy, ledger=None
) -> tuple[pd.DataFrame, list[Problem]]:
    """Check and price one chunk: (priced rows with the input columns first, row problems).

    Raises:
        DataError: a problem with the whole file (e.g. a required column missing).
    """
    typed, problems = check_table(raw, ITEM_COLUMNS, file=source, row_offset=int(raw.index[0]))
    whole_file = [p for p in problems if p.row is None]
    if whole_file:
        raise DataError(whole_file)
    bad = {p.row - 1 for p in problems}
    good = typed.loc[~typed.index.isin(bad)]
    signals = None
    if ledger is not None and len(good):
        orders = good["order_id"] if "order_id" in good.columns else [None] * len(good)
        serials = good["serial_number"] if "serial_number" in good.columns else [None] * len(good)
        brands = good["brand"] if "brand" in good.columns else None
        verified, codes = ledger.verify_many(orders, serials, brands=brands)
        signals = IntakeSignals(provenance_verified=verified, provenance_codes=codes)
    if len(good) == 0:
        return raw.iloc[0:0], problems
    decisions = _format(decide(good, predictor, policy, signals))
    inputs = raw.loc[good.index, [c for c in raw.columns if c not in decisions.columns]]
    return pd.concat([inputs, decisions], axis=1), problems


def price_command(
    input: Annotated[Path, typer.Option("--input", help="Items to price (CSV or Parquet).")],
    output: Annotated[Path, typer.Option("--output", help="Priced table (CSV or Parquet).")],
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", help="Guardrail policy (TOML or YAML); default: settings."),
    ] = None,
    model: Annotated[
        str, typer.Option(help="Pricing model URI: models:/NAME@ALIAS, a version, or a run folder.")
    ] = DEFAULT_MODEL,
    ledger_file: Annotated[
        Path | None,
        typer.Option("--ledger", help="Sales ledger for provenance (order_id, serial_number)."),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows per chunk.")] = CHUNK_ROWS,
) -> None:
    """Price a catalogue with guardrails: band, days to sell, recommended price, margin, route."""
    from models.pricing.predictor import PricingPredictor

    if output.resolve() == input.resolve():
        raise DataError([Problem(output, "the output must not overwrite the input")])
    settings = load_settings()
    policy = load_policy(policy_file or settings.policy)
    ledger = load_ledger(ledger_file) if ledger_file else None
    resolved = settings.resolve_model(model)
    predictor = PricingPredictor.load(resolved.path)
    total = count_rows(input)
    problems: list[Problem] = []
    with ChunkWriter(output) as priced, progress_bar("pricing") as bar:
        task = bar.add_task(f"pricing {input.name}", total=total)
        for raw in iter_table(input, chunk_rows):
            rows, found = price_chunk(
                raw, source=input, predictor=predictor, policy=policy, ledger=ledger
            )
            if len(rows):
                priced.write(rows)
            problems += found
            bar.advance(task, len(raw))
        if priced.rows == 0 and not problems:
            raise DataError([Problem(input, "the table has a header but no rows")])
        _write_errors(errors_path(output), problems)
        priced.commit()
    version = f" version {resolved.version}" if resolved.version else ""
    out.print(f"priced {priced.rows} rows into {output} with {resolved.name or model}{version}")
    if problems:
        rows = len({p.row for p in problems})
        console.print(f"[yellow]{rows} row(s) not priced: see {errors_path(output)}[/yellow]")


def _write_errors(path: Path, problems: list[Problem]) -> None:
    """List the rows that were not priced, or remove a stale list from an earlier run."""
    if not problems:
        path.unlink(missing_ok=True)
        return
    frame = pd.DataFrame(
        {
            "row": [p.row for p in problems],
            "column": [p.column or "" for p in problems],
            "message": [p.message for p in problems],
        }
    ).sort_values("row", kind="stable")
    with ChunkWriter(path) as writer:
        writer.write(frame.astype({"row": np.int64}))
        writer.commit()
