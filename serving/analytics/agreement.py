"""Agreement between two graders (or the model and a grader): confusion matrix and kappa.

Cohen's kappa is (p_o - p_e) / (1 - p_e): the observed agreement p_o corrected for the agreement
p_e two raters with the same grade shares would reach by chance. The quadratic weighted kappa
counts a disagreement by the square of the grade distance (A vs C costs four times A vs B). Both
are None when chance agreement is already total (every grade the same on both sides), where
kappa is undefined.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GRADE_LABELS = ("A", "B", "C")


def confusion(
    rows: Sequence[str], columns: Sequence[str], labels: Sequence[str] = GRADE_LABELS
) -> np.ndarray:
    """Counts of (row rater's grade, column rater's grade), labels in order; others ignored."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for a, b in zip(rows, columns, strict=True):
        if a in index and b in index:
            matrix[index[a], index[b]] += 1
    return matrix


def _kappa(matrix: np.ndarray, weights: np.ndarray) -> float | None:
    total = matrix.sum()
    if total == 0:
        return None
    observed = matrix / total
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    chance = float((weights * expected).sum())
    if chance <= 1e-12:
        return None
    return float(1.0 - (weights * observed).sum() / chance)


def cohen_kappa(matrix: np.ndarray) -> float | None:
    """Unweighted Cohen's kappa of a square confusion matrix (None when undefined)."""
    k = matrix.shape[0]
    return _kappa(matrix, 1.0 - np.eye(k))


def quadratic_kappa(matrix: np.ndarray) -> float | None:
    """Quadratic weighted kappa of a square confusion matrix of ordered labels."""
    k = matrix.shape[0]
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    return _kappa(matrix, (i - j) ** 2 / max((k - 1) ** 2, 1))
