"""Calibration fitted on held-out items: cumulative-link recalibration, review threshold, ECE.

`fit_calibration` refits the temperature (and the two ordinal thresholds: a 3-parameter
"temperature scaling or better") on the validation items' scores by maximum likelihood. Then a
selective threshold on confidence is chosen so that validation items answered without review
keep the target accuracy (by a Clopper-Pearson upper bound on their error, or a point
estimate), and a split-conformal quantile gives prediction sets with `1 - alpha` coverage.

The grade is decided by cut points on the score: the calibrated distribution's median class
(`decision="median"`), or cut points at the held-out items' grade shares (`"shares"`), so a weak
score still calls each grade about as often as it occurs instead of calling most doubtful items
the commonest grade. Either way the decision is monotone in the score and its confidence is
the calibrated probability of the grade decided.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.stats import beta

from models.grader.heads import class_probs

ECE_BINS = 15
NO_ANSWERS = 1.0 + 1e-9
"""The review cut when no cut keeps the promise: above every confidence, so all go to review."""


@dataclass(frozen=True)
class Calibration:
    """Fitted calibration state, stored in the model artifact.

    Attributes:
        temperature: Divides `score - threshold` before the sigmoid.
        thresholds: Ordered cut points on the severity score (best grade first).
        review_confidence: Items whose top probability is below this go to review.
        conformal_qhat: A class is in the prediction set when `1 - p >= ...` is within qhat.
        target_accuracy: Accuracy wanted on items answered without review.
        review_level: Confidence of the bound the review cut was chosen with (0: a point
            estimate; see `selective_threshold`).
        decision_cuts: Cut points of the grade decision when they are not `thresholds` (the
            `shares` decision); None: the median class.
    """

    temperature: float
    thresholds: tuple[float, ...]
    review_confidence: float
    conformal_qhat: float
    target_accuracy: float
    review_level: float = 0.0
    decision_cuts: tuple[float, ...] | None = None

    @property
    def answers_alone(self) -> bool:
        """False when no review cut kept the promise: every item goes to review."""
        return self.review_confidence <= 1.0

    def probs(self, score: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities `[N, K]` for severity scores `[N]`."""
        t = torch.as_tensor(np.asarray(score, dtype=np.float64))
        th = torch.tensor(self.thresholds, dtype=torch.float64)
        return class_probs(t, th, self.temperature).numpy()

    def grade_index(self, score: np.ndarray) -> np.ndarray:
        """The decided grade (0 = best), monotone in the score: the number of decision cut
        points below it (`decision_cuts`, else the median class's `thresholds`)."""
        score = np.asarray(score, dtype=np.float64)
        cuts = self.thresholds if self.decision_cuts is None else self.decision_cuts
        return (score[:, None] > np.asarray(cuts)[None, :]).sum(axis=1)

    def prediction_sets(self, probs: np.ndarray) -> list[list[int]]:
        """Split-conformal sets: every class with `1 - p <= qhat`, never empty."""
        sets = []
        for row in probs:
            members = [k for k, p in enumerate(row) if 1.0 - p <= self.conformal_qhat]
            sets.append(members or [int(np.argmax(row))])
        return sets

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """Rebuild from `to_dict` output."""
        cuts = data.get("decision_cuts")
        return cls(
            **{
                **data,
                "thresholds": tuple(data["thresholds"]),
                "decision_cuts": None if cuts is None else tuple(cuts),
            }
        )


def _fit_cumulative(score: np.ndarray, target: np.ndarray, thresholds: np.ndarray):
    """Maximum-likelihood temperature and thresholds, starting from the trained ones."""
    s = torch.as_tensor(score, dtype=torch.float64)
    y = torch.as_tensor(np.array(target, dtype=np.int64))

    def unpack(theta):
        t = torch.as_tensor(theta, dtype=torch.float64)
        temp = torch.exp(t[0])
        cuts = torch.cat([t[1:2], t[1:2] + torch.cumsum(torch.exp(t[2:]), 0)])
        return temp, cuts

    def loss(theta):
        t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        temp, cuts = unpack(t)
        # a weak prior keeps the fit sane when validation has few items of a grade
        value = -torch.log(class_probs(s, cuts, temp).gather(1, y[:, None])).mean()
        value = value + 1e-3 * t[0] ** 2
        value.backward()
        return value.item(), t.grad.numpy().copy()

    start = np.concatenate([[0.0], thresholds[:1], np.log(np.maximum(np.diff(thresholds), 1e-3))])
    result = minimize(loss, start, jac=True, method="L-BFGS-B")
    temp, cuts = unpack(result.x)
    return float(temp), tuple(float(c) for c in cuts)


