"""What the service loads at start-up: the champion models, the policy, the ledger and the store.

Models come from the settings' URIs (by default the `@champion` aliases in the MLflow
registry); `models.registry.resolve_model_dir` stages them in the local model cache, so a service
that started once starts again when the tracking store is unreachable. A missing champion is a
`StartupError` saying how to make one. The service hands the loaded `Runtime` to its middlewares
and routes (`serving.api.state`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features.provenance import SalesLedger, load_ledger
from models.kinds import GRADER, KINDS
from models.policy import Policy, load_policy
from models.pricing.predictor import PricingPredictor
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


def load_grader(settings: Settings) -> GraderPredictor:
    """The grader predictor the settings name (the champion by default).

    Raises:
        StartupError: no such model.
    """
    # torch loads here, not at import: an API worker that batches never grades in-line.
    from models.grader.predictor import GraderPredictor

    found = resolve("grader", settings)
    name = found.name or GRADER.registered_name
    return GraderPredictor.load(found.path, name=name, version=found.version)


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
    grader = load_grader(settings) if with_grader else None
    return Runtime(
        settings=settings,
        pricing=PricingPredictor.load(models["pricing"].path),
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
    try:
        pricing = PricingPredictor.load(models["pricing"].path)
    except Exception as exc:  # any failure to load keeps the old models
        raise StartupError(f"cannot load pricing model {models['pricing'].path}: {exc}") from exc
    grader = None
    if current.grader is not None:
        from models.grader.predictor import GraderPredictor

        found = models["grader"]
        try:
            grader = GraderPredictor.load(
                found.path, name=found.name or GRADER.registered_name, version=found.version
            )
        except Exception as exc:
            raise StartupError(f"cannot load grader {found.path}: {exc}") from exc
    return replace(current, pricing=pricing, grader=grader, models=models)


def load_grader_at(path: str, name: str, version: str | None) -> GraderPredictor:
    """The grader in a model folder (the batching runner's reload)."""
    from models.grader.predictor import GraderPredictor

    return GraderPredictor.load(Path(path), name=name, version=version)
