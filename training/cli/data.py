"""`regrade data ...`: check and make data sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.photos import MANIFEST, check_photo_dataset, is_photo_dataset
from features.problems import Problem
from features.tables import TABLE_SUFFIXES, check_outcomes, table_capabilities
from training.cli.common import out, report_problems, tracked

app = typer.Typer(help="Check and make data sets.", no_args_is_help=True)


def _counts(values: pd.Series) -> str:
    counts = values.value_counts().sort_index()
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _validate_photos(root: Path) -> list[Problem]:
    frame, problems = check_photo_dataset(root, progress=tracked(f"checking photos in {root}"))
    if frame is not None and not problems:
        items = frame.drop_duplicates("item_id")
        line = f"ok: {root}: photo dataset, {len(frame)} photos of {len(items)} items"
        line += f" (grades: {_counts(items['grade'])})"
        if items["counterfeit"].notna().any():
            line += f", {int(items['counterfeit'].sum())} counterfeit"
        if items["split"].notna().any():
            line += f", splits: {_counts(items['split'])}"
        out.print(line)
    return problems


def _validate_table(path: Path) -> list[Problem]:
    frame, problems = check_outcomes(path)
    if frame is not None and not problems:
        usable = [name for name, ok in table_capabilities(frame).items() if ok]
        out.print(
            f"ok: {path}: outcomes table, {len(frame)} rows, {frame.shape[1]} columns; "
            f"trains: {', '.join(usable) or 'nothing (no targets: an items table)'}"
        )
    return problems


def _parts(path: Path) -> list[Path]:
    """What to check under `path`: itself, or the photos/ and tables of a data folder."""
    if path.is_file():
        if path.name == MANIFEST:
            return [path.parent]
        return [path]
    if is_photo_dataset(path):
        return [path]
    parts = [p for p in (path / "photos",) if is_photo_dataset(p)]
    parts += sorted(p for p in path.glob("*") if p.suffix.lower() in TABLE_SUFFIXES)
    return parts


@app.command()
def validate(
    path: Annotated[
        Path,
        typer.Argument(help="A photo dataset folder, an outcomes table, or a folder holding both."),
    ],
) -> None:
    """Check a photo dataset or an outcomes table against the data contract.

    Prints every problem with file, row and column; exits 2 when there is any, 0 when clean.
    """
    if not path.exists():
        report_problems([Problem(path, "no such file or folder")], str(path))
    parts = _parts(path)
    if not parts:
        report_problems(
            [Problem(path, f"neither a photo dataset ({MANIFEST} or A/B/C folders) nor a table")],
            str(path),
        )
    problems: list[Problem] = []
    for part in parts:
        problems += _validate_photos(part) if part.is_dir() else _validate_table(part)
    report_problems(problems, str(path))
