"""The typed configuration of a pricing training run, overridable from a TOML or YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from models.pricing.boosting import BoostParams, numbers_only
from training.configs import load_run_config

SECTION = "pricing"
"""The table of a config file that holds the pricing settings (or the whole file)."""
SWITCHES = ("encode_levels", "refit", "blend_extra_trees", "blend_without_encodings")
"""The true/false settings."""


class PricingTrainConfig(BaseModel):
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
        encode_levels: Add smoothed target and count encodings of category paths, brand,
            brand x category and categorical attrs (`features.level_encoding`).
        encoding_smoothing: Pseudo-rows of the overall mean in each level's target encoding.
        refit: Fit the price boosters on all sold training rows, with rounds chosen by early
            stopping and the band calibrated by cross-conformal scores (false: separate fit,
            early-stopping and calibration parts, `calibration_fraction` used).
        refit_scale: Rounds of the refit = this times the rounds early stopping chose.
        blend_extra_trees: With `refit`, blend P50 with a second monotone booster grown with
            extra trees (random split thresholds), weighted by out-of-fold error on the
            training rows (`PriceModel.fit_cross`); weight 0 keeps P50 alone.
        blend_without_encodings: With `refit` and `encode_levels`, blend in one more monotone
            booster that reads the features without their level encodings (it learns levels
            from categorical splits only) with fixed settings of its own rather than the
            search's (`UNENCODED_SETTINGS`), its weight chosen out of fold with the others.
        conformal_folds: Folds of the cross-conformal calibration (with `refit`).
        search_seconds: Time cap of the CV hyperparameter search of the price booster
            (`training.pricing.search`; a guard, not the budget); 0 turns the search off and
            keeps `[price]`.
        search_folds: CV folds of the search.
        search_max_trials: The search's budget: settings tried (the same on every machine
            unless `search_seconds` cuts it short).
        search_max_rows: The search works on a seeded sample of at most this many sold rows.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, ge=0)
    holdout_fraction: float = Field(0.2, ge=0, lt=1)
    valid_fraction: float = Field(0.1, gt=0, lt=1)
    calibration_fraction: float = Field(0.15, gt=0, lt=1)
    coverage: float = Field(0.8, gt=0, lt=1)
    min_level_count: int = Field(5, ge=1)
    max_category_depth: int = Field(3, ge=1)
    min_sold_rows: int = Field(50, ge=1)
    price: BoostParams = Field(
        default_factory=lambda: BoostParams(learning_rate=0.1, max_depth=5, min_data_in_leaf=50)
    )
    tts: BoostParams = Field(
        default_factory=lambda: BoostParams(learning_rate=0.1, min_data_in_leaf=200, lambda_l2=5.0)
    )
    tts_periods: int = Field(8, ge=1)
    tts_top_quantile: float = Field(0.98, gt=0, le=1)
    tts_max_days: float = Field(730.0, gt=0)
    tts_max_items: int = Field(200_000, ge=1)
    value_folds: int = Field(3, ge=0)
    encode_levels: bool = True
    encoding_smoothing: float = Field(20.0, ge=0)
    refit: bool = True
    refit_scale: float = Field(1.1, gt=0)
    blend_extra_trees: bool = True
    blend_without_encodings: bool = True
    conformal_folds: int = Field(5, ge=2)
    search_seconds: float = Field(600.0, ge=0)
    search_folds: int = Field(3, ge=2)
    search_max_trials: int = Field(30, ge=1)
    search_max_rows: int = Field(50_000, ge=10)

    @field_validator("*", mode="before")
    @classmethod
    def check_number(cls, value: Any, info: ValidationInfo) -> Any:
        """Every setting but the booster tables and switches is a number: no strings."""
        if isinstance(value, dict | BoostParams):
            return value
        if info.field_name in SWITCHES:
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        return numbers_only(value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict."""
        return self.model_dump()


def load_config(path: Path | str | None = None, **overrides: Any) -> PricingTrainConfig:
    """The config: defaults, then the file's `[pricing]` table (TOML or YAML; or the whole
    file), then non-None keyword overrides.

    Raises:
        DataError: the file is missing or unparsable, or names an unknown setting or a value of
            the wrong type or out of bounds; the problem names the file and the setting.
    """
    return load_run_config(PricingTrainConfig, path, SECTION, **overrides)
