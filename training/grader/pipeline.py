"""The grader pipeline: train, calibrate, save, evaluate and register one model; or evaluate one.

`train_grader` runs inside an MLflow run (`training.tracking`): it decodes the photo dataset,
trains and calibrates the networks (`training.grader.train`), saves the artifact with its
metadata block (training config, git sha, data fingerprint and path, test metrics), writes the
run's metrics, plots and per-item predictions, and registers the model as `@challenger` (and
`@champion` with `promote`). The CLI and the demo call these functions; they print the result.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from features.photos import is_photo_dataset
from features.problems import DataError, Problem
from models.artifact import ArtifactMeta, write_meta
from models.grader.artifact import GraderArtifact, network_count
from models.grader.predictor import GraderPredictor
from models.kinds import GRADER
from serving.settings import Settings
from training.configs import problems_of
from training.fingerprints import photo_dataset_fingerprint
from training.grader.baseline import BASELINE_ARCH, BASELINE_EPOCHS, plain_baseline
from training.grader.config import GraderConfig
from training.grader.crossfit import describe_crossfit
from training.grader.crossval import cross_validate
from training.grader.data import PhotoSet, describe_split, load_photoset
from training.grader.evaluate import evaluate_grader_model
from training.grader.presets import describe_preset, photo_facts, resolve_preset
from training.grader.train import train_grader_model, train_share
from training.progress import console, progress_bar, tracked, warn
from training.run_results import EvaluationRun, TrainingRun
from training.tracking import RunContext, default_out, git_sha, jsonable, tracked_run

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
    "baseline_plain_macro_f1",
    "baseline_plain_qwk",
)
"""The metrics a grader run's report shows."""
CV_SUMMARY_KEYS = tuple(
    f"cv_{name}_{part}" for name in ("macro_f1", "qwk", "ece") for part in ("mean", "low", "high")
)
"""The K-fold figures `evaluate --cv` shows."""
BASELINE_CACHE = "baseline-cache/grader"
"""Under the settings' home: the plain baseline's cached scores, one folder per key."""


def photo_root(data: Path) -> Path:
    """The photo dataset inside `data`: the folder itself, or its `photos/` (a `data synth` DIR)."""
    if not is_photo_dataset(data) and is_photo_dataset(data / "photos"):
        return data / "photos"
    return data


def _photos(root: Path, image_size: int, seed: int) -> PhotoSet:
    """Decode the dataset with a progress bar; unreadable photos are warned about and skipped."""
    photos, problems = load_photoset(
        root, image_size, seed=seed, progress=tracked(f"decoding photos in {root}")
    )
    for problem in problems:
        warn(problem)
    console.print(describe_split(photos.split_info))
    return photos


def _log_evaluation(run: RunContext, predictor: GraderPredictor, test: PhotoSet) -> dict:
    """Evaluate on `test`; the plots and per-item predictions go into the run."""
    metrics, frame, figures = evaluate_grader_model(predictor, test)
    for name, figure in figures.items():
        run.log_figure(figure, name)
    frame.to_csv(run.out / "predictions.csv", index=False)
    run.log_artifact(run.out / "predictions.csv")
    return metrics


def below_baseline(metrics: dict) -> str | None:
    """What to tell the user when the grader scored below the plain baseline on the same test
    split (macro F1 or QWK), else None: on such data the machinery does not pay."""
    lost = [
        f"{key} {metrics[key]:.3f} against {metrics[f'baseline_plain_{key}']:.3f}"
        for key in ("macro_f1", "qwk")
        if metrics.get(key) is not None
        and metrics.get(f"baseline_plain_{key}") is not None
        and metrics[key] < metrics[f"baseline_plain_{key}"]
    ]
    if not lost:
        return None
    return (
        f"the grader scored below the plain baseline on this test split ({'; '.join(lost)}): "
        "on these photos its recipe does not pay; a pretrained backbone (--pretrained-file) "
        "is the documented path for real photos (docs/grader.md)"
    )


