"""`regrade train pricing` and `regrade evaluate pricing`: options in,
`training.pricing.pipeline` called, its result printed.

`training.cli` merges `train_app` into `regrade train` and `evaluate_app` into `regrade evaluate`;
each holds one command named `pricing`. The command bodies import the pipeline (LightGBM,
mlflow) when they run, so `regrade --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.kinds import PRICING
from serving.settings import load_settings
from training.progress import out
from training.run_results import summary

train_app = typer.Typer(help="Train models.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate models on held-out data.", no_args_is_help=True)


@train_app.command("pricing")
def train_pricing_command(
    data: Annotated[
        Path,
        typer.Option(
            help="Outcomes table (CSV/Parquet), a `data synth` folder, or (with --dask) a folder "
            "of Parquet parts."
        ),
    ],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default: var/runs/pricing-<time>).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML or YAML file of pricing settings.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    promote: Annotated[bool, typer.Option(help="Also make the new version @champion.")] = False,
    dask: Annotated[
        str | None,
        typer.Option(
            metavar="SCHEDULER|local[:N]",
            help="Train the price boosters with lightgbm.dask: a scheduler address, or a local "
            "cluster of N worker processes (default 2). DATA may be a folder of Parquet parts.",
        ),
    ] = None,
) -> None:
    """Train the price band and time-to-sell models, evaluate them and register (@challenger).

    Writes OUT/metrics.json, OUT/predictions.csv (holdout), calibration plots and OUT/model/.
    """
    from training.pricing.config import load_config
    from training.pricing.pipeline import train_pricing

    settings = load_settings()
    cfg = load_config(config, seed=seed)
    result = train_pricing(cfg, data, out_dir, settings, promote=promote, dask=dask)
    for line in result.report():
        out.print(line)


@evaluate_app.command("pricing")
def evaluate_pricing_command(
    data: Annotated[
        Path, typer.Option(help="Outcomes table (CSV/Parquet) or a `data synth` folder.")
    ],
    model: Annotated[
        str, typer.Option(help="models:/NAME@ALIAS, models:/NAME/VERSION or a run/model folder.")
    ] = PRICING.champion_uri,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Run folder (default: var/runs/pricing-eval-<time>)."),
    ] = None,
) -> None:
    """Evaluate a pricing model on the fixed holdout of a table; writes metrics.json and plots."""
    from training.pricing.pipeline import SUMMARY_KEYS, evaluate_pricing

    result = evaluate_pricing(model, data, out_dir, load_settings())
    out.print(
        f"evaluated {model} on {result.n_items} holdout rows of {result.data}; in {result.run_dir}"
    )
    out.print(summary(result.metrics, SUMMARY_KEYS))
