"""Pricing on Dask: the price band's boosters trained with `lightgbm.dask` on all training rows.

`regrade train pricing --dask local[:N]|SCHEDULER` opens a `DaskPricing` session. It reads the
outcomes table as a Dask DataFrame: a folder of Parquet parts (each part checked against the
outcomes contract on a worker, problems naming the part) or the usual single table. Then:

1. The fixed holdout (`data.holdout_mask`, row by row, so per partition) is collected for
   evaluation, and a seeded sample of at most `sample_rows` training rows comes to this process.
2. The single-machine trainer (`train.train_pricing_model`) runs on that sample: the feature
   transform is fitted there (one sample, not a pass over all rows: level counts and target
   encodings settle long before millions of rows), the hyperparameter search runs there,
   early stopping picks each price booster's rounds there (times `refit_scale`), and the
   time-to-sell models (already capped at `tts_max_items` rows) and the closing fit come
   from there.
3. The P50, P10 and P90 boosters are retrained by `DaskLGBMRegressor` on every training row but a
   seeded calibration share (`calibration_fraction`), with the same features, parameters,
   monotone constraints and pinball objective, and the sample's rounds. The conformal
   correction is the finite-sample quantile of the band's misses on that held-out calibration
   share (split conformal: cross-conformal would refit every booster per fold on all rows).
4. `.to_local()` boosters replace the sample's in the artifact, which therefore has the same
   files and loads with the same `PricingPredictor` as a single-machine one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.distributed import Client, LocalCluster, wait
from lightgbm import DaskLGBMRegressor

from features.pricing_features import PricingFeatures
from features.problems import DataError, Problem
from features.tables import load_outcomes, read_table
from models.pricing.boosting import BoostParams, monotone_vector
from models.pricing.price_model import PRICE_MONOTONE, PriceModel, _conformal_quantile
from training.pricing.config import PricingTrainConfig
from training.pricing.data import (
    OUTCOMES,
    TRUTH,
    RunData,
    holdout_mask,
    load_run_data,
    require_trainable,
    sold_rows,
)
from training.pricing.train import Progress, TrainedPricing, train_pricing_model

SAMPLE_ROWS = 200_000
"""Most training rows the sample stage (transform, search, rounds, time-to-sell) works on."""
LOCAL = "local"
TARGET_COLUMN = "__log_price"


def parse_target(target: str) -> tuple[str | None, int | None]:
    """`local` / `local:N` -> (None, N or None); anything else is a scheduler address.

    Raises:
        DataError: `local:` followed by something other than a positive number.
    """
    if target != LOCAL and not target.startswith(LOCAL + ":"):
        return target, None
    count = target.partition(":")[2]
    if not count:
        return None, None
    if not count.isdigit() or int(count) < 1:
        raise DataError([Problem("--dask", f"{target!r}: expected local or local:N, N >= 1")])
    return None, int(count)


def parquet_parts(data: Path) -> list[Path]:
    """The Parquet parts of a partitioned table: `*.parquet` in a folder with no outcomes.csv."""
    if not data.is_dir() or (data / OUTCOMES).is_file():
        return []
    return sorted(data.glob("*.parquet"))


class PinballObjective:
    """The pinball objective of `boosting.pinball_objective` in scikit-learn's signature, as a
    picklable object (Dask ships it to the workers)."""

    def __init__(self, alpha: float, scale: float):
        self.alpha = alpha
        self.scale = scale

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(gradient, hessian) of the pinball loss at `y_pred`."""
        grad = np.where(y_true > y_pred, -self.alpha, 1.0 - self.alpha) * self.scale
        return grad, np.ones_like(y_pred)


@dataclass
class DaskRows:
    """What the session read: training rows on the cluster, counts, the table's name."""

    train: dd.DataFrame
    table: Path
    rows: int
    train_rows: int
    holdout_rows: int
    sample_rows: int


def _matrix(part: pd.DataFrame, features: PricingFeatures) -> pd.DataFrame:
    """Features (out-of-fold encodings: these are training rows) and log1p price of sold rows."""
    x, names = features.transform(part, out_of_fold=True)
    frame = pd.DataFrame(x, columns=names, index=part.index)
    price = pd.to_numeric(part["sold_price"], errors="coerce").to_numpy(dtype="float64")
    frame[TARGET_COLUMN] = np.log1p(price)
    return frame