def _baseline(
    photos: PhotoSet, root: Path, epochs: int, seed: int, settings: Settings, threads: int = 1
) -> dict[str, float]:
    """The plain baseline's scores on the same split (trained, or read from the home's cache:
    the key holds the data fingerprint, the split's items and the settings). Empty when
    `epochs` is 0."""
    if epochs == 0:
        return {}
    with console.status(f"plain baseline: {epochs} epochs of {BASELINE_ARCH}"):
        metrics, cached = plain_baseline(
            photos,
            epochs=epochs,
            seed=seed,
            cache_dir=settings.home / BASELINE_CACHE,
            fingerprint=photo_dataset_fingerprint(root),
            threads=threads,
        )
    how = "read from the cache" if cached else "trained"
    console.print(
        f"plain baseline ({how}): macro_f1 {metrics['baseline_plain_macro_f1']:.3f}, "
        f"qwk {metrics['baseline_plain_qwk']:.3f}"
    )
    return metrics


def _recipe(artifact: GraderArtifact) -> GraderConfig:
    """The config that trained the model (its metadata block), to train it again.

    Raises:
        DataError: the model carries no usable training config.
    """
    if artifact.meta is None or not artifact.meta.training_config:
        raise DataError([Problem("--cv", "the model carries no training config to retrain")])
    try:
        return GraderConfig.model_validate({**artifact.meta.training_config, "members_from": []})
    except ValidationError as exc:
        raise DataError(problems_of(exc, "--cv: the model's training config")) from exc


def _cross_validate(
    run: RunContext, config: GraderConfig, photos: PhotoSet, k: int
) -> dict[str, float]:
    """K-fold metrics of the model's recipe; the per-fold rows go into the run."""

    def report(fold: int, metrics: dict) -> None:
        console.print(
            f"fold {fold + 1}/{k}: macro_f1 {metrics['macro_f1']:.3f}, qwk {metrics['qwk']:.3f}, "
            f"ece {metrics['ece']:.3f}"
        )

    summary, folds = cross_validate(config, photos, k, on_fold=report)
    folds.to_csv(run.out / "cv_folds.csv", index=False)
    run.log_artifact(run.out / "cv_folds.csv")
    return summary


def _members(config: GraderConfig, settings: Settings) -> tuple[GraderConfig, int]:
    """The config with `members_from` (models:/ URIs, run or model folders) as model folders,
    and how many members are left to train.

    Raises:
        DataError: a source is not a grader model folder.
    """
    sources = [str(settings.resolve_model(m).path) for m in config.members_from]
    config = config.model_copy(update={"members_from": sources})
    try:
        reused = sum(network_count(m) for m in config.members_from)
    except ValueError as exc:
        raise DataError([Problem("--members-from", str(exc))]) from exc
    return config, max(0, config.members - reused)


def train_grader(
    config: GraderConfig,
    data: Path,
    out: Path | None,
    settings: Settings,
    *,
    promote: bool = False,
    register: bool = True,
) -> TrainingRun:
    """Train the condition grader, evaluate it on the test split and register it.

    Args:
        config: The run settings (`training.grader.config.load_config`).
        data: A photo dataset folder, or a `data synth` folder holding one in `photos/`.
        out: The run folder (default: a new `runs/grader-<time>` under the settings' home).
        settings: Where the MLflow store and runs live.
        promote: Also make the new version `@champion`.
        register: Register the model (False: a dry run; the run is still logged).

    The config's preset is resolved against the data first (`training.grader.presets`); the
    choice and the split are logged and saved in the run's and the model's config.json.

    Raises:
        DataError: bad data, or a `members_from` source that is not a fitting grader.
    """
    root = photo_root(data)
    config, preset = resolve_preset(config, photo_facts(root))
    console.print(describe_preset(preset))
    config, to_train = _members(config, settings)
    photos = _photos(root, config.image_size, config.seed)
    choices: dict = {"preset": preset, "split": photos.split_info}
    if config.crossfit_folds:
        to_train = config.crossfit_folds
        pooled = int(photos.items["split"].isin(["train", "val"]).sum())
        console.print(describe_crossfit(config, pooled))
        choices["crossfit"] = {"folds": config.crossfit_folds, "items": pooled}
    run_config = {**config.to_dict(), "data": str(root), **choices}
    run_out = out or default_out("grader", settings)
    with tracked_run("grader", out=run_out, config=run_config, settings=settings) as run:
        with progress_bar("training the grader") as bar:
            task = bar.add_task("training the grader", total=config.epochs * to_train)

            def on_epoch(epoch: int, metrics: dict) -> None:
                run.log_metrics(metrics, step=epoch)
                bar.advance(task)

            result = train_grader_model(
                config, photos, run.out / "model", on_epoch=on_epoch, info={"preset": preset}
            )
        predictor = GraderPredictor.load(result.model_dir)
        review = predictor.artifact.info.get("review", {})
        if not review.get("answers_alone", True):
            warn(review["note"])
        elif "items" in review:
            console.print(
                f"review cut fitted on {review['items']} {review.get('fitted_on', 'val')} "
                f"items: answers {review['val_coverage']:.0%} of them on their own"
            )
        metrics = _log_evaluation(run, predictor, photos.subset("test"))
        metrics["train_seconds"] = result.train_seconds
        metrics.update(
            _baseline(photos, root, config.baseline_epochs, config.seed, settings, config.threads)
        )
        if (lost := below_baseline(metrics)) is not None:
            warn(lost)
        meta = ArtifactMeta.new(
            GRADER,
            git_sha=git_sha(),
            data_fingerprint=photo_dataset_fingerprint(root),
            data_path=str(root),
            training_config=jsonable(config.to_dict()),
            metrics=jsonable(metrics),
        )
        write_meta(result.model_dir, meta)
        run.write_metrics(metrics)
        version = None
        if register:
            version = run.register(result.model_dir, GRADER.registered_name, promote=promote)
    return TrainingRun(GRADER, run.out, result.model_dir, metrics, version, promote, SUMMARY_KEYS)


