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

With `fit_cross(..., blend=True)` P50 is a blend of monotone least-squares boosters: the
configured one and a second with LightGBM's `extra_trees` (random split thresholds); with
`raw_columns`, a third that reads only those columns of the matrix (the features without their
level encodings, so it learns levels from categorical splits alone) with fixed settings of its
own (`UNENCODED_SETTINGS`). They are mixed by the
weights that minimise the out-of-fold error of the cross-fitted members on the training rows. A
positive mix of functions that never rise in age and grade never rises either, so the promises
hold; the quantile boosters and the conformal scores use the blended P50.
"""

from __future__ import annotations

import itertools
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
RAW_FILE = "price_p50_raw.txt"
"""The blend's third P50 booster (the columns without level encodings); absent when unused."""
UNENCODED_SETTINGS: dict[str, Any] = {
    "learning_rate": 0.03,
    "num_leaves": 15,
    "max_depth": -1,
    "min_data_in_leaf": 20,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "lambda_l2": 0.0,
    "cat_smooth": 10.0,
    "min_data_per_group": 100,
}
"""The third booster's own settings (LightGBM's defaults but 15 leaves and learning rate 0.03),
not the search's: its rounds still come from early stopping. A member that does not share the
search's choice, which is noisy on small tables, and sees the rows through a different set of
columns."""


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
        raw: lgb.Booster | None = None,
        raw_blend: float = 0.0,
        raw_columns: list[int] | None = None,
    ):
        self.p50 = p50
        self.low = low
        self.high = high
        self.base_low = base_low
        self.base_high = base_high
        self.correction = correction
        self.coverage = coverage
        self.extra = extra if blend > 0 else None
        self.blend = float(blend) if self.extra is not None else 0.0
        self.raw = raw if raw_blend > 0 and raw_columns else None
        self.raw_blend = float(raw_blend) if self.raw is not None else 0.0
        self.raw_columns = [int(c) for c in raw_columns or []] if self.raw is not None else []

    def predict_mid(self, x: np.ndarray) -> np.ndarray:
        """[n] log1p(P50): the P50 booster, blended with its partners when it has any."""
        mid = predict(self.p50, x)
        if not len(x) or (self.extra is None and self.raw is None):
            return mid
        mid = (1.0 - self.blend - self.raw_blend) * mid
        if self.extra is not None:
            mid += self.blend * predict(self.extra, x)
        if self.raw is not None:
            mid += self.raw_blend * predict(self.raw, x[:, self.raw_columns])
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
        raw_columns: list[int] | None = None,
    ) -> PriceModel:
        """Fit on all rows: rounds by early stopping, band calibrated by cross-conformal scores.

        1. Early stopping on a seeded `valid_share` of the rows chooses the rounds of each booster.
        2. Cross-conformal calibration: the rows are cut into `folds` folds; boosters with those
           rounds fitted on the other folds score each fold's band misses, so every row gives a
           score from models that never saw it and the correction is a quantile of all n scores
           (far less noisy than a single calibration part).
        3. The three boosters are refitted on all rows with `refit_scale` times the rounds.

        With `blend`, an extra-trees P50 booster is fitted beside P50 in every step, and with
        `raw_columns` one more that reads only those columns; their weights in P50 are the mix
        on the `BLEND_WEIGHTS` grid with the lowest out-of-fold error in step 2 (the folds' P50
        members score the rows they did not see), and the quantile boosters and the conformal
        scores then use the blended P50. Weights of 0 keep P50 alone.

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
            raw_columns: The columns a third P50 booster reads (the features without their
                level encodings; fitted with `UNENCODED_SETTINGS`); None, or every column,
                adds no third booster.
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

        def rounds(booster: lgb.Booster, settings: BoostParams = boost) -> BoostParams:
            chosen = booster.best_iteration or booster.current_iteration()
            update = {"num_boost_round": max(1, round(chosen * refit_scale))}
            return settings.model_copy(update=update)

        plan = (rounds(chooser.p50), rounds(chooser.low), rounds(chooser.high))
        if raw_columns is not None and len(raw_columns) in (0, x.shape[1]):
            raw_columns = None  # nothing to leave out (or nothing left): no third booster
        members = _Members(names, categorical, plan[0], seed, raw_columns=raw_columns)
        if blend:
            members.extra = rounds(members.early_stopped(boost, x, y, fit, held, "extra"))
        if raw_columns is not None:
            settings = boost.model_copy(update=UNENCODED_SETTINGS)
            members.raw = rounds(members.early_stopped(settings, x, y, fit, held, "raw"), settings)
        fold_of = rng.permutation(np.arange(len(y)) % max(2, folds))
        parts = [fold_of == fold for fold in np.unique(fold_of)]
        mids = [members.fit(x[~part], y[~part]) for part in parts]
        weights = (0.0, 0.0)
        if members.extra is not None or members.raw is not None:
            oof = np.zeros((3, len(y)))
            for part, fitted in zip(parts, mids, strict=True):
                oof[:, part] = members.predict_each(fitted, x[part])
            present = [0, *(i for i, m in ((1, members.extra), (2, members.raw)) if m)]
            chosen = np.zeros(3)
            chosen[present] = _blend_weights(oof[present], np.log1p(y))
            weights = (float(chosen[1]), float(chosen[2]))
        scores = np.empty(len(y))
        for part, fitted in zip(parts, mids, strict=True):
            model = cls._fit_band(
                x[~part],
                y[~part],
                names,
                categorical,
                (fitted, weights, raw_columns),
                plan,
                coverage,
                seed,
            )
            scores[part] = model._scores(x[part], y[part])
        fitted = members.fit(x, y)
        final = cls._fit_band(
            x, y, names, categorical, (fitted, weights, raw_columns), plan, coverage, seed
        )
        final.correction = _conformal_quantile(scores, coverage)
        return final

    def refit_mid(
        self,
        x: np.ndarray,
        y: np.ndarray,
        names: list[str],
        categorical: list[str],
        boost: BoostParams,
        seed: int,
    ) -> PriceModel:
        """P50 alone (no band) refitted on other rows: each member with this model's rounds.

        Used for out-of-fold values: the same members and weights as this model's P50.
        """
        members = _Members(names, categorical, _rounds_of(boost, self.p50), seed)
        if self.extra is not None:
            members.extra = _rounds_of(boost, self.extra)
        if self.raw is not None:
            settings = boost.model_copy(update=UNENCODED_SETTINGS)
            members.raw, members.raw_columns = _rounds_of(settings, self.raw), self.raw_columns
        p50, extra, raw = members.fit(x, y)
        weights = (self.blend, self.raw_blend)
        return PriceModel._mid_only((p50, extra, raw), weights, self.raw_columns, self.coverage)

    @classmethod
    def _mid_only(
        cls,
        boosters: tuple[lgb.Booster, lgb.Booster | None, lgb.Booster | None],
        weights: tuple[float, float],
        raw_columns: list[int] | None,
        coverage: float,
    ) -> PriceModel:
        """A model with the blended P50 only (its P10 and P90 are P50 itself, no band yet)."""
        p50, extra, raw = boosters
        return cls(
            p50,
            p50,
            p50,
            base_low=0.0,
            base_high=0.0,
            correction=0.0,
            coverage=coverage,
            extra=extra,
            blend=weights[0],
            raw=raw,
            raw_blend=weights[1],
            raw_columns=raw_columns,
        )

    @classmethod
    def _fit_band(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        names: list[str],
        categorical: list[str],
        mid: tuple[_Fitted, tuple[float, float], list[int] | None],
        plan: tuple[BoostParams, BoostParams, BoostParams],
        coverage: float,
        seed: int,
    ) -> PriceModel:
        """P10 and P90 boosters (fixed rounds) around a fitted P50.

        `mid` is ((p50, extra, raw) boosters, (extra weight, raw weight), raw columns).
        """
        (p50, extra, raw), (weight, raw_weight), raw_columns = mid
        target = np.log1p(y)
        params = plan[0].lgb_params(
            seed, monotone_constraints=monotone_vector(names, PRICE_MONOTONE)
        )
        model = cls._mid_only((p50, extra, raw), (weight, raw_weight), raw_columns, coverage)
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

        With a blend, the same mix of the members' TreeSHAP values (they still sum to P50); the
        columns a member does not read contribute nothing through it.
        """
        contrib = predict(self.p50, x, pred_contrib=True)
        if self.extra is None and self.raw is None:
            return contrib
        contrib = (1.0 - self.blend - self.raw_blend) * contrib
        if self.extra is not None:
            contrib += self.blend * predict(self.extra, x, pred_contrib=True)
        if self.raw is not None:
            raw = predict(self.raw, x[:, self.raw_columns], pred_contrib=True)
            contrib[:, self.raw_columns] += self.raw_blend * raw[:, :-1]
            contrib[:, -1] += self.raw_blend * raw[:, -1]
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
        if self.raw is not None:
            texts[RAW_FILE] = self.raw.model_to_string()
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
            "blend_raw": self.raw_blend,
            "raw_columns": self.raw_columns,
        }

    @classmethod
    def from_texts(cls, texts: dict[str, str], meta: dict[str, Any]) -> PriceModel:
        """Rebuild from `to_texts` and `meta` output (models saved before the blend: no blend)."""
        blend = float(meta.get("blend", 0.0))
        raw_blend = float(meta.get("blend_raw", 0.0))
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
            raw=booster_from_text(texts[RAW_FILE]) if raw_blend > 0 else None,
            raw_blend=raw_blend,
            raw_columns=meta.get("raw_columns"),
        )


