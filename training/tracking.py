"""MLflow runs and the model registry: one place that logs, registers and promotes.

Every train and evaluate command runs inside `tracked_run`: the run's config (with the git sha)
goes to `OUT/config.json` and to MLflow params, metrics to `OUT/metrics.json` and MLflow metrics,
plots to PNG artifacts. `RunContext.register` logs a model folder as the run's `model/` artifacts
and creates a registered model version pointing at it, aliased `@challenger` (and `@champion`
with `promote=True`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from filelock import FileLock
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from models.artifact import META_FILE, sha256_file
from models.kinds import CHALLENGER, CHAMPION
from models.registry import DIGEST_TAG
from serving.settings import Settings, load_settings

MODEL_ARTIFACT_PATH = "model"


def git_sha() -> str | None:
    """The commit the code runs from, or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def default_out(kind: str, settings: Settings) -> Path:
    """A fresh run folder under the settings' runs folder: `runs/<kind>-<UTC timestamp>`."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    return settings.runs_dir / f"{kind}-{stamp}"


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:6000]
    return flat


def jsonable(value: Any) -> Any:
    """Metrics or a config as JSON: NaN and infinities become null, numpy scalars plain numbers,
    paths strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def configure_mlflow(settings: Settings):
    """Point MLflow at the settings' store; returns the `mlflow` module.

    The default SQLite store keeps artifacts under `REGRADE_HOME/mlartifacts`.
    """
    settings.ensure_dirs()
    mlflow.set_tracking_uri(settings.resolved_mlflow_uri)
    mlflow.set_registry_uri(settings.resolved_mlflow_uri)
    return mlflow


def _store_lock(settings: Settings):
    """A file lock under home, held around what must not run twice at once on one MLflow store.

    The first use of a fresh SQLite store creates its tables, and two commands started together
    (two members trained side by side, say) would both run MLflow's migrations and one would
    fail; creating the same experiment or registered model twice, or moving one alias from two
    processes, fails likewise.
    """

    return FileLock(settings.home / ".mlflow.lock")


def _experiment_id(mlflow, name: str, settings: Settings) -> str:
    """The id of experiment `name`, created on first use (under the store lock)."""
    with _store_lock(settings):
        found = mlflow.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if settings.mlflow_uri is None:
            location = (settings.artifacts_dir.resolve() / name).as_uri()
        try:
            return mlflow.create_experiment(name, artifact_location=location)
        except MlflowException as exc:  # created by another machine since (an MLflow server)
            if not _already_exists(exc):
                raise
            return mlflow.get_experiment_by_name(name).experiment_id


def _already_exists(exc: MlflowException) -> bool:
    """The error of creating what exists: the file lock guards one machine, not a server's
    other clients, so two trainers on two machines may both try."""
    return exc.error_code == "RESOURCE_ALREADY_EXISTS"


