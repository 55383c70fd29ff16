"""`regrade report`: the program's health figures from the case database.

Reads the store the settings name (SQLite or PostgreSQL) and writes `report.json`, PNG plots
and one self-contained `report.html` into `--out`, then prints a short table. The figures are
computed by `serving.analytics.report.build_report`, the same function the analytics page
calls. The command body imports the analytics (pandas, matplotlib) when it runs, so
`regrade --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from features.problems import DataError, Problem
from models.policy import load_policy
from serving.settings import Settings, load_settings
from serving.store.engine import make_engine
from serving.store.migrate import migrate
from training.progress import console, out


def parse_day(value: str | None, option: str) -> dt.date | None:
    """A YYYY-MM-DD day, or None.

    Raises:
        DataError: naming the option, for anything else.
    """
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise DataError([Problem(option, f"{value!r} is not a date (YYYY-MM-DD)")]) from None


def database_url(settings: Settings) -> str:
    """The settings' database URL, checked to exist when it is a SQLite file.

    Raises:
        DataError: a SQLite database file that does not exist.
    """
    url = settings.resolved_database_url
    parsed = make_url(url)
    local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if local and not Path(parsed.database).is_file():
        raise DataError(
            [Problem(parsed.database, "no case database here (REGRADE_DATABASE_URL, REGRADE_HOME)")]
        )
    return url


def default_out(settings: Settings) -> Path:
    """`<home>/reports/report-<UTC time>`."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return settings.home / "reports" / f"report-{stamp}"


def report_command(
    since: Annotated[
        str | None, typer.Option(help="First intake day counted (YYYY-MM-DD, UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last intake day counted (YYYY-MM-DD, UTC).")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the report (default: var/reports/report-<time>)."),
    ] = None,
    carbon_factors: Annotated[
        Path | None,
        typer.Option(help="Carbon factors file (default: the packaged carbon_factors.toml)."),
    ] = None,
) -> None:
    """Margin, turnover, pricing decisions, grading consistency, refurbishment, routes, carbon."""
    from serving.analytics.carbon import load_factors
    from serving.analytics.render import REPORT_HTML, terminal_table, write_report
    from serving.analytics.report import build_report

    first, last = parse_day(since, "--since"), parse_day(until, "--until")
    if first and last and first > last:
        raise DataError([Problem("--since", f"{first} is after --until {last}")])
    settings = load_settings()
    policy = load_policy(settings.policy)
    factors = load_factors(carbon_factors)
    engine = make_engine(database_url(settings))
    try:
        migrate(engine)
        report = build_report(engine, since=first, until=last, policy=policy, factors=factors)
    finally:
        engine.dispose()
    folder = out_dir or default_out(settings)
    written = write_report(report, folder)
    out.print(terminal_table(report))
    console.print(
        f"wrote {folder} ({written['json'].name}, {REPORT_HTML}, {len(written) - 2} plots)"
    )