def _predict(frame: pd.DataFrame, booster: Any, names: list[str]) -> pd.Series:
    return pd.Series(booster.predict(frame[names].to_numpy()), index=frame.index)


def _empty(part: pd.DataFrame) -> pd.DataFrame:
    return part.iloc[:0]


def _holdout(part: pd.DataFrame, fraction: float) -> pd.DataFrame:
    return part[holdout_mask(part, fraction)]


def _training(part: pd.DataFrame, fraction: float) -> pd.DataFrame:
    return part[~holdout_mask(part, fraction)]


class DaskPricing:
    """A Dask session for one pricing run: `load` the table, then `train` (see module doc).

    Use as a context manager: a local cluster is started on entry and closed on exit.

    Args:
        target: `local`, `local:N` (N single-threaded worker processes; default 2) or a
            scheduler address (`tcp://host:8786`).
        config: The run config (holdout share, seed, calibration share).
        sample_rows: Most training rows in the sample stage.
    """

    def __init__(self, target: str, config: PricingTrainConfig, *, sample_rows: int = SAMPLE_ROWS):
        self.address, self.workers = parse_target(target)
        self.config = config
        self.sample_rows = sample_rows
        self.client: Client | None = None
        self._cluster: LocalCluster | None = None
        self.rows: DaskRows | None = None

    def __enter__(self) -> DaskPricing:
        if self.address is None:
            self._cluster = LocalCluster(
                n_workers=self.workers or 2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(self.address)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    @property
    def n_workers(self) -> int:
        """Workers connected to the scheduler."""
        assert self.client is not None, "use DaskPricing as a context manager"
        return len(self.client.scheduler_info()["workers"])

    def read(self, data: Path) -> tuple[dd.DataFrame, Path, pd.DataFrame | None]:
        """The outcomes as a Dask DataFrame, the table's path, and truth.csv beside it if any.

        Raises:
            DataError: no table, or a part whose rows break the outcomes contract.
        """
        parts = parquet_parts(data)
        if not parts:
            loaded = load_run_data(data)
            frame = dd.from_pandas(loaded.frame, npartitions=max(2, self.n_workers))
            return frame, loaded.table, loaded.truth
        futures = self.client.compute([dask.delayed(load_outcomes)(p) for p in parts])
        wait(futures)
        for path, future in zip(parts, futures, strict=True):
            if future.status == "error":
                error = future.exception()
                if isinstance(error, DataError):
                    raise error
                raise DataError([Problem(path, f"cannot read the part: {error}")])
        meta = self.client.submit(_empty, futures[0]).result()
        frame = dd.from_delayed([dask.delayed(f) for f in futures], meta=meta, verify_meta=False)
        truth_path = data / TRUTH
        return frame, data, read_table(truth_path) if truth_path.is_file() else None

    def load(self, data: Path) -> RunData:
        """Read the table; keep its training rows on the cluster; return the run data whose
        frame holds the sample of training rows and every holdout row (for training the sample
        stage and for evaluation: baselines fit on the sample)."""
        frame, table, truth = self.read(data)
        fraction, seed = self.config.holdout_fraction, self.config.seed
        train = frame.map_partitions(_training, fraction, meta=frame._meta).persist()
        holdout = frame.map_partitions(_holdout, fraction, meta=frame._meta)
        n_train = int(train.shape[0].compute())
        share = min(1.0, self.sample_rows / max(n_train, 1))
        sample = train if share >= 1.0 else train.sample(frac=share, random_state=seed)
        sample_frame, holdout_frame = dask.compute(sample, holdout)
        require_trainable(sample_frame, table, self.config.min_sold_rows)
        self.rows = DaskRows(
            train,
            table,
            n_train + len(holdout_frame),
            n_train,
            len(holdout_frame),
            len(sample_frame),
        )
        both = pd.concat([sample_frame, holdout_frame], ignore_index=True)
        return RunData(table, both, truth)

    def train(
        self,
        frame: pd.DataFrame,
        config: PricingTrainConfig,
        *,
        file: str = "table",
        progress: Progress | None = None,
    ) -> TrainedPricing:
        """The sample stage on `frame` (from `load`), then the price band on the cluster."""
        assert self.rows is not None, "load the table first"
        started = time.perf_counter()
        # The sample's band is replaced, so its cross-conformal refits would be wasted work.
        sample_config = config.model_copy(update={"refit": False})
        trained = train_pricing_model(frame, sample_config, file=file, progress=progress)
        boost = trained.search.best if trained.search else config.price
        price = self.fit_price(trained.artifact.features, trained.artifact.price, config, boost)
        trained.artifact = replace(trained.artifact, price=price)
        trained.seconds = time.perf_counter() - started
        return trained

    def fit_price(
        self,
        features: PricingFeatures,
        sample_model: PriceModel,
        config: PricingTrainConfig,
        boost: BoostParams,
    ) -> PriceModel:
        """P50, P10, P90 on the cluster with the sample model's rounds; split-conformal band."""
        assert self.rows is not None and self.client is not None
        sold = self.rows.train.map_partitions(sold_rows, meta=self.rows.train._meta)
        calib_share = config.calibration_fraction
        fit_rows, calib_rows = sold.random_split([1 - calib_share, calib_share], config.seed)
        names = features.names
        meta = pd.DataFrame({n: pd.Series(dtype="float64") for n in [*names, TARGET_COLUMN]})
        xy = fit_rows.map_partitions(_matrix, features, meta=meta).persist()
        x, y = xy[names], xy[TARGET_COLUMN]
        params = boost.lgb_params(
            config.seed, monotone_constraints=monotone_vector(names, PRICE_MONOTONE)
        )
        fit_args = {"categorical_feature": [n for n in features.categorical if n in names]}

        def booster(objective: Any, rounds: int, init_score: Any = None) -> Any:
            model = DaskLGBMRegressor(
                client=self.client, objective=objective, n_estimators=rounds, **params
            )
            if init_score is not None:
                model.set_params(metric="None")
            model.fit(x, y, init_score=init_score, **fit_args)
            return model.to_local().booster_

        def rounds(chooser: Any) -> int:
            chosen = chooser.best_iteration or chooser.current_iteration()
            return max(1, round(chosen * config.refit_scale))

        p50 = booster("regression", rounds(sample_model.p50))
        mid = xy.map_partitions(_predict, p50, names, meta=(None, "float64"))
        residual = y - mid
        tail = (1.0 - config.coverage) / 2.0
        scale, bases = dask.compute(residual.std(), residual.quantile([tail, 1.0 - tail]))
        scale = float(scale) or 1.0
        base_low, base_high = (float(b) for b in bases.to_numpy())
        low = booster(PinballObjective(tail, scale), rounds(sample_model.low), mid + base_low)
        high = booster(
            PinballObjective(1.0 - tail, scale),
            rounds(sample_model.high),
            mid + base_high,
        )
        model = PriceModel(
            p50,
            low,
            high,
            base_low=base_low,
            base_high=base_high,
            correction=0.0,
            coverage=config.coverage,
        )
        scores = calib_rows.map_partitions(_scores, features, model, meta=(None, "float64"))
        model.correction = _conformal_quantile(scores.compute().to_numpy(), config.coverage)
        return model

    def info(self) -> dict[str, Any]:
        """The row counts (all, training, holdout, sample) and the cluster, for pricing.json."""
        assert self.rows is not None
        rows = self.rows
        return {
            "data": {
                "rows": rows.rows,
                "train_rows": rows.train_rows,
                "holdout_rows": rows.holdout_rows,
            },
            "dask": {
                "workers": self.n_workers,
                "partitions": rows.train.npartitions,
                "sample_rows": rows.sample_rows,
            },
        }


def _scores(part: pd.DataFrame, features: PricingFeatures, model: PriceModel) -> pd.Series:
    """CQR scores of sold rows against the uncorrected band (`model.correction` is 0)."""
    x, _ = features.transform(part, out_of_fold=True)
    low, _, high = model.predict_log(x)
    target = np.log1p(pd.to_numeric(part["sold_price"], errors="coerce").to_numpy("float64"))
    return pd.Series(np.maximum(low - target, target - high), index=part.index)
