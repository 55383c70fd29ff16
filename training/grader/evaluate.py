"""Grader evaluation on held-out items: the SPEC metric keys, per-item predictions, plots.

Metrics come from the same `GraderPredictor` serving uses, loaded from the saved artifact.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, roc_auc_score, roc_curve

from models.grader.calibration import expected_calibration_error, proportion_interval
from models.grader.predictor import GraderPredictor
from training.grader.data import PhotoSet
from training.grader.plots import confusion_figure, reliability_figure

FPR_POINT = 0.02
"""False-positive rate at which `counterfeit_recall_at_fpr02` is read off the ROC curve."""


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr: float = FPR_POINT) -> float | None:
    """Best recall with a false-positive rate at most `fpr` on these items."""
    if len(np.unique(labels)) < 2:
        return None
    fprs, tprs, _ = roc_curve(labels, scores)
    return float(tprs[fprs <= fpr + 1e-12].max())


def predict_photoset(predictor: GraderPredictor, data: PhotoSet) -> tuple[pd.DataFrame, float]:
    """Per-item predictions and throughput (photos per second, decoding excluded)."""
    started = time.perf_counter()
    results = predictor.predict_tensors(data.images, data.item_index, data.brands)
    seconds = time.perf_counter() - started
    frame = data.items[["item_id", "grade", "target", "counterfeit", "brand"]].copy()
    frame["pred"] = [r.grade for r in results]
    frame["pred_index"] = [predictor.labels.index(r.grade) for r in results]
    frame["confidence"] = [r.confidence for r in results]
    frame["needs_review"] = [r.needs_review for r in results]
    frame["prediction_set"] = ["".join(r.prediction_set) for r in results]
    frame["severity"] = [r.severity for r in results]
    for label in predictor.labels:
        frame[f"p_{label}"] = [r.probabilities[label] for r in results]
    frame["counterfeit_score"] = [r.counterfeit.score for r in results]
    frame["counterfeit_flagged"] = [r.counterfeit.flagged for r in results]
    frame["oneclass_score"] = [r.counterfeit.oneclass_score for r in results]
    return frame, len(data.images) / max(seconds, 1e-9)


def grader_metrics(frame: pd.DataFrame, images_per_s: float) -> dict[str, float | None]:
    """The SPEC grader metric keys (plus a few diagnostics) from `predict_photoset` output.

    `auto_accuracy_low` and `auto_accuracy_high` are its two-sided 95% Clopper-Pearson interval
    (None, like `auto_accuracy`, when no item was answered without review).
    """
    y, pred = frame["target"].to_numpy(), frame["pred_index"].to_numpy()
    correct = y == pred
    auto = ~frame["needs_review"].to_numpy()
    labelled = frame["counterfeit"].notna().to_numpy()
    fake = frame["counterfeit"].to_numpy()[labelled].astype(int)
    score = frame["counterfeit_score"].to_numpy()[labelled]
    oneclass = frame["oneclass_score"].to_numpy()
    authentic = frame["counterfeit"].fillna(0).to_numpy() == 0
    flagged = frame["counterfeit_flagged"].to_numpy()
    set_hit = [g in s for g, s in zip(frame["grade"], frame["prediction_set"], strict=True)]
    low, high = (
        proportion_interval(int(correct[auto].sum()), int(auto.sum()))
        if auto.any()
        else (None, None)
    )
    return {
        "n_test": len(frame),
        "accuracy": float(correct.mean()),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=[0, 1, 2], zero_division=0)),
        "qwk": float(cohen_kappa_score(y, pred, weights="quadratic", labels=[0, 1, 2])),
        "ece": expected_calibration_error(frame["confidence"].to_numpy(), correct),
        "auto_coverage": float(auto.mean()),
        "auto_accuracy": float(correct[auto].mean()) if auto.any() else None,
        "auto_accuracy_low": low,
        "auto_accuracy_high": high,
        "counterfeit_auroc": _auroc(fake, score),
        "counterfeit_recall_at_fpr02": recall_at_fpr(fake, score),
        "counterfeit_oneclass_auroc": _auroc(fake, oneclass[labelled]),
        "counterfeit_flag_fpr": float(flagged[authentic].mean()) if authentic.any() else None,
        "counterfeit_flag_recall": float(flagged[labelled][fake == 1].mean())
        if (fake == 1).any()
        else None,
        "defect_oneclass_auroc": _auroc((y[authentic] > 0).astype(int), oneclass[authentic]),
        "prediction_set_coverage": float(np.mean(set_hit)),
        "prediction_set_size": float(frame["prediction_set"].str.len().mean()),
        "images_per_s": float(images_per_s),
    }


def evaluate_grader_model(
    predictor: GraderPredictor, data: PhotoSet
) -> tuple[dict[str, float | None], pd.DataFrame, dict[str, Figure]]:
    """Metrics, per-item predictions and figures (confusion matrix, reliability diagram)."""
    frame, images_per_s = predict_photoset(predictor, data)
    metrics = grader_metrics(frame, images_per_s)
    matrix = confusion_matrix(frame["target"], frame["pred_index"], labels=[0, 1, 2])
    correct = (frame["target"] == frame["pred_index"]).to_numpy()
    figures = {
        "confusion_matrix.png": confusion_figure(matrix, predictor.labels, "test items"),
        "reliability_diagram.png": reliability_figure(
            frame["confidence"].to_numpy(), correct, metrics["ece"]
        ),
    }
    return metrics, frame, figures
