"""`regrade train grader` and `regrade evaluate grader`.

`training.cli` merges `train_app` into `regrade train` and `evaluate_app` into `regrade evaluate`;
each holds one command named `grader`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from features.photos import is_photo_dataset
from training.cli.common import console, out, progress_bar, tracked

train_app = typer.Typer(help="Train models.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate models on held-out data.", no_args_is_help=True)

MODEL_NAME = "regrade-grader"
DEFAULT_MODEL_URI = f"models:/{MODEL_NAME}@champion"
SUMMARY_KEYS = (
    "n_test",
    "accuracy",
    "macro_f1",
    "qwk",
    "ece",
    "auto_coverage",
    "auto_accuracy",
    "counterfeit_auroc",
    "counterfeit_recall_at_fpr02",
    "images_per_s",
)


def photo_root(data: Path) -> Path:
    """The photo dataset inside `data`: the folder itself, or its `photos/` (a `data synth` DIR)."""
    if not is_photo_dataset(data) and is_photo_dataset(data / "photos"):
        return data / "photos"
    return data


def _summary(metrics: dict) -> str:
    parts = []
    for key in SUMMARY_KEYS:
        value = metrics.get(key)
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return ", ".join(parts)


def _log_evaluation(run, predictor, test) -> dict:
    from training.grader.evaluate import evaluate_grader_model

    metrics, frame, figures = evaluate_grader_model(predictor, test)
    for name, figure in figures.items():
        run.log_figure(figure, name)
    frame.to_csv(run.out / "predictions.csv", index=False)
    run.log_artifact(run.out / "predictions.csv")
    return metrics


@train_app.command("grader")
def train_grader(
    data: Annotated[Path, typer.Option(help="Photo dataset folder (or a `data synth` folder).")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default: var/runs/grader-<time>).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    image_size: Annotated[int | None, typer.Option(help="Square input side, pixels.")] = None,
    backbone: Annotated[
        str | None, typer.Option(help="Backbone name (timm or registered).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML or YAML file of grader settings.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    pretrained_file: Annotated[
        Path | None, typer.Option(help="Local backbone weights (safetensors or state dict).")
    ] = None,
    members_from: Annotated[
        list[str] | None,
        typer.Option(
            "--members-from",
            help="Reuse the trained networks of this grader (models:/ URI, run or model folder) "
            "as ensemble members; repeatable. The rest of `members` are trained.",
        ),
    ] = None,
    promote: Annotated[bool, typer.Option(help="Also make the new version @champion.")] = False,
) -> None:
    """Train the condition grader, evaluate it on the test split and register it (@challenger)."""
    from features.problems import DataError, Problem
    from models.grader.artifact import network_count
    from models.grader.predictor import GraderPredictor
    from models.registry import resolve_model_dir
    from serving.settings import load_settings
    from training.grader.config import load_config
    from training.grader.data import load_photoset
    from training.grader.train import train_grader_model
    from training.tracking import default_out, tracked_run

    settings = load_settings()
    cfg = load_config(
        config,
        epochs=epochs,
        image_size=image_size,
        backbone=backbone,
        seed=seed,
        pretrained_file=str(pretrained_file) if pretrained_file else None,
        members_from=members_from or None,
    )
    # models:/ URIs and run folders (from the option or the config file) to model folders
    registry = {"tracking_uri": settings.resolved_mlflow_uri, "cache_dir": settings.model_cache_dir}
    sources = [str(resolve_model_dir(m, **registry).path) for m in cfg.members_from]
    cfg = replace(cfg, members_from=sources)
    try:
        to_train = max(0, cfg.members - sum(network_count(m) for m in cfg.members_from))
    except ValueError as exc:
        raise DataError([Problem("--members-from", str(exc))]) from exc
    root = photo_root(data)
    photos, problems = load_photoset(
        root, cfg.image_size, seed=cfg.seed, progress=tracked(f"decoding photos in {root}")
    )
    for problem in problems:
        console.print(f"[yellow]warning:[/yellow] {problem}")
    run_out = out_dir or default_out("grader", settings)
    with tracked_run(
        "grader", out=run_out, config={**cfg.to_dict(), "data": str(root)}, settings=settings
    ) as run:
        with progress_bar("training the grader") as bar:
            task = bar.add_task("training the grader", total=cfg.epochs * to_train)

            def on_epoch(epoch: int, metrics: dict) -> None:
                run.log_metrics(metrics, step=epoch)
                bar.advance(task)

            result = train_grader_model(cfg, photos, run.out / "model", on_epoch=on_epoch)
        predictor = GraderPredictor.load(result.model_dir)
        metrics = _log_evaluation(run, predictor, photos.subset("test"))
        metrics["train_seconds"] = result.train_seconds
        run.write_metrics(metrics)
        version = run.register(result.model_dir, MODEL_NAME, promote=promote)
    alias = "@champion" if promote else "@challenger"
    out.print(f"trained {MODEL_NAME} version {version} ({alias}) in {run.out}")
    out.print(_summary(metrics))


@evaluate_app.command("grader")
def evaluate_grader(
    data: Annotated[Path, typer.Option(help="Photo dataset folder (or a `data synth` folder).")],
    model: Annotated[
        str, typer.Option(help="models:/NAME@ALIAS, models:/NAME/VERSION or a run/model folder.")
    ] = DEFAULT_MODEL_URI,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Run folder (default: var/runs/grader-eval-<time>)."),
    ] = None,
) -> None:
    """Evaluate a grader on the test split of a photo dataset; writes metrics.json and plots."""
    from models.grader.predictor import GraderPredictor
    from models.registry import resolve_model_dir
    from serving.settings import load_settings
    from training.grader.data import load_photoset
    from training.tracking import default_out, tracked_run

    settings = load_settings()
    resolved = resolve_model_dir(
        model, tracking_uri=settings.resolved_mlflow_uri, cache_dir=settings.model_cache_dir
    )
    predictor = GraderPredictor.load(resolved.path, version=resolved.version)
    root = photo_root(data)
    art = predictor.artifact
    photos, problems = load_photoset(
        root,
        art.preprocess.image_size,
        seed=int(art.info.get("seed", 0)),
        progress=tracked(f"decoding photos in {root}"),
    )
    for problem in problems:
        console.print(f"[yellow]warning:[/yellow] {problem}")
    test = photos.subset("test")
    run_out = out_dir or default_out("grader-eval", settings)
    config = {"data": str(root), "model": str(model), "model_version": resolved.version}
    with tracked_run("grader", out=run_out, config=config, settings=settings) as run:
        metrics = _log_evaluation(run, predictor, test)
        run.write_metrics(metrics)
    out.print(f"evaluated {model} on {len(test)} test items of {root}; results in {run.out}")
    out.print(_summary(metrics))
