"""`regrade data ...`: check and make data sets.

`contact-sheet` imports matplotlib when it runs, so `regrade --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from features.photos import MANIFEST, check_photo_dataset, is_photo_dataset
from features.problems import Problem
from features.tables import TABLE_SUFFIXES, check_outcomes, table_capabilities
from training.cli.common import report_problems
from training.progress import out as stdout
from training.progress import tracked
from training.synth import DAMAGE, TRUTH, synthesize

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
        stdout.print(line)
    return problems


def _validate_table(path: Path) -> list[Problem]:
    frame, problems = check_outcomes(path)
    if frame is not None and not problems:
        usable = [name for name, ok in table_capabilities(frame).items() if ok]
        stdout.print(
            f"ok: {path}: outcomes table, {len(frame)} rows, {frame.shape[1]} columns; "
            f"trains: {', '.join(usable) or 'nothing (no targets: an items table)'}"
        )
    return problems


def _parts(path: Path) -> list[Path]:
    """What to check under `path`: itself, or the photos/ and tables of a data folder.

    A synthetic data folder's truth.csv and damage.csv (the generator's hidden truth per item and
    per photo) are not outcomes tables.
    """
    if path.is_file():
        if path.name == MANIFEST:
            return [path.parent]
        return [path]
    if is_photo_dataset(path):
        return [path]
    parts = [p for p in (path / "photos",) if is_photo_dataset(p)]
    parts += sorted(
        p
        for p in path.glob("*")
        if p.suffix.lower() in TABLE_SUFFIXES and p.name not in (TRUTH, DAMAGE)
    )
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


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Destination folder (must be new or empty).")],
    items: Annotated[int, typer.Option(help="Number of units.")] = 1000,
    photos_per_item: Annotated[int, typer.Option(help="Views per unit; 0 writes no photos.")] = 3,
    image_size: Annotated[int, typer.Option(help="Photo side in pixels.")] = 224,
    counterfeit_rate: Annotated[float, typer.Option(help="Share of counterfeit units.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same bytes.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty destination.")] = False,
) -> None:
    """Generate synthetic intake photos, sales outcomes and the generator's hidden truth.

    Writes OUT/photos/ (images and manifest.csv), OUT/outcomes.csv, OUT/truth.csv and
    OUT/damage.csv (the damage marks each photo shows).
    """
    summary = synthesize(
        out,
        items=items,
        photos_per_item=photos_per_item,
        image_size=image_size,
        counterfeit_rate=counterfeit_rate,
        seed=seed,
        overwrite=overwrite,
        progress=tracked(f"drawing {items} items"),
    )
    stdout.print(
        f"wrote {summary.out}: {summary.items} items, {summary.photos} photos, "
        f"{summary.outcome_rows} outcome rows ({summary.sold} sold)"
    )


@app.command("contact-sheet")
def contact_sheet(
    path: Annotated[Path, typer.Argument(help="A synthetic data folder or its photos/ folder.")],
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("contact-sheet.png"),
    per_cell: Annotated[int, typer.Option(help="Photos per grade x counterfeit cell.")] = 4,
    seed: Annotated[int, typer.Option(help="Which samples to show.")] = 0,
) -> None:
    """Tile sample photos by grade and counterfeit into one PNG for a person to look at."""
    from training.synth.contact_sheet import make_contact_sheet

    photos = path / "photos" if (path / "photos" / MANIFEST).is_file() else path
    if not (photos / MANIFEST).is_file():
        report_problems([Problem(path, f"no {MANIFEST} here or in photos/")], str(path))
    written = make_contact_sheet(photos, out, per_cell=per_cell, seed=seed)
    stdout.print(f"wrote {written}")


@app.command("synth-history")
def synth_history(
    cases: Annotated[int, typer.Option(help="Units taken in over the window.")] = 3000,
    months: Annotated[int, typer.Option(help="Months (of 30 days) the history spans.")] = 4,
    end: Annotated[
        str | None, typer.Option(help="Last day of the history (YYYY-MM-DD; default: today).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same rows.")] = 0,
    append: Annotated[
        bool, typer.Option(help="Add to a database that already holds cases.")
    ] = False,
) -> None:
    """Fill the case database with a few months of synthetic cases, decisions and outcomes.

    Units come from the synthetic generator and go through review (with the double-grading
    sample at the settings' share), pricing decisions and sales, so `regrade report` has
    something to show on a fresh machine. Synthetic cases have no photos.
    """
    import datetime as dt

    from serving.settings import load_settings
    from serving.store.engine import make_engine
    from serving.store.migrate import migrate
    from training.cli.report import parse_day
    from training.synth.history import draw_history
    from training.synth.history_store import case_count, write_history

    if cases < 0:
        report_problems([Problem("--cases", f"must be >= 0, got {cases}")], "the options")
    if months < 1:
        report_problems([Problem("--months", f"must be >= 1, got {months}")], "the options")
    last = parse_day(end, "--end") or dt.datetime.now(dt.UTC).date()
    settings = load_settings()
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    try:
        migrate(engine)
        existing = case_count(engine)
        if existing and not append:
            report_problems(
                [Problem("database", f"already holds {existing} cases; pass --append to add")],
                "the options",
            )
        history = draw_history(
            cases,
            end=last,
            months=months,
            seed=seed,
            double_grading_share=settings.double_grading_share,
            progress=tracked(f"drawing {cases} cases"),
        )
        stored = write_history(engine, history, progress=tracked("storing the history"))
    finally:
        engine.dispose()
    stdout.print(
        f"stored {stored['cases']} cases, {stored['review_resolutions']} resolutions, "
        f"{stored['pricing_decisions']} pricing decisions, {stored['outcomes']} outcomes, "
        f"{stored['second_gradings']} second gradings, ending {last}"
    )
