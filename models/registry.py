"""The model registry client: a model folder on local disk from a URI.

A URI names a registered model (`models:/name@alias`, `models:/name/3`), a run folder holding
`model/`, or a model folder itself. Registry models are copied into the local model cache once
per version, so a service that has started before keeps working when the tracking store is
unreachable. Callers pass where the registry and the cache are; nothing here reads settings.

Registration records the SHA-256 of the model's `artifact.json` as the version's tag
`DIGEST_TAG` (which in turn holds the digest of every other file, `models.artifact`). The cached
copy's `artifact.json` is checked against it on every resolve (against the digest noted in the
cache's `regrade-source.json` when the registry is unreachable); a mismatch is an
`ArtifactError` naming the file, never a silent reload of a changed model.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models.artifact import META_FILE, SOURCE_FILE, ArtifactError, sha256_file

MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")
DIGEST_TAG = "artifact_sha256"
"""Model version tag: the SHA-256 of the version's artifact.json, set at registration."""
REGISTRY_TIMEOUT_S = "10"
"""How long one registry request may take before the cached copy is used instead."""

log = logging.getLogger(__name__)


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
            version = str(_read_json(pointer).get("version"))
    if version is not None and (root / version).is_dir():
        target = root / version
        _check_digest(target, _source(target).get(DIGEST_TAG))
        return ResolvedModel(target, name, version)
    return None


def _read_json(path: Path) -> dict:
    """A small JSON object the cache wrote; a broken one is an ArtifactError naming it."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc}); delete it to fetch again") from exc
    if not isinstance(value, dict):
        raise ArtifactError(f"{path}: not a JSON object; delete it to fetch again")
    return value


def _source(folder: Path) -> dict:
    """The cache's note on where a copy came from (empty when there is none)."""
    path = folder / SOURCE_FILE
    return _read_json(path) if path.is_file() else {}


def _check_digest(folder: Path, expected: str | None) -> None:
    """Refuse a cached copy whose artifact.json is not the one registered (when one was)."""
    if not expected:
        return
    path = folder / META_FILE
    actual = sha256_file(path) if path.is_file() else "missing"
    if actual != expected:
        raise ArtifactError(
            f"{path}: sha256 {actual[:16]}... does not match {expected[:16]}... recorded in "
            "the registry; the cached model changed after registration (delete the cached "
            "folder to fetch it again)"
        )


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


def _offline(uri: str, tracking_uri: str, cache_dir: Path, exc: Exception) -> ResolvedModel:
    """The cached copy when the registry cannot be asked (checked against the digest noted
    when it was fetched), with a warning; else a `ModelNotFoundError` naming the registry."""
    match = MODEL_URI.match(uri)
    assert match is not None  # checked by the caller
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    cached = _cached(cache_dir, match["name"], match["alias"], match["version"])
    if cached is None:
        raise ModelNotFoundError(
            f"{uri}: registry at {tracking_uri} unreachable and no cached copy in "
            f"{cache_dir} ({reason})"
        ) from exc
    log.warning(
        "%s: the registry at %s is unreachable (%s); using the cached copy, version %s",
        uri, tracking_uri, reason, cached.version,
    )  # fmt: skip
    return cached


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
        return _offline(uri, tracking_uri, cache_dir, exc)
    except Exception as exc:  # connection errors surface as many types
        return _offline(uri, tracking_uri, cache_dir, exc)

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
            note = {"name": name, "version": str(info.version), "source": info.source}
            (Path(local) / SOURCE_FILE).write_text(
                json.dumps({**note, DIGEST_TAG: (info.tags or {}).get(DIGEST_TAG)})
            )
            Path(local).rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _check_digest(target, (info.tags or {}).get(DIGEST_TAG))
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
        ArtifactError: the cached copy's artifact.json is not the one registered.
    """
    text = str(uri)
    if text.startswith("models:/"):
        return _from_registry(text, tracking_uri, Path(cache_dir))
    path = Path(text)
    if (path / "model").is_dir():
        path = path / "model"
    if not path.is_dir():
        raise ModelNotFoundError(f"{text}: no such model folder or run folder")
    meta = _source(path)
    if meta:
        return ResolvedModel(path, meta.get("name"), meta.get("version"))
    return ResolvedModel(path)