def error_upper_bound(errors: np.ndarray, n: np.ndarray, level: float) -> np.ndarray:
    """One-sided Clopper-Pearson upper confidence bound, at `level`, on an error rate seen as
    `errors` in `n` trials (1 where every trial erred or there were none)."""
    errors = np.asarray(errors, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    inside = (errors < n) & (n > 0)
    bound = np.ones(np.broadcast(errors, n).shape)
    bound[inside] = beta.ppf(level, errors[inside] + 1, n[inside] - errors[inside])
    return bound


def proportion_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Two-sided Clopper-Pearson (exact) interval of a proportion seen as `successes` in `n`."""
    if n <= 0:
        raise ValueError("an interval needs at least one trial")
    tail = (1.0 - level) / 2
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1 - tail, successes + 1, n - successes))
    return low, high


def selective_threshold(
    confidence: np.ndarray, correct: np.ndarray, target: float, level: float = 0.0
) -> float:
    """Lowest confidence cut whose answered items (confidence >= cut) keep the target accuracy.

    With `level` 0 the answered calibration items' accuracy must reach `target` (a point
    estimate). With `level` > 0 the one-sided Clopper-Pearson upper bound at `level` on their
    error must be at most `1 - target`: a finite-sample guarantee for each cut, so a few dozen
    items can support only a few confident answers, or none. Items are answered from the most
    confident down; tied confidences are answered together. Nothing qualifying gives a cut
    above 1 (every item goes to review).
    """
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order].astype(float)
    if level <= 0:
        running = np.cumsum(ok) / np.arange(1, len(ok) + 1)
        good = np.nonzero(running >= target)[0]
    else:
        ends = np.nonzero(np.r_[conf[:-1] > conf[1:], True])[0] if len(conf) else np.array([])
        ends = ends.astype(int)
        errors = np.cumsum(1.0 - ok)[ends]
        bound = error_upper_bound(errors, ends + 1.0, level)
        good = ends[bound <= 1.0 - target + 1e-12]
    if len(good) == 0:
        return NO_ANSWERS
    return float(conf[good[-1]])


def share_cuts(score: np.ndarray, target: np.ndarray, n_classes: int) -> tuple[float, ...]:
    """Cut points on `score` at the cumulative grade shares of `target`: each grade below the
    k-th cut is called for the held-out items as often as it occurs among them (ties aside).

    Cut k lies halfway between the two scores around the k-th share's boundary in sorted
    order, so the held-out items themselves fall on the side their count puts them; a grade
    with no held-out item gets an empty interval.
    """
    ordered = np.sort(np.asarray(score, dtype=np.float64))
    counts = np.bincount(np.asarray(target, dtype=np.int64), minlength=n_classes)
    cuts = []
    for boundary in np.cumsum(counts)[:-1]:
        low = ordered[boundary - 1] if boundary > 0 else ordered[0] - 1.0
        high = ordered[boundary] if boundary < len(ordered) else ordered[-1] + 1.0
        cuts.append(float((low + high) / 2))  # sorted scores: the cuts never decrease
    return tuple(cuts)


def fit_calibration(
    score: np.ndarray,
    target: np.ndarray,
    thresholds: np.ndarray,
    *,
    target_accuracy: float,
    review_level: float = 0.0,
    decision: str = "median",
) -> Calibration:
    """Fit temperature, thresholds, review cut and conformal quantile on held-out items.

    Args:
        score: Item severity scores `[N]` (max over views).
        target: True grade index `[N]` (0 = best).
        thresholds: The network's trained thresholds (starting point).
        target_accuracy: Wanted accuracy on auto-answered items (e.g. 0.97).
        review_level: Confidence of the Clopper-Pearson bound behind the review cut (0: the
            point estimate; `selective_threshold`).
        decision: `median` (the median class) or `shares` (`share_cuts` on these items); the
            review cut is chosen for the grades this decision gives.
    """
    score = np.asarray(score, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    if decision not in ("median", "shares"):
        raise ValueError(f"decision must be median or shares, got {decision!r}")
    temp, cuts = _fit_cumulative(score, target, np.asarray(thresholds, dtype=np.float64))
    decided = share_cuts(score, target, len(cuts) + 1) if decision == "shares" else None
    partial = Calibration(temp, cuts, 0.0, 1.0, target_accuracy, decision_cuts=decided)
    probs = partial.probs(score)
    pred = partial.grade_index(score)
    confidence = probs[np.arange(len(pred)), pred]
    review = selective_threshold(confidence, pred == target, target_accuracy, review_level)
    nonconformity = 1.0 - probs[np.arange(len(target)), target]
    n = len(target)
    level = min(1.0, np.ceil((n + 1) * target_accuracy) / n)
    qhat = float(np.quantile(nonconformity, level, method="higher"))
    return Calibration(temp, cuts, review, qhat, target_accuracy, review_level, decided)


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE: bin-weighted |accuracy - confidence| of the decided grade, equal-width bins."""
    return float(
        sum(
            n / len(confidence) * abs(acc - conf)
            for conf, acc, n in reliability_table(confidence, correct, bins)
        )
    )


def reliability_table(
    confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> list[tuple[float, float, int]]:
    """Per non-empty bin: (mean confidence, accuracy, count), for ECE and a reliability diagram."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            rows.append(
                (float(confidence[inside].mean()), float(correct[inside].mean()), int(inside.sum()))
            )
    return rows
