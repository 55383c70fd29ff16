"""`regrade holdout create|extend`, `regrade retrain`, `regrade monitor`, `regrade mlflow-ui`:
the retraining loop's commands (options in, `training.loop.*` called, the result printed).

Command bodies import the pipelines when they run, so `regrade --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from features.problems import DataError, Problem
from models.kinds import KINDS, ModelKind
from serving.settings import load_settings
from training.progress import out

holdout_app = typer.Typer(help="The fixed holdout of each model kind (versioned).")
DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


def model_kind(name: str) -> ModelKind:
    """The kind named on the command line.

    Raises:
        DataError: not grader or pricing.
    """
    if name not in KINDS:
        raise DataError([Problem("KIND", f"{name!r} is not one of {'|'.join(KINDS)}")])
    return KINDS[name]


def _holdout_lines(holdout) -> list[str]:
    m = holdout.manifest
    added = f", {m['n_added']} added" if m.get("n_added") is not None else ""
    return [
        f"holdout {holdout.label}: {m['n_items']} items{added} (share {m['share']:g} of "
        f"{m['source']}), in {holdout.folder}",
        f"sha256 {holdout.sha256}; strata {m['strata']}",
    ]


@holdout_app.command("create")
def holdout_create(
    kind: Annotated[str, typer.Argument(help="grader or pricing.")],
    data: Annotated[
        Path,
        typer.Option(
            "--from", help="Outcomes table, photo dataset folder, or a `data synth` folder."
        ),
    ],
    share: Annotated[float, typer.Option(help="Share of the items (per stratum) held out.")] = 0.15,
) -> None:
    """Create version 1 of a kind's fixed holdout under REGRADE_HOME/holdouts/<kind>/v1/."""
    from training.loop.holdout import create_holdout

    holdout = create_holdout(load_settings(), model_kind(kind), data, share)
    for line in _holdout_lines(holdout):
        out.print(line)


@holdout_app.command("extend")
def holdout_extend(
    kind: Annotated[str, typer.Argument(help="grader or pricing.")],
    data: Annotated[
        Path,
        typer.Option("--from", help="New data: outcomes table or photo dataset folder."),
    ],
    share: Annotated[
        float, typer.Option(help="Share of the new items (per stratum) added.")
    ] = 0.15,
) -> None:
    """Make a new holdout version: the newest one's items plus a share of DATA's new items."""
    from training.loop.holdout import extend_holdout

    holdout = extend_holdout(load_settings(), model_kind(kind), data, share)
    for line in _holdout_lines(holdout):
        out.print(line)


def retrain_command(
    kind: Annotated[str, typer.Argument(help="grader or pricing.")],
    since: Annotated[
        dt.datetime | None,
        typer.Option(formats=DATE_FORMATS, help="Only store records from this date (UTC) on."),
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(help="Base training data instead of the champion's own (artifact.json)."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Retrain folder (default: var/runs/retrain-<kind>-<time>)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything but register.")] = False,
    promote_if_better: Annotated[
        bool,
        typer.Option(
            "--promote-if-better", help="Make the challenger @champion if the rule passes."
        ),
    ] = False,
) -> None:
    """Retrain on the champion's data plus the store's decisions and outcomes; compare the
    challenger with the champion on the fixed holdout; promote only a better model."""
    from training.loop.retrain import retrain

    result = retrain(
        model_kind(kind),
        load_settings(),
        since=since,
        base=base,
        out=out_dir,
        dry_run=dry_run,
        promote_if_better=promote_if_better,
    )
    for line in result.report():
        out.print(line)


def mlflow_ui_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
) -> None:
    """Start the MLflow UI on this home's tracking store (runs, plots, registry, comparisons)."""
    settings = load_settings()
    settings.ensure_dirs()
    uri = settings.resolved_mlflow_uri
    command = ["mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    if settings.mlflow_uri is None:
        command += ["--default-artifact-root", settings.artifacts_dir.resolve().as_uri()]
    out.print(" ".join(command))
    os.execvp(command[0], command)


def monitor_command(
    since: Annotated[
        dt.datetime | None,
        typer.Option(formats=DATE_FORMATS, help="Only cases created from this date (UTC) on."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Report folder (default: var/runs/monitor-<time>)."),
    ] = None,
) -> None:
    """Drift of the live data against the champions' training data, model-vs-grader agreement,
    and the pricing band's coverage and days-to-sell C-index on arriving outcomes (exit 0)."""
    from training.loop.monitor import monitor

    report = monitor(load_settings(), since=since, out=out_dir)
    out.print(report.table())
    flagged = ", ".join(f"{line.group}/{line.name}" for line in report.flagged) or "nothing"
    out.print(f"{report.n_cases} cases; flagged: {flagged}; report in {report.run_dir}")
