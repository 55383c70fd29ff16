"""The pricing pipeline: train, save, evaluate and register one model; or evaluate one.

`train_pricing` runs inside an MLflow run (`training.tracking`): it trains the price
band and time-to-sell models on the non-holdout rows (`training.pricing.train`), evaluates them
on the fixed holdout, saves the artifact with its metadata block (training config, git sha, data
fingerprint and path, metrics), writes the run's metrics, plots and holdout predictions, and
registers the model as `@challenger` (and `@champion` with `promote`). The CLI and the demo call
these functions; they print the result.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.artifact import ArtifactMeta
from models.kinds import PRICING
from models.pricing.artifact import PricingArtifact, load_artifact, save_artifact
from serving.settings import Settings
from training.fingerprints import file_fingerprint
from training.pricing.config import PricingTrainConfig
from training.pricing.data import load_run_data
from training.pricing.distributed import DaskPricing
from training.pricing.evaluate import evaluate_pricing_model, holdout_predictions
from training.pricing.plots import days_figure, has_days, price_figure
from training.pricing.search import SearchResult
from training.pricing.train import train_pricing_model
from training.progress import tracked
from training.run_results import EvaluationRun, TrainingRun
from training.tracking import RunContext, default_out, git_sha, jsonable, tracked_run

SUMMARY_KEYS = (
    "n_test",
    "rmsle",
    "baseline_benchmark_rmsle",
    "baseline_depreciation_rmsle",
    "baseline_lgbm_rmsle",
    "interval_coverage_80",
    "interval_width_80",
    "tts_cindex",
    "tts_cindex_naive",
    "rows_per_s",
    "policy_profit_capture",
)
"""The metrics a pricing run's report shows."""
DEFAULT_HOLDOUT = 0.2
"""The holdout share assumed for a model whose training config is unknown."""


def _log_details(
    run: RunContext, artifact: PricingArtifact, frame: pd.DataFrame, holdout: float
) -> None:
    """Write the holdout predictions and the evaluation plots into the run (and MLflow)."""
    predictions = holdout_predictions(artifact, frame, holdout_fraction=holdout)
    path = run.out / "predictions.csv"
    predictions.to_csv(path, index=False)
    run.log_artifact(path)
    run.log_figure(price_figure(predictions), "price_calibration.png")
    if has_days(predictions):
        run.log_figure(days_figure(predictions), "days_calibration.png")


def _log_search(run: RunContext, search: SearchResult | None) -> dict[str, float | None]:
    """Write OUT/search.csv (one row per trial), log each trial's CV RMSLE as a step of
    `search_cv_rmsle`; returns the search's summary (the chosen settings go into the artifact)."""
    if search is None or not search.trials:
        return {
            "search_trials": 0,
            "search_best_cv_rmsle": None,
            "search_seconds": None,
            "search_capped": None,
        }
    rows = [
        {"trial": i, "cv_rmsle": t.cv_rmsle, "rounds": t.rounds, "seconds": t.seconds, **t.params}
        for i, t in enumerate(search.trials)
    ]
    path = run.out / "search.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    run.log_artifact(path)
    for i, trial in enumerate(search.trials):
        run.log_metrics({"search_cv_rmsle": trial.cv_rmsle}, step=i)
    return {
        "search_trials": len(search.trials),
        "search_best_cv_rmsle": search.ranked()[0].cv_rmsle,
        "search_seconds": search.seconds,
        "search_capped": search.capped,
    }


def train_pricing(
    config: PricingTrainConfig,
    data: Path,
    out: Path | None,
    settings: Settings,
    *,
    promote: bool = False,
    register: bool = True,
    dask: str | None = None,
) -> TrainingRun:
    """Train the price band and time-to-sell models, evaluate them and register them.

    Writes OUT/metrics.json, OUT/predictions.csv (holdout), calibration plots and OUT/model/.

    Args:
        config: The run settings (`training.pricing.config.load_config`).
        data: An outcomes table (CSV or Parquet), or a `data synth` folder holding
            `outcomes.csv` (with `truth.csv` beside it, the run also reports profit capture).
        out: The run folder (default: a new `runs/pricing-<time>` under the settings' home).
        settings: Where the MLflow store and runs live.
        promote: Also make the new version `@champion`.
        register: Register the model (False: a dry run; the run is still logged).
        dask: Train the price boosters on Dask (`local`, `local:N` or a scheduler address;
            `training.pricing.distributed`); `data` may then be a folder of Parquet parts.

    Raises:
        DataError: no table, rows that break the contract, or too few sold rows.
    """
    if dask is not None:
        with DaskPricing(dask, config) as session:
            return _train_pricing(config, data, out, settings, promote, register, session)
    return _train_pricing(config, data, out, settings, promote, register, None)


