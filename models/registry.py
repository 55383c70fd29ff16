"""The model registry client: a model folder on local disk from a URI.

A URI names a registered model (`models:/name@alias`, `models:/name/3`), a run folder holding
`model/`, or a model folder itself. Registry models are copied into the local model cache once
per version, so a service that has started before keeps working when the tracking store is
unreachable. Callers pass where the registry and the cache are; nothing here reads settings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")
SOURCE_FILE = "regrade-source.json"
REGISTRY_TIMEOUT_S = "10"
"""How long one registry request may take before the cached copy is used instead."""


class ModelNotFoundError(LookupError):
    """No model at the given URI (no such folder, registered model, version or alias)."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model folder on local disk and, for registry models, its name and version."""

    path: Path
    name: str | None = None
    version: str | None = None


def _cached(cache_dir: Path, name: str, alias: str | None, version: str | None):
    """The newest cached copy matching the request, for when the registry is unreachable."""
    root = cache_dir / name
    if alias is not None:
        pointer = root / f"@{alias}.json"
        if pointer.is_file():
            version = json.loads(pointer.read_text())["version"]
    if version is not None and (root / version).is_dir():
        return ResolvedModel(root / version, name, version)
    return None


@contextmanager
def _fail_fast() -> Iterator[None]:
    """MLflow retries an unreachable server for minutes by default; ask once, briefly, quietly."""
    wanted = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": REGISTRY_TIMEOUT_S,
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update({k: v for k, v in wanted.items() if saved[k] is None})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


def _from_registry(uri: str, tracking_uri: str, cache_dir: Path) -> ResolvedModel:
    match = MODEL_URI.match(uri)
    if match is None:
        raise ModelNotFoundError(f"{uri!r}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    name, alias, version = match["name"], match["alias"], match["version"]
    # mlflow is imported here, not at the top: `regrade --help` must stay fast.
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri, tracking_uri)
        with _fail_fast():
            info = (
                client.get_model_version_by_alias(name, alias)
                if alias
                else client.get_model_version(name, version)
            )
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise ModelNotFoundError(f"{uri}: not in the registry ({exc.message})") from exc
        cached = _cached(cache_dir, name, alias, version)
        if cached is None:
            raise ModelNotFoundError(f"{uri}: registry unreachable and no cached copy") from exc
        return cached
    except Exception as exc:  # connection errors surface as many types
        cached = _cached(cache_dir, name, alias, version)
        if cached is None:
            raise ModelNotFoundError(f"{uri}: registry unreachable and no cached copy") from exc
        return cached

    root = cache_dir / name
    target = root / str(info.version)
    if not target.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{info.version}-"))
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=info.source,
                dst_path=str(staging),
                tracking_uri=tracking_uri,
            )
            (Path(local) / SOURCE_FILE).write_text(
                json.dumps({"name": name, "version": str(info.version), "source": info.source})
            )
            Path(local).rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if alias:
        (root / f"@{alias}.json").write_text(json.dumps({"version": str(info.version)}))
    return ResolvedModel(target, name, str(info.version))


def resolve_model_dir(uri: str | Path, *, tracking_uri: str, cache_dir: Path) -> ResolvedModel:
    """A local folder holding the model named by `uri`.

    Args:
        uri: `models:/NAME@ALIAS`, `models:/NAME/VERSION`, a run folder holding `model/`, or a
            model folder.
        tracking_uri: The MLflow tracking (and registry) URI.
        cache_dir: The local model cache (`<cache_dir>/<name>/<version>/`).

    Raises:
        ModelNotFoundError: with the URI and what is missing.
    """
    text = str(uri)
    if text.startswith("models:/"):
        return _from_registry(text, tracking_uri, Path(cache_dir))
    path = Path(text)
    if (path / "model").is_dir():
        path = path / "model"
    if not path.is_dir():
        raise ModelNotFoundError(f"{text}: no such model folder or run folder")
    source = path / SOURCE_FILE
    if source.is_file():
        meta = json.loads(source.read_text())
        return ResolvedModel(path, meta.get("name"), meta.get("version"))
    return ResolvedModel(path)