@dataclass
class RunContext:
    """The active run: where its outputs go and how to log to MLflow."""

    run_id: str
    out: Path
    settings: Settings

    def log_metrics(self, metrics: Mapping[str, float | None], step: int | None = None) -> None:
        """Log the finite numbers among `metrics` (None and NaN are skipped)."""

        numbers = {
            k: float(v)
            for k, v in jsonable(dict(metrics)).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        if numbers:
            mlflow.log_metrics(numbers, step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Copy a file or folder into the run's artifacts."""

        path = Path(path)
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=artifact_path)
        else:
            mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_figure(self, figure, name: str) -> Path:
        """Save a matplotlib figure as `OUT/<name>` (PNG) and log it as an artifact."""
        path = self.out / name
        figure.savefig(path, dpi=110, bbox_inches="tight")
        self.log_artifact(path, "plots")
        return path

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        """Write `OUT/metrics.json` (NaN and None as null) and log the numbers."""
        path = self.out / "metrics.json"
        path.write_text(json.dumps(jsonable(dict(metrics)), indent=2, sort_keys=True) + "\n")
        self.log_metrics(metrics)
        self.log_artifact(path)
        return path

    def register(self, model_dir: Path, name: str, *, promote: bool = False) -> str:
        """Log `model_dir` as this run's model and register it as a new version of `name`.

        The version gets alias `@challenger`; with `promote` also `@champion`; its tag
        `artifact_sha256` is the digest of the folder's artifact.json (which holds the digest
        of every other file), checked by the model cache (`models.registry`).

        Returns:
            The new version number, as a string.
        """

        self.log_artifact(Path(model_dir), MODEL_ARTIFACT_PATH)
        client = MlflowClient()
        source = f"{mlflow.get_run(self.run_id).info.artifact_uri}/{MODEL_ARTIFACT_PATH}"
        with _store_lock(self.settings):  # creating the model and moving aliases race otherwise
            try:
                client.get_registered_model(name)
            except MlflowException:
                try:
                    client.create_registered_model(name)
                except MlflowException as exc:
                    if not _already_exists(exc):
                        raise
            tags = {}
            if (Path(model_dir) / META_FILE).is_file():  # what the model cache checks copies by
                tags[DIGEST_TAG] = sha256_file(Path(model_dir) / META_FILE)
            version = client.create_model_version(
                name, source, run_id=self.run_id, tags=tags
            ).version
            client.set_registered_model_alias(name, CHALLENGER, version)
            if promote:
                client.set_registered_model_alias(name, CHAMPION, version)
        mlflow.set_tag("registered_model", f"{name}/{version}")
        return str(version)


@contextmanager
def tracked_run(
    kind: str,
    *,
    out: Path,
    config: Mapping[str, Any],
    settings: Settings | None = None,
) -> Iterator[RunContext]:
    """Run a train or evaluate job as an MLflow run in experiment `regrade-<kind>`.

    Writes `out/config.json` (the config plus git sha) and logs it with the flattened config as
    params. The run ends FAILED if the body raises.
    """
    settings = settings or load_settings()
    mlflow = configure_mlflow(settings)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"kind": kind, "git_sha": git_sha(), **jsonable(dict(config))}
    (out / "config.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    experiment = _experiment_id(mlflow, f"regrade-{kind}", settings)
    with mlflow.start_run(experiment_id=experiment, run_name=out.name) as run:
        mlflow.log_params(_flatten(record))
        mlflow.set_tag("out", str(out.resolve()))
        ctx = RunContext(run_id=run.info.run_id, out=out, settings=settings)
        ctx.log_artifact(out / "config.json")
        yield ctx


def promote(name: str, version: str | None = None, settings: Settings | None = None) -> str:
    """Set `@champion` on `version` of `name` (default: the version holding `@challenger`).

    Raises:
        LookupError: the model, version or challenger does not exist.
    """

    settings = settings or load_settings()
    configure_mlflow(settings)
    client = MlflowClient()
    with _store_lock(settings):  # the challenger read and the champion set, as one step
        try:
            if version is None:
                version = client.get_model_version_by_alias(name, CHALLENGER).version
            else:
                client.get_model_version(name, str(version))
        except MlflowException as exc:
            what = f"version {version}" if version else f"@{CHALLENGER}"
            raise LookupError(f"model {name!r} has no {what} in the registry") from exc
        client.set_registered_model_alias(name, CHAMPION, str(version))
    return str(version)


def tag_version(
    name: str, version: str, tags: Mapping[str, Any], settings: Settings | None = None
) -> None:
    """Set tags on a registered model version (values as text, cut to MLflow's 5000 chars)."""
    settings = settings or load_settings()
    configure_mlflow(settings)
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value)[:5000])


def version_tags(name: str, version: str, settings: Settings | None = None) -> dict[str, str]:
    """The tags of a registered model version."""
    settings = settings or load_settings()
    configure_mlflow(settings)
    return dict(MlflowClient().get_model_version(name, str(version)).tags)


def alias_version(name: str, alias: str, settings: Settings | None = None) -> str | None:
    """The version holding `alias` on `name`, or None when there is none."""
    settings = settings or load_settings()
    configure_mlflow(settings)
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None
