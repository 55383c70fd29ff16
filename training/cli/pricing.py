"""`regrade train pricing` and `regrade evaluate pricing`.

`training.cli` merges `train_app` into `regrade train` and `evaluate_app` into `regrade evaluate`;
each holds one command named `pricing`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from features.problems import DataError, Problem
from training.cli.common import out, tracked

train_app = typer.Typer(help="Train models.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate models on held-out data.", no_args_is_help=True)

MODEL_NAME = "regrade-pricing"
DEFAULT_MODEL_URI = f"models:/{MODEL_NAME}@champion"
OUTCOMES = "outcomes.csv"
TRUTH = "truth.csv"
SUMMARY_KEYS = (
    "n_test",
    "rmsle",
    "baseline_benchmark_rmsle",
    "baseline_depreciation_rmsle",
    "interval_coverage_80",
    "interval_width_80",
    "tts_cindex",
    "tts_cindex_naive",
    "rows_per_s",
)


def outcomes_table(data: Path) -> Path:
    """The outcomes table named by `data`: the file itself, or `outcomes.csv` in a folder."""
    if data.is_dir():
        data = data / OUTCOMES
    if not data.is_file():
        raise DataError([Problem(data, "outcomes table not found")])
    return data


def _load(data: Path) -> tuple[Path, Any, Any]:
    """(table path, checked outcomes frame, truth frame or None when no truth.csv beside it)."""
    from features.tables import load_outcomes, read_table

    table = outcomes_table(data)
    frame = load_outcomes(table)
    truth_path = table.parent / TRUTH
    truth = read_table(truth_path) if truth_path.is_file() else None
    return table, frame, truth


def _log_details(run: Any, artifact: Any, frame: Any, holdout: float) -> None:
    """Write the holdout predictions and the evaluation plots into the run (and MLflow)."""
    from training.pricing.evaluate import holdout_predictions
    from training.pricing.plots import days_figure, has_days, price_figure

    predictions = holdout_predictions(artifact, frame, holdout_fraction=holdout)
    path = run.out / "predictions.csv"
    predictions.to_csv(path, index=False)
    run.log_artifact(path)
    run.log_figure(price_figure(predictions), "price_calibration.png")
    if has_days(predictions):
        run.log_figure(days_figure(predictions), "days_calibration.png")


def _summary(metrics: dict) -> str:
    parts = []
    for key in SUMMARY_KEYS:
        value = metrics.get(key)
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return ", ".join(parts)


@train_app.command("pricing")
def train_pricing_command(
    data: Annotated[
        Path, typer.Option(help="Outcomes table (CSV/Parquet) or a `data synth` folder.")
    ],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default: var/runs/pricing-<time>).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML or YAML file of pricing settings.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    promote: Annotated[bool, typer.Option(help="Also make the new version @champion.")] = False,
) -> None:
    """Train the price band and time-to-sell models, evaluate them and register (@challenger).

    Writes OUT/metrics.json, OUT/predictions.csv (holdout), calibration plots and OUT/model/.
    """
    from models.pricing.artifact import save_artifact
    from serving.settings import load_settings
    from training.pricing.config import load_config
    from training.pricing.data import fingerprint
    from training.pricing.evaluate import evaluate_pricing
    from training.pricing.train import train_pricing
    from training.tracking import default_out, tracked_run

    settings = load_settings()
    cfg = load_config(config, seed=seed)
    table, frame, truth = _load(data)
    run_out = out_dir or default_out("pricing", settings)
    with tracked_run(
        "pricing", out=run_out, config={**cfg.to_dict(), "data": str(table)}, settings=settings
    ) as run:
        trained = train_pricing(
            frame, cfg, file=str(table), progress=tracked("training pricing models")
        )
        metrics = evaluate_pricing(
            trained.artifact, frame, holdout_fraction=cfg.holdout_fraction, truth=truth
        )
        metrics["train_seconds"] = trained.seconds
        trained.artifact.info = {
            "config": cfg.to_dict(),
            "metrics": metrics,
            "data": {
                "path": str(table),
                "sha256": fingerprint(table),
                "rows": len(frame),
                "train_rows": len(trained.train_rows),
                "holdout_rows": len(trained.holdout_rows),
            },
        }
        model_dir = save_artifact(trained.artifact, run.out / "model")
        run.write_metrics(metrics)
        _log_details(run, trained.artifact, frame, cfg.holdout_fraction)
        version = run.register(model_dir, MODEL_NAME, promote=promote)
    alias = "@champion" if promote else "@challenger"
    out.print(f"trained {MODEL_NAME} version {version} ({alias}) in {run.out}")
    out.print(_summary(metrics))


@evaluate_app.command("pricing")
def evaluate_pricing_command(
    data: Annotated[
        Path, typer.Option(help="Outcomes table (CSV/Parquet) or a `data synth` folder.")
    ],
    model: Annotated[
        str, typer.Option(help="models:/NAME@ALIAS, models:/NAME/VERSION or a run/model folder.")
    ] = DEFAULT_MODEL_URI,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Run folder (default: var/runs/pricing-eval-<time>)."),
    ] = None,
) -> None:
    """Evaluate a pricing model on the fixed holdout of a table; writes metrics.json and plots."""
    from models.pricing.artifact import load_artifact
    from models.registry import resolve_model_dir
    from serving.settings import load_settings
    from training.pricing.evaluate import evaluate_pricing
    from training.tracking import default_out, tracked_run

    settings = load_settings()
    resolved = resolve_model_dir(
        model, tracking_uri=settings.resolved_mlflow_uri, cache_dir=settings.model_cache_dir
    )
    artifact = load_artifact(resolved.path)
    holdout = float(artifact.info.get("config", {}).get("holdout_fraction", 0.2))
    table, frame, truth = _load(data)
    run_out = out_dir or default_out("pricing-eval", settings)
    config = {"data": str(table), "model": str(model), "model_version": resolved.version}
    with tracked_run("pricing", out=run_out, config=config, settings=settings) as run:
        metrics = evaluate_pricing(artifact, frame, holdout_fraction=holdout, truth=truth)
        run.write_metrics(metrics)
        _log_details(run, artifact, frame, holdout)
    out.print(f"evaluated {model} on {metrics['n_test']} holdout rows of {table}; in {run.out}")
    out.print(_summary(metrics))
