"""Grader plots: confusion matrix and reliability diagram (matplotlib figures, no pyplot state)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from models.grader.calibration import reliability_table


def confusion_figure(matrix: np.ndarray, labels: tuple[str, ...], title: str) -> Figure:
    """A labelled confusion matrix (rows true, columns predicted)."""
    fig = Figure(figsize=(3.6, 3.2))
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        colour = "white" if value > matrix.max() / 2 else "black"
        ax.text(j, i, str(int(value)), ha="center", va="center", color=colour)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted grade")
    ax.set_ylabel("true grade")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def reliability_figure(confidence: np.ndarray, correct: np.ndarray, ece: float) -> Figure:
    """Accuracy against confidence per bin, with the diagonal and bin counts."""
    rows = reliability_table(confidence, correct)
    fig = Figure(figsize=(3.6, 3.2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1)
    if rows:
        conf, acc, count = map(np.asarray, zip(*rows, strict=True))
        ax.scatter(conf, acc, s=12 + 60 * count / count.max(), zorder=3)
        ax.plot(conf, acc, linewidth=1)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {ece:.3f})")
    fig.tight_layout()
    return fig