def _train_pricing(
    config: PricingTrainConfig,
    data: Path,
    out: Path | None,
    settings: Settings,
    promote: bool,
    register: bool,
    session: DaskPricing | None,
) -> TrainingRun:
    """`train_pricing`'s run, on one machine or (with `session`) on Dask."""
    loaded = session.load(data) if session else load_run_data(data)
    table, frame = loaded.table, loaded.frame
    run_out = out or default_out("pricing", settings)
    run_config = {**config.to_dict(), "data": str(table)}
    with tracked_run("pricing", out=run_out, config=run_config, settings=settings) as run:
        trained = (session.train if session else train_pricing_model)(
            frame, config, file=str(table), progress=tracked("training pricing models")
        )
        artifact = trained.artifact
        metrics = evaluate_pricing_model(
            artifact,
            frame,
            holdout_fraction=config.holdout_fraction,
            truth=loaded.truth,
            seed=config.seed,
        )
        metrics["train_seconds"] = trained.seconds
        metrics.update(_log_search(run, trained.search))
        artifact.meta = ArtifactMeta.new(
            PRICING,
            git_sha=git_sha(),
            data_fingerprint=file_fingerprint(table),
            data_path=str(table),
            training_config=jsonable(config.to_dict()),
            metrics=jsonable(metrics),
        )
        artifact.info = {
            **artifact.info,
            "data": {
                "rows": len(frame),
                "train_rows": len(trained.train_rows),
                "holdout_rows": len(trained.holdout_rows),
            },
            "search": {
                "trials": len(trained.search.trials) if trained.search else 0,
                "chosen": trained.search.best.model_dump() if trained.search else None,
            },
        }
        if session:
            artifact.info.update(session.info())
        model_dir = save_artifact(artifact, run.out / "model")
        run.write_metrics(metrics)
        _log_details(run, artifact, frame, config.holdout_fraction)
        version = None
        if register:
            version = run.register(model_dir, PRICING.registered_name, promote=promote)
    return TrainingRun(PRICING, run.out, model_dir, metrics, version, promote, SUMMARY_KEYS)


def evaluate_pricing(model: str, data: Path, out: Path | None, settings: Settings) -> EvaluationRun:
    """Evaluate a pricing model on the fixed holdout of a table; writes metrics.json and plots.

    Args:
        model: `models:/NAME@ALIAS`, `models:/NAME/VERSION`, or a run or model folder.
        data: An outcomes table, or a `data synth` folder holding `outcomes.csv`.
        out: The run folder (default: a new `runs/pricing-eval-<time>` under the settings' home).
        settings: Where the MLflow store and runs live.
    """
    resolved = settings.resolve_model(model)
    artifact = load_artifact(resolved.path)
    holdout = float(artifact.training_config.get("holdout_fraction", DEFAULT_HOLDOUT))
    loaded = load_run_data(data)
    run_out = out or default_out("pricing-eval", settings)
    config = {"data": str(loaded.table), "model": str(model), "model_version": resolved.version}
    with tracked_run("pricing", out=run_out, config=config, settings=settings) as run:
        metrics = evaluate_pricing_model(
            artifact,
            loaded.frame,
            holdout_fraction=holdout,
            truth=loaded.truth,
            seed=int(artifact.training_config.get("seed", 0)),
        )
        run.write_metrics(metrics)
        _log_details(run, artifact, loaded.frame, holdout)
    return EvaluationRun(run.out, loaded.table, int(metrics["n_test"]), metrics)
