"""What the service loads at start-up: the champion models, the policy, the ledger and the store.

Models come from the settings' URIs (by default the `@champion` aliases in the MLflow
registry); `models.registry.resolve_model_dir` stages them in the local model cache, so a service
that started once starts again when the tracking store is unreachable. A missing champion is a
`StartupError` saying how to make one. Every model is verified against the digests recorded
when it was saved (`models.artifact.verify_files`) and run once on a fixed probe input
(`models.probe`) as it loads; a model that fails either is a `StartupError` of one line naming
its folder or file. The service hands the loaded `Runtime` to its middlewares and routes
(`serving.api.state`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

from features.provenance import SalesLedger, load_ledger
from models.artifact import META_FILE, ArtifactError, read_meta, verify_files
from models.kinds import GRADER, KINDS
from models.policy import Policy, load_policy
from models.pricing.predictor import PricingPredictor
from models.probe import probe_grader, probe_pricing
from models.registry import ModelNotFoundError, ResolvedModel
from serving.settings import Settings
from serving.store.writes import Store, open_store

if TYPE_CHECKING:
    from models.grader.predictor import GraderPredictor

HOW_TO_FIX = {
    kind: f"train and register one (`regrade train {kind} ...`), then `regrade promote {kind}`"
    for kind in KINDS
}


class StartupError(RuntimeError):
    """The service cannot start: a model, the policy or the ledger is missing or bad."""


@dataclass
class Runtime:
    """Everything a request needs, loaded once per worker.

    Attributes:
        settings: The settings in force.
        pricing: The pricing model.
        policy: The guardrail policy.
        ledger: The sales ledger (empty when none is configured: no sale can be verified).
        store: Cases, reviews, decisions and outcomes.
        models: "grader" and "pricing" -> the resolved models (name, version, folder).
        grader: The grader, when this worker grades in-line (batching off or in-process).
    """

    settings: Settings
    pricing: PricingPredictor
    policy: Policy
    ledger: SalesLedger
    store: Store
    models: dict[str, ResolvedModel]
    grader: GraderPredictor | None = None

    def versions(self) -> dict[str, dict[str, str | None]]:
        """Model name and version per role, as reported in every answer and in /readyz."""
        return {k: {"name": m.name, "version": m.version} for k, m in self.models.items()}


def resolve(role: str, settings: Settings) -> ResolvedModel:
    """The local folder of the grader or pricing model the settings name.

    Raises:
        StartupError: no such model (e.g. no `@champion` yet), saying how to make one.
    """
    uri = settings.grader_model if role == "grader" else settings.pricing_model
    try:
        return settings.resolve_model(uri)
    except ModelNotFoundError as exc:
        raise StartupError(
            f"cannot start: no {role} model at {uri} ({exc}); {HOW_TO_FIX[role]}"
        ) from exc
    except ArtifactError as exc:  # the cached copy is not the registered one
        raise StartupError(f"cannot start: {role} model: {exc}") from exc


def _refused(role: str, path: Path, exc: Exception) -> StartupError:
    """One line naming the model's folder (or the file at fault) and why it cannot be used."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    where = "" if str(path) in reason else f"{path}: "
    return StartupError(f"cannot load the {role} model: {where}{reason}")


def grader_input_size(grader_dir: Path | str) -> int:
    """The input side of the grader in `grader_dir`, read from its config (no network loaded).

    Raises:
        models.artifact.ArtifactError: the folder is not a grader artifact.
    """
    from models.grader.artifact import input_size  # torch: only a worker that resizes loads it

    return input_size(grader_dir)


def resize_for_grader(image: Image.Image, size: int) -> np.ndarray:
    """A photo's pixels (height x width x 3, uint8) resized to the grader's input side `size`
    exactly as the grader resizes them, so its own resize then leaves them as they are."""
    from models.grader.preprocess import to_uint8

    return np.ascontiguousarray(to_uint8(image, size).permute(1, 2, 0))


def load_grader_at(
    path: Path | str,
    name: str,
    version: str | None,
    *,
    engine: str = "onnxruntime",
    threads: int | None = None,
) -> GraderPredictor:
    """The grader in a model folder, verified and probed (`engine`, `threads`: see
    `GraderPredictor`).

    Raises:
        StartupError: a file does not match its digest, the folder cannot be loaded, or the
            grader fails the probe; one line naming the folder or file.
    """
    # torch loads here, not at import: an API worker that batches never grades in-line.
    from models.grader.predictor import GraderPredictor

    try:
        grader = GraderPredictor.load(
            Path(path), name=name, version=version, engine=engine, threads=threads
        )
        probe_grader(grader, path)
    except Exception as exc:  # any failure to load or run: this model cannot serve
        raise _refused("grader", Path(path), exc) from exc
    return grader


