"""Calibrate trained grader networks into a complete artifact, on held-out items: the val split
(`calibrate`), or out-of-fold scores of train+val when cross-fitting (`assemble` with the scores
of `training.grader.crossfit`).

The networks' severity scores are turned into calibrated grade probabilities (with the review
threshold for the target accuracy, recorded with what it answers on val in `info.review`), the
one-class reference banks are fitted on authentic training photos, and both counterfeit
thresholds are set for the target false-positive rate on authentic validation items.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.grader.artifact import CounterfeitConfig, GraderArtifact
from models.grader.calibration import Calibration, fit_calibration
from models.grader.counterfeit import ReferenceBank, fit_threshold
from models.grader.heads import GraderEnsemble, GraderNet
from models.grader.predictor import GraderPredictor
from models.grader.preprocess import PreprocessConfig
from training.grader.config import GraderConfig
from training.grader.data import PhotoSet


def scorer_of(net: GraderNet | GraderEnsemble, prep: PreprocessConfig, tta: str) -> GraderPredictor:
    """A predictor used only for its raw photo outputs (`photo_outputs` reads the network,
    preprocessing and test-time views, nothing that calibration is about to fit)."""
    uncalibrated = GraderArtifact(
        backbone="",
        preprocess=prep,
        calibration=None,  # type: ignore[arg-type]  # never read by photo_outputs
        counterfeit=None,  # type: ignore[arg-type]
        net=net,
        references=ReferenceBank({}),
        tta=tta,
    )
    return GraderPredictor(uncalibrated)


def reference_bank(scorer: GraderPredictor, train: PhotoSet, config: GraderConfig) -> ReferenceBank:
    """One-class banks from authentic training photos of the reference grades."""
    items = train.items
    authentic = items["counterfeit"].fillna(0).to_numpy() == 0
    graded = items["grade"].isin(config.reference_grades).to_numpy()
    chosen = np.nonzero(authentic & graded)[0]
    if len(chosen) == 0:
        chosen = np.arange(len(items))
    refs = train.take(chosen)
    patches = scorer.photo_outputs(refs.images)["patches"]
    brands = [refs.brands[i] for i in refs.item_index]
    return ReferenceBank.fit(patches, brands, size=config.reference_bank_size, seed=config.seed)


def item_scores(
    scorer: GraderPredictor, references: ReferenceBank, data: PhotoSet
) -> dict[str, np.ndarray]:
    """Item-level severity, supervised counterfeit logit and one-class score."""
    outputs = scorer.photo_outputs(data.images)
    brands = [data.brands[i] for i in data.item_index]
    oneclass = references.score(outputs["patches"], brands)
    result = {}
    for key, values in (
        ("score", outputs["score"]),
        ("logit", outputs["counterfeit"]),
        ("oneclass", oneclass),
    ):
        pooled = np.full(len(data), -np.inf)
        np.maximum.at(pooled, data.item_index, values)
        result[key] = pooled
    return result


def calibrate(
    net: GraderNet | GraderEnsemble,
    prep: PreprocessConfig,
    config: GraderConfig,
    train: PhotoSet,
    val: PhotoSet,
    *,
    info: dict[str, Any],
) -> GraderArtifact:
    """The complete artifact of trained networks: references, calibration, thresholds.

    Args:
        net: The trained network or ensemble.
        prep: The preprocessing it was trained with.
        config: The run settings (targets, reference grades and bank size, test-time views).
        train: Training items (the reference banks' photos).
        val: Validation items (calibration and thresholds).
        info: Training details kept in the artifact (seeds, item counts).

    Returns:
        The artifact, with the validation accuracy and item count as its `metrics`.
    """
    scorer = scorer_of(net, prep, config.tta)
    references = reference_bank(scorer, train, config)
    scores = item_scores(scorer, references, val)
    supervised = train.has_counterfeit_labels and config.counterfeit_weight > 0
    return assemble(net, prep, config, references, scores, val.items, supervised, info=info)


def assemble(
    net: GraderNet | GraderEnsemble,
    prep: PreprocessConfig,
    config: GraderConfig,
    references: ReferenceBank,
    scores: dict[str, np.ndarray],
    items: pd.DataFrame,
    supervised: bool,
    *,
    info: dict[str, Any],
    fitted_on: str = "val",
) -> GraderArtifact:
    """The artifact from held-out item scores: calibration, review cut and thresholds fitted on
    them (`calibrate` passes the val split's; cross-fitting, the out-of-fold scores).

    Args:
        net: The trained network or ensemble.
        prep: The preprocessing it was trained with.
        config: The run settings.
        references: The one-class reference banks the `oneclass` scores were measured against.
        scores: Per held-out item (`[N]` each): `score` (severity on `net`'s scale, whose
            trained cut points are `net.thresholds()`), `logit` (supervised counterfeit) and
            `oneclass`.
        items: The held-out items (`target`, `counterfeit`), aligned with `scores`.
        supervised: Whether the flag threshold is set on the supervised head.
        info: Training details kept in the artifact.
        fitted_on: Which items these are, for `info.review`.
    """
    target = items["target"].to_numpy()
    thresholds = net.thresholds().detach().double().numpy()
    calibration = fit_calibration(
        scores["score"],
        target,
        thresholds,
        target_accuracy=config.target_accuracy,
        review_level=config.review_level,
        decision=config.decision,
    )
    authentic = items["counterfeit"].fillna(0).to_numpy() == 0
    sup = 1.0 / (1.0 + np.exp(-scores["logit"]))
    counterfeit = CounterfeitConfig(
        kind="supervised" if supervised else "oneclass",
        threshold=fit_threshold(
            (sup if supervised else scores["oneclass"])[authentic], config.target_fpr
        ),
        target_fpr=config.target_fpr,
        oneclass_threshold=fit_threshold(scores["oneclass"][authentic], config.target_fpr),
    )
    accuracy = float((calibration.grade_index(scores["score"]) == target).mean())
    review = {**review_record(calibration, scores["score"], target), "fitted_on": fitted_on}
    return GraderArtifact(
        backbone=config.backbone,
        preprocess=prep,
        calibration=calibration,
        counterfeit=counterfeit,
        net=net,
        references=references,
        tta=config.tta,
        metrics={"val_accuracy": accuracy, "val_items": float(len(items))},
        info={**info, "review": review},
    )


def review_record(calibration: Calibration, score: np.ndarray, target: np.ndarray) -> dict:
    """How the review cut was chosen and what it answers on val (saved as `info.review`)."""
    probs = calibration.probs(score)
    pred = calibration.grade_index(score)
    confidence = probs[np.arange(len(pred)), pred]
    answered = confidence >= calibration.review_confidence
    rule = "clopper-pearson" if calibration.review_level > 0 else "point estimate"
    record = {
        "rule": rule,
        "level": calibration.review_level,
        "target_accuracy": calibration.target_accuracy,
        "answers_alone": calibration.answers_alone,
        "items": len(target),
        "decision": "median" if calibration.decision_cuts is None else "shares",
        "val_coverage": float(answered.mean()) if len(answered) else 0.0,
        "val_answered_accuracy": float((pred == target)[answered].mean())
        if answered.any()
        else None,
    }
    if not calibration.answers_alone:
        record["note"] = (
            f"no confidence cut keeps accuracy {calibration.target_accuracy} on the "
            f"{len(target)} held-out items ({rule}): every item goes to review"
        )
    return record