_Fitted = tuple[lgb.Booster, lgb.Booster | None, lgb.Booster | None]
"""The P50 members fitted on some rows: (P50, extra trees or None, raw columns or None)."""


def _rounds_of(boost: BoostParams, booster: lgb.Booster) -> BoostParams:
    return boost.model_copy(update={"num_boost_round": max(1, booster.current_iteration())})


@dataclass
class _Members:
    """How to fit P50's members: the settings (with rounds) of each, and the raw columns."""

    names: list[str]
    categorical: list[str]
    p50: BoostParams
    seed: int
    extra: BoostParams | None = None
    raw: BoostParams | None = None
    raw_columns: list[int] | None = None

    def _view(self, kind: str) -> tuple[list[int] | slice, list[str], list[str], dict]:
        """(columns, names, categorical names, LightGBM extras) of the `kind` member."""
        if kind == "raw":
            cols = self.raw_columns or []
            names = [self.names[c] for c in cols]
            return cols, names, [n for n in self.categorical if n in names], {}
        extra = EXTRA_TREES if kind == "extra" else {}
        return slice(None), self.names, self.categorical, extra

    def _train(
        self,
        kind: str,
        boost: BoostParams,
        rows: tuple[np.ndarray, np.ndarray],
        valid: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> lgb.Booster:
        cols, names, categorical, extra = self._view(kind)
        params = boost.lgb_params(
            self.seed,
            objective="regression",
            monotone_constraints=monotone_vector(names, PRICE_MONOTONE),
            **extra,
        )
        train_set = dataset(rows[0][:, cols], np.log1p(rows[1]), names, categorical)
        valid_set = None
        if valid is not None:
            valid_set = dataset(
                valid[0][:, cols], np.log1p(valid[1]), names, categorical, reference=train_set
            )
        return train(params, train_set, valid_set, boost)

    def early_stopped(
        self,
        boost: BoostParams,
        x: np.ndarray,
        y: np.ndarray,
        fit: np.ndarray,
        held: np.ndarray,
        kind: str,
    ) -> lgb.Booster:
        """The `kind` member fitted on rows `fit` with early stopping on rows `held`."""
        return self._train(kind, boost, (x[fit], y[fit]), (x[held], y[held]))

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Fitted:
        """Every member on these rows, each with its planned rounds."""
        fitted: list[lgb.Booster | None] = []
        for kind, plan in (("p50", self.p50), ("extra", self.extra), ("raw", self.raw)):
            if plan is None:
                fitted.append(None)
                continue
            fitted.append(self._train(kind, plan, (x, y)))
        p50, extra, raw = fitted
        assert p50 is not None
        return p50, extra, raw

    def predict_each(self, fitted: _Fitted, x: np.ndarray) -> np.ndarray:
        """[3, n] each member's log1p(P50) (zeros for an absent member)."""
        out = np.zeros((3, len(x)))
        p50, extra, raw = fitted
        out[0] = p50.predict(x)
        if extra is not None:
            out[1] = extra.predict(x)
        if raw is not None:
            out[2] = raw.predict(x[:, self.raw_columns or []])
        return out


def _blend_weights(members: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[k] non-negative weights summing to 1 on the `BLEND_WEIGHTS` grid with the lowest squared
    error of `members` [k, n] against `target`; ties keep the first member's weight highest."""
    step = BLEND_WEIGHTS
    best, best_error = np.eye(len(members))[0], np.inf
    for partners in itertools.product(step, repeat=len(members) - 1):
        if sum(partners) > 1.0 + 1e-9:
            continue
        weights = np.round([max(0.0, 1.0 - sum(partners)), *partners], 10)
        error = float(np.mean((weights @ members - target) ** 2))
        if error < best_error - 1e-15:
            best, best_error = weights, error
    return best


def _blend_weight(first: np.ndarray, second: np.ndarray, target: np.ndarray) -> float:
    """The weight of `second` in BLEND_WEIGHTS with the lowest squared error (ties: the smaller)."""
    return float(_blend_weights(np.stack([first, second]), target)[1])


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
