"""`regrade retrain grader|pricing`: retrain on what the store learned, compare, maybe promote.

1. The champion (`@champion`) says where its training data is (`artifact.json`); `--base`
   overrides it. The store's exports (outcomes, or graders' decisions with their photos) since
   `--since` are merged in, the kind's newest fixed holdout is taken out and appended as the test
   split (`training.loop.data`), and the merged data's fingerprint is recorded.
2. The kind's own training pipeline trains the challenger on it with the champion's training
   config, and registers it as `@challenger` (not in a dry run).
3. Champion and challenger are scored on the same holdout in this process
   (`training.loop.scoring`, `training.loop.compare`); the promotion rule (`Settings.promotion`,
   `training.loop.promotion`) decides. The comparison goes to `OUT/comparison.json`, a text table,
   MLflow (experiment `regrade-retrain`, with both calibration plots side by side) and the
   challenger's registry tags; with `promote_if_better` a passing challenger becomes `@champion`.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.problems import DataError, Problem
from models.artifact import read_meta
from models.kinds import PRICING, ModelKind
from serving.runtime import open_case_store
from serving.settings import Settings
from training.grader.config import GraderConfig
from training.grader.pipeline import train_grader
from training.loop.compare import Comparison, compare, side_by_side
from training.loop.data import RetrainData, grader_data, pricing_data
from training.loop.holdout import Holdout, latest_holdout
from training.loop.promotion import Decision, decide
from training.loop.scoring import score_grader, score_pricing
from training.pricing.config import PricingTrainConfig
from training.pricing.data import load_run_data
from training.pricing.pipeline import train_pricing
from training.run_results import TrainingRun
from training.tracking import default_out, jsonable, promote, tag_version, tracked_run

COMPARISON = "comparison.json"


@dataclass(frozen=True)
class RetrainResult:
    """What a retrain did.

    Attributes:
        kind: The model kind.
        run_dir: The retrain folder (data/, train/, comparison.json, comparison.txt, plots).
        data: The merged data and its counts.
        training: The training pipeline's result (the challenger).
        comparison: Champion against challenger on the holdout.
        decision: The promotion rule's verdict.
        promoted: Whether the challenger became `@champion`.
        dry_run: Nothing was registered.
        seconds: Wall time of the whole retrain.
    """

    kind: ModelKind
    run_dir: Path
    data: RetrainData
    training: TrainingRun
    comparison: Comparison
    decision: Decision
    promoted: bool
    dry_run: bool
    seconds: float

    def report(self) -> list[str]:
        """The lines a person reads."""
        d = self.data
        version = self.training.version
        name = self.kind.registered_name
        registered = "not registered (dry run)" if self.dry_run else f"{name} version {version}"
        if self.promoted:
            outcome = f"{name} version {version} is now @champion"
        elif self.dry_run:
            outcome = f"would {'promote' if self.decision.promote else 'not promote'} (dry run)"
        else:
            outcome = f"{name} version {version} stays @challenger"
        return [
            f"data: {d.n_base_items} base items + {d.n_store_items} from the store "
            f"({d.n_replaced} replaced), {d.n_held_out} holdout items removed; "
            f"{len(d.train_ids)} train items, {len(d.test_ids)} holdout items "
            f"({self.comparison.holdout['label']}); fingerprint {d.fingerprint[:12]}",
            f"challenger: {registered}, trained in {self.training.run_dir}",
            self.comparison.table(),
            f"decision: {self.decision.reason}",
            f"{outcome}; took {self.seconds:.1f} s; comparison in {self.run_dir / COMPARISON}",
        ]


def _champion(kind: ModelKind, settings: Settings):
    resolved = settings.resolve_model(kind.champion_uri)
    return resolved, read_meta(resolved.path, kind)


def _holdout(kind: ModelKind, settings: Settings) -> Holdout:
    holdout = latest_holdout(settings, kind)
    if holdout is None:
        raise DataError(
            [Problem(f"holdouts/{kind.name}", f"no {kind.name} holdout yet; make one with "
                     f"`regrade holdout create {kind.name} --from DATA`")]
        )  # fmt: skip
    return holdout


def _base(meta, base: Path | None) -> Path:
    if base is not None:
        return base
    if not meta.data_path:
        raise DataError(
            [Problem("--base", "the champion does not say where its data is; give --base")]
        )
    return Path(meta.data_path)


def _log(run, comparison: Comparison, decision: Decision, figures, out: Path) -> dict[str, Any]:
    record = {**comparison.to_dict(), "decision": decision.to_dict()}
    path = out / COMPARISON
    path.write_text(json.dumps(jsonable(record), indent=2) + "\n", encoding="utf-8")
    (out / "comparison.txt").write_text(comparison.table() + "\n" + decision.reason + "\n")
    run.log_artifact(path)
    run.log_artifact(out / "comparison.txt")
    metrics = {f"champion_{k}": v for k, v in comparison.champion.items()}
    metrics |= {f"challenger_{k}": v for k, v in comparison.challenger.items()}
    metrics |= {
        f"diff_{comparison.primary}": comparison.difference,
        f"diff_{comparison.primary}_low": comparison.interval[0],
        f"diff_{comparison.primary}_high": comparison.interval[1],
        "promote": float(decision.promote),
    }
    run.log_metrics(metrics)
    run.log_figure(
        side_by_side(*figures, titles=("champion", "challenger")), "calibration_side_by_side.png"
    )
    return record


def retrain(
    kind: ModelKind,
    settings: Settings,
    *,
    since: dt.datetime | None = None,
    base: Path | None = None,
    out: Path | None = None,
    dry_run: bool = False,
    promote_if_better: bool = False,
) -> RetrainResult:
    """Retrain `kind` from its champion's data plus the store's, compare, decide, maybe promote.

    Args:
        kind: GRADER or PRICING.
        settings: The home (registry, store, holdouts, policy).
        since: Only store records from this time on.
        base: Training data instead of the champion's own.
        out: The retrain folder (default: `runs/retrain-<kind>-<time>`).
        dry_run: Everything but registering (no version, no tags, no promotion).
        promote_if_better: Make the challenger `@champion` when the rule passes.

    Raises:
        DataError: no holdout, no champion data, or data that breaks a contract.
        ModelNotFoundError: no `@champion` to compare with.
    """
    started = time.perf_counter()
    holdout = _holdout(kind, settings)
    champion, meta = _champion(kind, settings)
    run_out = out or default_out(f"retrain-{kind.name}", settings)
    store = open_case_store(settings)
    try:
        if kind is PRICING:
            rows = store.export_outcomes(since=since)
            data = pricing_data(_base(meta, base), rows, holdout, run_out / "data")
        else:
            rows = store.export_grader_decisions(absolute_paths=True, since=since)
            data = grader_data(_base(meta, base), rows, holdout, run_out / "data" / "photos")
    finally:
        store.engine.dispose()

    if kind is PRICING:
        config = PricingTrainConfig.model_validate(meta.training_config)
        trained = train_pricing(
            config, data.path, run_out / "train", settings, register=not dry_run
        )
        loaded = load_run_data(data.path)
        champion_score = score_pricing(champion.path, loaded.frame, loaded.truth)
        challenger_score = score_pricing(trained.model_dir, loaded.frame, loaded.truth)
    else:
        config = GraderConfig.model_validate({**meta.training_config, "members_from": []})
        trained = train_grader(config, data.path, run_out / "train", settings, register=not dry_run)
        champion_score = score_grader(champion.path, holdout.data)
        challenger_score = score_grader(trained.model_dir, holdout.data)

    comparison = compare(
        kind,
        champion_score,
        challenger_score,
        holdout={"label": holdout.label, "sha256": holdout.sha256},
        versions=(champion.version, trained.version),
        rounds=settings.promotion.bootstrap_rounds,
    )
    decision = decide(comparison, settings.promotion)
    config_record = {
        "kind": kind.name,
        "champion_version": champion.version,
        "challenger_version": trained.version,
        "holdout": holdout.label,
        "holdout_sha256": holdout.sha256,
        "since": since.isoformat() if since else None,
        "dry_run": dry_run,
        "promote_if_better": promote_if_better,
        "policy": settings.promotion.model_dump(),
        **data.summary(),
    }
    figures = (champion_score.figure, challenger_score.figure)
    with tracked_run("retrain", out=run_out, config=config_record, settings=settings) as run:
        _log(run, comparison, decision, figures, run_out)
        promoted = False
        if not dry_run and trained.version is not None:
            tag_version(
                kind.registered_name,
                trained.version,
                {
                    "holdout": holdout.label,
                    "data_fingerprint": data.fingerprint,
                    "retrain_run": run.run_id,
                    "promotion_decision": "promote" if decision.promote else "refuse",
                    "promotion_reason": decision.reason,
                },
                settings,
            )
            if promote_if_better and decision.promote:
                promote(kind.registered_name, trained.version, settings)
                promoted = True
        run.log_metrics({"promoted": float(promoted)})
    return RetrainResult(
        kind, run_out, data, trained, comparison, decision, promoted, dry_run,
        time.perf_counter() - started,
    )  # fmt: skip