def load_pricing_at(path: Path | str) -> PricingPredictor:
    """The pricing model in a model folder, verified and probed.

    Raises:
        StartupError: as `load_grader_at`.
    """
    try:
        pricing = PricingPredictor.load(Path(path))
        probe_pricing(pricing, path)
    except Exception as exc:
        raise _refused("pricing", Path(path), exc) from exc
    return pricing


def load_grader(settings: Settings, threads: int | None = None) -> GraderPredictor:
    """The grader predictor the settings name (the champion by default), verified and probed
    (`threads` per call: see `GraderPredictor`).

    Raises:
        StartupError: no such model, or it cannot be loaded or fails the probe.
    """
    found = resolve("grader", settings)
    name = found.name or GRADER.registered_name
    return load_grader_at(found.path, name, found.version, threads=threads)


def call_threads(settings: Settings) -> int:
    """The threads of each call of the API worker's grader: torch's threads shared among the
    `grade_calls` calls it runs at once (one each on a machine's cores, by default)."""
    import torch

    return max(1, torch.get_num_threads() // settings.grade_calls)


def check_models(settings: Settings) -> dict[str, ResolvedModel]:
    """Resolve, verify, load and probe both models once (`regrade serve`'s pre-flight).

    Raises:
        StartupError: one line naming the model, folder or file that cannot serve.
    """
    found = {role: resolve(role, settings) for role in ("grader", "pricing")}
    for role, model in found.items():  # the digests first: no torch needed to refuse a file
        try:
            if (model.path / META_FILE).is_file():
                verify_files(model.path, read_meta(model.path, KINDS[role]))
        except ArtifactError as exc:
            raise _refused(role, model.path, exc) from exc
    load_pricing_at(found["pricing"].path)
    grader = found["grader"]
    # The eager engine: the same weights and outputs without the ONNX export the workers do.
    name = grader.name or GRADER.registered_name
    load_grader_at(grader.path, name, grader.version, engine="torch")
    return found


def _ledger(settings: Settings) -> SalesLedger:
    if settings.ledger is None:
        return SalesLedger(pd.DataFrame({"order_id": [], "serial_number": []}), source="no ledger")
    try:
        return load_ledger(settings.ledger)
    except Exception as exc:  # DataError, OSError: either way the service cannot check provenance
        raise StartupError(f"cannot start: sales ledger {settings.ledger}: {exc}") from exc


def open_case_store(settings: Settings) -> Store:
    """The case store of the settings' database and photo folder (folders made, schema migrated)."""
    settings.ensure_dirs()
    return open_store(settings.resolved_database_url, settings.photos_dir)


def load_runtime(settings: Settings, *, with_grader: bool) -> Runtime:
    """Load the models, policy, ledger and store.

    Args:
        settings: The settings in force.
        with_grader: Load the grader into this worker too (batching off, or in-process tests).

    Raises:
        StartupError: with what is missing and how to fix it.
    """
    models = {"grader": resolve("grader", settings), "pricing": resolve("pricing", settings)}
    try:
        policy = load_policy(settings.policy) if settings.policy else Policy()
    except Exception as exc:
        raise StartupError(f"cannot start: policy {settings.policy}: {exc}") from exc
    grader = load_grader(settings, call_threads(settings)) if with_grader else None
    return Runtime(
        settings=settings,
        pricing=load_pricing_at(models["pricing"].path),
        policy=policy,
        ledger=_ledger(settings),
        store=open_case_store(settings),
        models=models,
        grader=grader,
    )


def loaded_from(runtime: Runtime) -> dict[str, tuple[str, str | None]]:
    """The folder and version of each model a runtime loaded (what a reload compares)."""
    return {role: (str(m.path), m.version) for role, m in runtime.models.items()}


def champions_moved(runtime: Runtime) -> bool:
    """Whether the models the settings name (the `@champion`s) are no longer those loaded.

    Raises:
        StartupError: a model cannot be found.
    """
    now = {role: resolve(role, runtime.settings) for role in runtime.models}
    return {r: (str(m.path), m.version) for r, m in now.items()} != loaded_from(runtime)


def reload_runtime(current: Runtime) -> Runtime:
    """A runtime with the models the settings name now, sharing `current`'s policy, ledger and
    store; `current` is left untouched (requests holding it finish on it).

    Raises:
        StartupError: a model cannot be found or loaded; the message says which and why.
    """
    settings = current.settings
    models = {"grader": resolve("grader", settings), "pricing": resolve("pricing", settings)}
    pricing = load_pricing_at(models["pricing"].path)  # any failure keeps the old models
    grader = None
    if current.grader is not None:
        found = models["grader"]
        name = found.name or GRADER.registered_name
        grader = load_grader_at(found.path, name, found.version, threads=call_threads(settings))
    return replace(current, pricing=pricing, grader=grader, models=models)
