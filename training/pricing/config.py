"""The typed configuration of a pricing training run, overridable from a TOML or YAML file."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from features.problems import DataError, Problem
from models.pricing.boosting import BoostParams


@dataclass(frozen=True)
class PricingTrainConfig:
    """Everything that decides a pricing model, saved with the run.

    Attributes:
        seed: Seeds every random split and LightGBM.
        holdout_fraction: Share of items held out for evaluation when the table has no `split`
            column (chosen by a hash of item_id, so the same items every run and every seed).
        valid_fraction: Share of the remaining sold rows used for early stopping.
        calibration_fraction: Share of the remaining sold rows used only to calibrate the band.
        coverage: Target share of sold prices inside [P10, P90].
        min_level_count: Brands and category levels seen fewer times are pooled as "other".
        max_category_depth: Levels of an "a/b/c" category path used as features.
        min_sold_rows: Fewest sold rows needed to train.
        price: LightGBM settings of the three price boosters.
        tts: LightGBM settings of the time-to-sell hazard booster.
        tts_periods: Number of time-to-sell periods (cut at quantiles of days to sale).
        tts_top_quantile: The last period edge, as a quantile of days to sale.
        tts_max_days: Cap on predicted days to sell.
        tts_max_items: Most listings used to fit time-to-sell (a seeded sample above this).
        value_folds: Folds for the out-of-fold predicted value the time-to-sell model sees.
    """

    seed: int = 0
    holdout_fraction: float = 0.2
    valid_fraction: float = 0.1
    calibration_fraction: float = 0.15
    coverage: float = 0.8
    min_level_count: int = 5
    max_category_depth: int = 3
    min_sold_rows: int = 50
    price: BoostParams = field(
        default_factory=lambda: BoostParams(learning_rate=0.1, max_depth=5, min_data_in_leaf=50)
    )
    tts: BoostParams = field(
        default_factory=lambda: BoostParams(learning_rate=0.1, min_data_in_leaf=200, lambda_l2=5.0)
    )
    tts_periods: int = 8
    tts_top_quantile: float = 0.98
    tts_max_days: float = 730.0
    tts_max_items: int = 200_000
    value_folds: int = 3

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict."""
        return dataclasses.asdict(self)


_NESTED = {"price": BoostParams, "tts": BoostParams}


def _build(cls: type, data: dict[str, Any], where: str, file: Path | str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise DataError([Problem(file, f"unknown setting(s) {unknown} in {where}")])
    values = {}
    for name, value in data.items():
        nested = _NESTED.get(name) if cls is PricingTrainConfig else None
        if nested is not None:
            if not isinstance(value, dict):
                raise DataError([Problem(file, f"{name} must be a table of settings")])
            values[name] = _build(nested, value, f"[{name}]", file)
            continue
        default = getattr(cls(), name)
        if isinstance(default, bool) or not isinstance(value, int | float):
            raise DataError([Problem(file, f"{where}.{name} must be a number, got {value!r}")])
        if isinstance(default, int) and value != int(value):
            raise DataError(
                [Problem(file, f"{where}.{name} must be a whole number, got {value!r}")]
            )
        values[name] = type(default)(value)
    return cls(**values)


def load_config(path: Path | None = None, **overrides: Any) -> PricingTrainConfig:
    """The config: defaults, then the file (TOML or YAML), then non-None keyword overrides.

    Raises:
        DataError: the file is missing, unparsable or names an unknown or ill-typed setting.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise DataError([Problem(path, "config file not found")])
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() == ".toml":
                data = tomllib.loads(text)
            else:
                data = yaml.safe_load(text) or {}
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise DataError([Problem(path, f"cannot be parsed: {exc}")]) from exc
        if not isinstance(data, dict):
            raise DataError([Problem(path, "must hold a table of settings")])
        data = data.get("pricing", data)
    data.update({k: v for k, v in overrides.items() if v is not None})
    return _build(PricingTrainConfig, data, "config", path or "config")
