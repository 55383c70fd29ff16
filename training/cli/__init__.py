"""The `regrade` command line.

Exit codes: 0 on success, 2 on bad input (the message names the file, row and column at fault),
1 on internal failure.
"""

from __future__ import annotations

import sys

import typer

from features.problems import DataError
from serving.settings import SettingsError
from training.cli.common import console
from training.cli.data import app as data_app

app = typer.Typer(
    name="regrade",
    help="Grade, price and route returned, traded-in and excess goods.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data")


@app.command()
def demo() -> None:
    """Set up, generate a sample, train small models, register them and serve on 127.0.0.1:3000."""
    from training.demo import run_demo

    run_demo()


def main() -> None:
    """Console entry point: maps bad input to exit 2 and internal failures to exit 1."""
    try:
        app()
    except (DataError, SettingsError) as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        sys.exit(2)
    except Exception as exc:  # the CLI's last line of defence: report, exit 1
        console.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(1)
