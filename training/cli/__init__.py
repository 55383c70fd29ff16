"""The `regrade` command line.

Exit codes: 0 on success, 2 on bad input (the message names the file, row and column at fault),
1 on internal failure. Commands parse their options, call a pipeline (`training.*.pipeline`,
`training.demo`) and print its result; their bodies import the heavy libraries (torch, LightGBM,
mlflow, bentoml) when they run, so `regrade --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from features.problems import DataError, Problem
from models.artifact import ArtifactError
from models.kinds import KINDS
from models.registry import ModelNotFoundError
from serving.settings import SettingsError, load_settings
from training.cli import grader, pricing
from training.cli.data import app as data_app
from training.cli.loop import holdout_app, mlflow_ui_command, monitor_command, retrain_command
from training.cli.price import price_command
from training.cli.report import report_command
from training.cli.serve import serve as start_service
from training.progress import console, out

BAD_INPUT = (DataError, SettingsError, ModelNotFoundError, ArtifactError)


class RegradeGroup(TyperGroup):
    """The top-level group: bad input anywhere below it exits 2 with the problems printed."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BAD_INPUT as exc:
            console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(2) from exc


app = typer.Typer(
    name="regrade",
    cls=RegradeGroup,
    help="Grade, price and route returned, traded-in and excess goods.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
train_app = typer.Typer(help="Train a model, log the run to MLflow and register it.")
evaluate_app = typer.Typer(help="Evaluate a model on held-out data.")
for module in (grader, pricing):
    train_app.registered_commands += module.train_app.registered_commands
    evaluate_app.registered_commands += module.evaluate_app.registered_commands
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate", no_args_is_help=True)
app.command("price")(price_command)
app.command("serve")(start_service)
app.command("report")(report_command)
app.add_typer(holdout_app, name="holdout", no_args_is_help=True)
app.command("retrain")(retrain_command)
app.command("mlflow-ui")(mlflow_ui_command)
app.command("monitor")(monitor_command)


@app.command()
def promote(
    model: Annotated[str, typer.Argument(help="grader or pricing.")],
    version: Annotated[
        str | None, typer.Option(help="Version to make @champion (default: the @challenger).")
    ] = None,
) -> None:
    """Make a registered model version the @champion (default: the newest @challenger)."""
    from training.tracking import promote as set_champion

    if model not in KINDS:
        raise DataError([Problem("MODEL", f"{model!r} is not one of {'|'.join(KINDS)}")])
    name = KINDS[model].registered_name
    try:
        done = set_champion(name, version, load_settings())
    except LookupError as exc:
        raise DataError([Problem("--version", str(exc))]) from exc
    out.print(f"{name} version {done} is now @champion")


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface the service listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the service listens on.")] = 3000,
    serve: Annotated[
        bool, typer.Option(help="Start the service when the models are ready.")
    ] = True,
) -> None:
    """Generate a sample, train small models, register them as @champion and serve them."""
    from training.demo import prepare_demo

    keys = prepare_demo(host=host, port=port)
    if serve:
        os.environ.setdefault("REGRADE_API_KEYS", json.dumps(keys))
        console.print("starting the service (Ctrl-C stops it) ...")
        start_service(host=host, port=port)


def main() -> None:
    """Console entry point: internal failures exit 1 with a one-line report."""
    try:
        app()
    except Exception as exc:  # the CLI's last line of defence: report, exit 1
        console.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(1)