def train_grader_share(config: GraderConfig, data: Path, settings: Settings) -> None:
    """A `torchrun` rank other than 0: the same preset, members and photos as `train_grader`
    in rank 0, then its share of the training; no run, artifact or output."""
    root = photo_root(data)
    config, _ = resolve_preset(config, photo_facts(root))
    config, _ = _members(config, settings)
    photos, _ = load_photoset(root, config.image_size, seed=config.seed)
    train_share(config, photos)


def evaluate_grader(
    model: str,
    data: Path,
    out: Path | None,
    settings: Settings,
    *,
    baseline_epochs: int = BASELINE_EPOCHS,
    cv: int = 0,
) -> EvaluationRun:
    """Evaluate a grader on the test split of a photo dataset; writes metrics.json and plots.

    Args:
        model: `models:/NAME@ALIAS`, `models:/NAME/VERSION`, or a run or model folder.
        data: A photo dataset folder, or a `data synth` folder holding one in `photos/`.
        out: The run folder (default: a new `runs/grader-eval-<time>` under the settings' home).
        settings: Where the MLflow store and runs live.
        baseline_epochs: Epochs of the plain baseline scored beside it (0 skips it).
        cv: With K >= 2, also train the model's recipe (its training config) on K folds of all
            items and report each metric's mean and 95% interval (`training.grader.crossval`);
            the folds' rows go to `cv_folds.csv`.

    Raises:
        DataError: `cv` out of range, or a model without its training config.
    """
    resolved = settings.resolve_model(model)
    predictor = GraderPredictor.load(resolved.path, version=resolved.version)
    root = photo_root(data)
    art = predictor.artifact
    if cv < 0 or cv == 1:
        raise DataError([Problem("--cv", f"must be 0 (off) or at least 2 folds, got {cv}")])
    recipe = _recipe(art) if cv else None  # before any work: a model without one is refused
    seed = int(art.info.get("seed", 0))
    photos = _photos(root, art.preprocess.image_size, seed)
    test = photos.subset("test")
    config = {
        "data": str(root),
        "model": str(model),
        "model_version": resolved.version,
        "split": photos.split_info,
        "baseline_epochs": baseline_epochs,
        "cv": cv,
    }
    run_out = out or default_out("grader-eval", settings)
    with tracked_run("grader", out=run_out, config=config, settings=settings) as run:
        metrics = _log_evaluation(run, predictor, test)
        metrics.update(_baseline(photos, root, baseline_epochs, seed, settings))
        if (lost := below_baseline(metrics)) is not None:
            warn(lost)
        if recipe is not None:
            metrics.update(_cross_validate(run, recipe, photos, cv))
        run.write_metrics(metrics)
    return EvaluationRun(run.out, root, len(test), metrics)
