"""Resale price band: LightGBM P50 plus conformalised P10/P90 (CQR), all monotone in age and grade.

All three boosters work on log1p(price). P50 is a least-squares fit (it minimises the squared
log error, i.e. RMSLE). P10 and P90 are pinball-loss fits with a custom objective, because
LightGBM's built-in quantile objective refuses monotone constraints; they boost from P50 plus the
residual quantile, so P10 = P50 + a monotone offset stays monotone. Conformalised quantile
regression (Romano et al., 2019) then widens or narrows the band by one constant on the log scale,
chosen on held-out calibration rows so that the band covers the target share of prices. Every
booster is constrained to be non-increasing in age and in grade (A=0 < B=1 < C=2), and the
correction is a constant, so P10, P50 and P90 are never higher for an older unit or a worse grade,
all else equal.

With `fit_cross(..., blend=True)` P50 is a blend of two monotone least-squares boosters: the
configured one and a second with LightGBM's `extra_trees` (random split thresholds), mixed by the
weight that minimises the out-of-fold error of the cross-fitted pair on the training rows. A
positive mix of functions that never rise in age and grade never rises either, so the promises
hold; the quantile boosters and the conformal scores use the blended P50.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from models.pricing.boosting import (
    BoostParams,
    booster_from_text,
    dataset,
    monotone_vector,
    pinball_metric,
    pinball_objective,
    predict,
    train,
)

PRICE_MONOTONE: dict[str, int] = {"grade": -1, "age_months": -1}
"""Price never rises with a worse grade or an older unit."""
EXTRA_FILE = "price_p50_extra.txt"
"""The blend's second P50 booster (extra trees); absent when the model has no blend."""
BLEND_WEIGHTS = np.linspace(0.0, 1.0, 21)
"""The weights of the second booster tried on the out-of-fold predictions."""
EXTRA_TREES = {"extra_trees": True}
"""What the second P50 booster changes: random split thresholds (a different learner)."""


@dataclass
class PriceBand:
    """Price quantiles per row, in money."""

    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray


class PriceModel:
    """P50 booster, P10/P90 boosters and the conformal correction, on the log1p scale."""

    def __init__(
        self,
        p50: lgb.Booster,
        low: lgb.Booster,
        high: lgb.Booster,
        *,
        base_low: float,
        base_high: float,
        correction: float,
        coverage: float,
        extra: lgb.Booster | None = None,
        blend: float = 0.0,
    ):
        self.p50 = p50
        self.low = low
        self.high = high
        self.base_low = base_low
        self.base_high = base_high
        self.correction = correction
        self.coverage = coverage
        self.extra = extra if blend > 0 else None
        self.blend = float(blend) if extra is not None else 0.0

    def predict_mid(self, x: np.ndarray) -> np.ndarray:
        """[n] log1p(P50): the P50 booster, blended with the extra-trees one when there is one."""
        mid = predict(self.p50, x)
        if self.extra is not None and len(x):
            mid = (1.0 - self.blend) * mid + self.blend * predict(self.extra, x)
        return mid

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        names: list[str],
        categorical: list[str],
        *,
        valid: tuple[np.ndarray, np.ndarray],
        calibration: tuple[np.ndarray, np.ndarray],
        boost: BoostParams,
        coverage: float = 0.8,
        seed: int = 0,
    ) -> PriceModel:
        """Fit the three boosters and calibrate the band.

        Args:
            x: [n, d] training features; y: [n] sold prices (money).
            names: Feature names; categorical: the names holding category codes.
            valid: (x, y) for early stopping.
            calibration: (x, y) for the conformal correction (not used for anything else).
            boost: LightGBM settings.
            coverage: Target share of prices inside [P10, P90].
            seed: LightGBM seed.
        """
        target = np.log1p(y)
        valid_target = np.log1p(valid[1])
        params = boost.lgb_params(seed, monotone_constraints=monotone_vector(names, PRICE_MONOTONE))
        train_set = dataset(x, target, names, categorical)
        valid_set = dataset(valid[0], valid_target, names, categorical, reference=train_set)
        p50 = train({**params, "objective": "regression"}, train_set, valid_set, boost)
        tail = (1.0 - coverage) / 2.0
        fit_mid, valid_mid = p50.predict(x), p50.predict(valid[0])
        quantiles = [
            _quantile_booster(
                alpha,
                (x, target, fit_mid),
                names,
                categorical,
                params,
                boost,
                valid=(valid[0], valid_target, valid_mid),
            )
            for alpha in (tail, 1.0 - tail)
        ]
        (low, base_low), (high, base_high) = quantiles
        model = cls(
            p50,
            low,
            high,
            base_low=base_low,
            base_high=base_high,
            correction=0.0,
            coverage=coverage,
        )
        model.correction = model._conformal_correction(*calibration)
        return model

    @classmethod
    def fit_cross(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        names: list[str],
        categorical: list[str],
        *,
        valid_share: float,
        boost: BoostParams,
        coverage: float = 0.8,
        seed: int = 0,
        folds: int = 5,
        refit_scale: float = 1.1,
        blend: bool = False,
    ) -> PriceModel:
        """Fit on all rows: rounds by early stopping, band calibrated by cross-conformal scores.

        1. Early stopping on a seeded `valid_share` of the rows chooses the rounds of each booster.
        2. Cross-conformal calibration: the rows are cut into `folds` folds; boosters with those
           rounds fitted on the other folds score each fold's band misses, so every row gives a
           score from models that never saw it and the correction is a quantile of all n scores
           (far less noisy than a single calibration part).
        3. The three boosters are refitted on all rows with `refit_scale` times the rounds.

        With `blend`, an extra-trees P50 booster is fitted beside P50 in every step; its weight
        in P50 is the one of `BLEND_WEIGHTS` with the lowest out-of-fold error in step 2 (the
        folds' P50 pairs score the rows they did not see), and the quantile boosters and the
        conformal scores then use the blended P50. A weight of 0 keeps P50 alone.

        Args:
            x: [n, d] features; y: [n] sold prices (money).
            names: Feature names; categorical: the names holding category codes.
            valid_share: Share of rows for early stopping in step 1.
            boost: LightGBM settings.
            coverage: Target share of prices inside [P10, P90].
            seed: Seeds the splits and LightGBM.
            folds: Cross-conformal folds (at least 2).
            refit_scale: Rounds multiplier from step 1 to steps 2 and 3.
            blend: Blend P50 with an extra-trees booster (weight chosen out of fold).
        """
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        cut = max(1, round(valid_share * len(y)))
        held, fit = order[:cut], order[cut:]
        chooser = cls.fit(
            x[fit],
            y[fit],
            names,
            categorical,
            valid=(x[held], y[held]),
            calibration=(x[held[:0]], y[held[:0]]),
            boost=boost,
            coverage=coverage,
            seed=seed,
        )

        def rounds(booster: lgb.Booster) -> BoostParams:
            chosen = booster.best_iteration or booster.current_iteration()
            return boost.model_copy(update={"num_boost_round": max(1, round(chosen * refit_scale))})

        plan = (rounds(chooser.p50), rounds(chooser.low), rounds(chooser.high))
        extra_plan = None
        if blend:
            params = boost.lgb_params(
                seed, monotone_constraints=monotone_vector(names, PRICE_MONOTONE), **EXTRA_TREES
            )
            train_set = dataset(x[fit], np.log1p(y[fit]), names, categorical)
            valid_set = dataset(x[held], np.log1p(y[held]), names, categorical, reference=train_set)
            extra_plan = rounds(
                train({**params, "objective": "regression"}, train_set, valid_set, boost)
            )
        fold_of = rng.permutation(np.arange(len(y)) % max(2, folds))
        parts = [fold_of == fold for fold in np.unique(fold_of)]
        mids = [
            _fit_mid(x[~part], y[~part], names, categorical, plan[0], extra_plan, seed)
            for part in parts
        ]
        weight = 0.0
        if extra_plan is not None:
            target = np.log1p(y)
            oof = np.empty((2, len(y)))
            for part, (p50, extra) in zip(parts, mids, strict=True):
                oof[:, part] = p50.predict(x[part]), extra.predict(x[part])
            weight = _blend_weight(oof[0], oof[1], target)
        scores = np.empty(len(y))
        for part, (p50, extra) in zip(parts, mids, strict=True):
            model = cls._fit_band(
                x[~part], y[~part], names, categorical, (p50, extra, weight), plan, coverage, seed
            )
            scores[part] = model._scores(x[part], y[part])
        pair = _fit_mid(x, y, names, categorical, plan[0], extra_plan, seed)
        final = cls._fit_band(x, y, names, categorical, (*pair, weight), plan, coverage, seed)
        final.correction = _conformal_quantile(scores, coverage)
        return final

    @classmethod
    def _fit_band(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        names: list[str],
        categorical: list[str],
        mid: tuple[lgb.Booster, lgb.Booster | None, float],
        plan: tuple[BoostParams, BoostParams, BoostParams],
        coverage: float,
        seed: int,
    ) -> PriceModel:
        """P10 and P90 boosters (fixed rounds) around a fitted P50 (p50, extra, blend weight)."""
        p50, extra, weight = mid
        target = np.log1p(y)
        params = plan[0].lgb_params(
            seed, monotone_constraints=monotone_vector(names, PRICE_MONOTONE)
        )
        model = cls(
            p50,
            p50,
            p50,
            base_low=0.0,
            base_high=0.0,
            correction=0.0,
            coverage=coverage,
            extra=extra,
            blend=weight,
        )
        middle = model.predict_mid(x)
        tail = (1.0 - coverage) / 2.0
        model.low, model.base_low = _quantile_booster(
            tail, (x, target, middle), names, categorical, params, plan[1]
        )
        model.high, model.base_high = _quantile_booster(
            1.0 - tail, (x, target, middle), names, categorical, params, plan[2]
        )
        return model

    def _scores(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """CQR scores: how far each log price lies outside the uncorrected band."""
        low, _, high = self._raw(x)
        target = np.log1p(y)
        return np.maximum(low - target, target - high)

    def _raw(
        self, x: np.ndarray, mid: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mid = self.predict_mid(x) if mid is None else mid
        low = np.minimum(mid + self.base_low + predict(self.low, x), mid)
        high = np.maximum(mid + self.base_high + predict(self.high, x), mid)
        return low, mid, high

    def _conformal_correction(self, x: np.ndarray, y: np.ndarray) -> float:
        """The CQR constant: the finite-sample (1 - miscoverage) quantile of the band's misses."""
        return _conformal_quantile(self._scores(x, y), self.coverage)

    def predict_log(
        self, x: np.ndarray, mid: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(P10, P50, P90) on the log1p scale; the band always contains P50.

        Args:
            x: [n, d] features.
            mid: [n] log1p P50 when already computed (`predict_mid(x)`), else None.
        """
        low, mid, high = self._raw(x, mid)
        low = np.minimum(low - self.correction, mid)
        high = np.maximum(high + self.correction, mid)
        return low, mid, high

    def predict(self, x: np.ndarray) -> PriceBand:
        """Price band in money for a feature matrix [n, d]."""
        low, mid, high = self.predict_log(x)
        return PriceBand(np.expm1(low), np.expm1(mid), np.expm1(high))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """[n, d + 1] per-feature contributions to log1p(P50); the last column is the bias.

        With a blend, the same mix of both boosters' TreeSHAP values (they still sum to P50).
        """
        contrib = predict(self.p50, x, pred_contrib=True)
        if self.extra is not None:
            extra = predict(self.extra, x, pred_contrib=True)
            contrib = (1.0 - self.blend) * contrib + self.blend * extra
        return contrib

    def to_texts(self) -> dict[str, str]:
        """LightGBM text models by file name."""
        texts = {
            "price_p50.txt": self.p50.model_to_string(),
            "price_p10.txt": self.low.model_to_string(),
            "price_p90.txt": self.high.model_to_string(),
        }
        if self.extra is not None:
            texts[EXTRA_FILE] = self.extra.model_to_string()
        return texts

    def meta(self) -> dict[str, Any]:
        """The JSON part of the model: quantile bases and the conformal correction."""
        return {
            "base_low": self.base_low,
            "base_high": self.base_high,
            "correction": self.correction,
            "coverage": self.coverage,
            "monotone": PRICE_MONOTONE,
            "blend": self.blend,
        }

    @classmethod
    def from_texts(cls, texts: dict[str, str], meta: dict[str, Any]) -> PriceModel:
        """Rebuild from `to_texts` and `meta` output (models saved before the blend: no blend)."""
        blend = float(meta.get("blend", 0.0))
        return cls(
            booster_from_text(texts["price_p50.txt"]),
            booster_from_text(texts["price_p10.txt"]),
            booster_from_text(texts["price_p90.txt"]),
            base_low=float(meta["base_low"]),
            base_high=float(meta["base_high"]),
            correction=float(meta["correction"]),
            coverage=float(meta["coverage"]),
            extra=booster_from_text(texts[EXTRA_FILE]) if blend > 0 else None,
            blend=blend,
        )


def _fit_mid(
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    categorical: list[str],
    boost: BoostParams,
    extra: BoostParams | None,
    seed: int,
) -> tuple[lgb.Booster, lgb.Booster | None]:
    """The least-squares P50 booster and, given `extra` settings, the extra-trees one."""
    params = boost.lgb_params(
        seed, objective="regression", monotone_constraints=monotone_vector(names, PRICE_MONOTONE)
    )
    train_set = dataset(x, np.log1p(y), names, categorical)
    p50 = train(params, train_set, None, boost)
    if extra is None:
        return p50, None
    extra_params = extra.lgb_params(
        seed,
        objective="regression",
        monotone_constraints=monotone_vector(names, PRICE_MONOTONE),
        **EXTRA_TREES,
    )
    return p50, train(extra_params, dataset(x, np.log1p(y), names, categorical), None, extra)


def _blend_weight(first: np.ndarray, second: np.ndarray, target: np.ndarray) -> float:
    """The weight of `second` in BLEND_WEIGHTS with the lowest squared error (ties: the smaller)."""
    errors = [np.mean(((1.0 - w) * first + w * second - target) ** 2) for w in BLEND_WEIGHTS]
    return float(BLEND_WEIGHTS[int(np.argmin(errors))])


def _quantile_booster(
    alpha: float,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    names: list[str],
    categorical: list[str],
    params: dict[str, Any],
    boost: BoostParams,
    *,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[lgb.Booster, float]:
    """A pinball booster for quantile `alpha` boosting from P50 plus the residual quantile.

    Args:
        rows: (x, log1p target, P50 on the log scale) to fit on.
        valid: The same for early stopping, or None to run `boost.num_boost_round` rounds.

    Returns:
        (booster, base): the quantile is P50 + base + booster's output.
    """
    x, target, mid = rows
    residual = target - mid
    scale = float(np.std(residual)) or 1.0
    # The booster learns only the band's shape around P50 plus the residual quantile.
    base = float(np.quantile(residual, alpha))
    q_train = dataset(x, target, names, categorical, init_score=mid + base)
    q_valid = None
    if valid is not None:
        q_valid = dataset(
            valid[0], valid[1], names, categorical, init_score=valid[2] + base, reference=q_train
        )
    q_params = {**params, "objective": pinball_objective(alpha, scale), "metric": "None"}
    booster = train(q_params, q_train, q_valid, boost, feval=pinball_metric(alpha))
    return booster, base


def _conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The finite-sample `coverage` quantile of conformity scores (0 without scores)."""
    n = len(scores)
    if n == 0:
        return 0.0
    level = min(1.0, math.ceil((n + 1) * coverage) / n)
    return float(np.quantile(scores, level, method="higher"))
