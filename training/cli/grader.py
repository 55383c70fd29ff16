"""`regrade train grader` and `regrade evaluate grader`: options in, `training.grader.pipeline`
called, its result printed.

`training.cli` merges `train_app` into `regrade train` and `evaluate_app` into `regrade evaluate`;
each holds one command named `grader`. The command bodies import the pipeline (torch, timm,
mlflow) when they run, so `regrade --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.kinds import GRADER
from serving.settings import load_settings
from training.progress import out
from training.run_results import summary

train_app = typer.Typer(help="Train models.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate models on held-out data.", no_args_is_help=True)


@train_app.command("grader")
def train_grader_command(
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
    preset: Annotated[
        str | None,
        typer.Option(
            help="auto (default: chosen by the data), synthetic, real or real-small; "
            "settings you give win over it."
        ),
    ] = None,
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
    baseline_epochs: Annotated[
        int | None, typer.Option(help="Epochs of the plain baseline (default 30; 0 skips it).")
    ] = None,
    nproc: Annotated[
        int | None,
        typer.Option(
            help="Processes that train each network together (DistributedDataParallel over "
            "gloo, each on its share of every batch; default 1)."
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help="cpu, cuda or auto (default: a GPU where torch sees one; with --nproc or "
            "torchrun, one GPU per process over NCCL)."
        ),
    ] = None,
    promote: Annotated[bool, typer.Option(help="Also make the new version @champion.")] = False,
) -> None:
    """Train the condition grader, evaluate it on the test split and register it (@challenger)."""
    from training.grader.config import load_config
    from training.grader.distributed import launched_shard
    from training.grader.pipeline import train_grader, train_grader_share

    settings = load_settings()
    cfg = load_config(
        config,
        epochs=epochs,
        image_size=image_size,
        backbone=backbone,
        seed=seed,
        preset=preset,
        baseline_epochs=baseline_epochs,
        pretrained_file=str(pretrained_file) if pretrained_file else None,
        members_from=members_from or None,
        nproc=nproc,
        device=device,
    )
    launched = launched_shard(cfg.device)  # a torchrun rank other than 0 only trains its share
    if launched is not None and not launched.leader:
        train_grader_share(cfg, data, settings)
        return
    result = train_grader(cfg, data, out_dir, settings, promote=promote)
    for line in result.report():
        out.print(line)


@evaluate_app.command("grader")
def evaluate_grader_command(
    data: Annotated[Path, typer.Option(help="Photo dataset folder (or a `data synth` folder).")],
    model: Annotated[
        str, typer.Option(help="models:/NAME@ALIAS, models:/NAME/VERSION or a run/model folder.")
    ] = GRADER.champion_uri,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Run folder (default: var/runs/grader-eval-<time>)."),
    ] = None,
    baseline_epochs: Annotated[
        int | None,
        typer.Option(
            min=0, help="Epochs of the plain baseline scored beside it (default 30; 0 skips it)."
        ),
    ] = None,
    cv: Annotated[
        int,
        typer.Option(
            "--cv",
            min=0,
            help="Also train the model's recipe on K folds of all items and report each "
            "metric's mean and 95% interval (K >= 2; slow: K trainings).",
        ),
    ] = 0,
) -> None:
    """Evaluate a grader on the test split of a photo dataset, beside a plain baseline trained
    on the same split; writes metrics.json and plots."""
    from training.grader.pipeline import CV_SUMMARY_KEYS, SUMMARY_KEYS, evaluate_grader

    options = {} if baseline_epochs is None else {"baseline_epochs": baseline_epochs}
    result = evaluate_grader(model, data, out_dir, load_settings(), cv=cv, **options)
    out.print(
        f"evaluated {model} on {result.n_items} test items of {result.data}; "
        f"results in {result.run_dir}"
    )
    out.print(summary(result.metrics, SUMMARY_KEYS))
    if cv:
        out.print(summary(result.metrics, CV_SUMMARY_KEYS))
