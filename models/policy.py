"""The guardrail policy: margin floor, ceilings by grade, fees and routing settings.

A `Policy` holds the defaults and per-category overrides; `Policy.for_category` gives the
settings in force for one category. `load_policy` reads a TOML or YAML file; every error names the
file and the key at fault. All defaults are documented in `docs/policy.md`.

| setting | default | meaning |
|---|---|---|
| min_margin | 0.20 | smallest margin, as a share of the price, a listing may make |
| fee_rate | 0.0 | marketplace and payment fees, as a share of the price |
| max_fraction_of_new | A 0.80, B 0.65, C 0.50 | ceiling = new price times this, by grade |
| holding_cost_per_day | 0.05 | cost of keeping a unit one more day in stock (currency units) |
| target_days | none | the longest predicted days-to-sell a recommended price may have |
| sell_horizon_days | 90 | "expected" margin = margin x P(sold within this many days) |
| min_refurb_uplift | 10.0 | refurbish when it adds at least this much after its cost |
| p90_headroom | 1.0 | the search reaches up to P90 x this, never above the ceiling (1: SPEC) |
| upgrade_cost | none | cost of one grade step up by starting grade (B: to A, C: to B) |
| liquidation_fraction | 0.30 | liquidation value = this share of the P10 price |
| restock_reasons | changed_mind, sizing | reasons that let an unopened grade-A return restock |
| provenance_required_categories | none | categories whose units need a verified sale |
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from features.problems import DataError, Problem

Grade = Literal["A", "B", "C"]
ReturnReason = Literal["changed_mind", "sizing", "cosmetic", "defect", "not_as_described", "other"]

DEFAULT_MAX_FRACTION_OF_NEW: dict[str, float] = {"A": 0.80, "B": 0.65, "C": 0.50}
"""Ceiling as a share of the new price, by grade: resale stays meaningfully cheaper than new."""

POLICY_SUFFIXES = (".toml", ".yaml", ".yml")


class PolicyError(DataError):
    """A policy file is missing, unreadable or has a bad or unknown key; the message names both."""


class CategorySettings(BaseModel):
    """The guardrail settings in force for one category (the defaults when nothing overrides)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_margin: float = Field(
        0.20, ge=0.0, lt=1.0, description="Smallest margin as a share of the price."
    )
    fee_rate: float = Field(0.0, ge=0.0, lt=1.0, description="Fees as a share of the price.")
    max_fraction_of_new: dict[Grade, float] = Field(
        default_factory=lambda: dict(DEFAULT_MAX_FRACTION_OF_NEW),
        description="Ceiling price = new price x this fraction, by grade (A, B, C).",
    )
    holding_cost_per_day: float = Field(
        0.05, ge=0.0, description="Cost of one more day in stock, in currency units per unit."
    )
    target_days: float | None = Field(
        None, gt=0.0, description="Cap on predicted days-to-sell at the recommended price."
    )
    sell_horizon_days: float | None = Field(
        90.0,
        gt=0.0,
        description="Expected margin = margin x P(sold within this horizon); none: P = 1.",
    )
    min_refurb_uplift: float = Field(
        10.0, ge=0.0, description="Refurbish when it adds at least this much after its cost."
    )
    liquidation_fraction: float = Field(
        0.30, ge=0.0, le=1.0, description="Liquidation value as a share of the P10 price."
    )
    p90_headroom: float = Field(
        1.0,
        ge=1.0,
        description="The price search reaches up to P90 x this, never above the ceiling; 1 keeps "
        "SPEC's [P10, P90], more lets the demand model decide how far above P90 to ask.",
    )
    upgrade_cost: dict[Grade, float] = Field(
        default_factory=dict,
        description="Cost of refurbishing one grade step up, by the grade refurbished from "
        "(B: B to A, C: C to B), added to total_cost at the better grade. A grade not named: "
        "the unit's refurb_cost is taken as the upgrade's cost (already in total_cost).",
    )
    provenance_required: bool = Field(
        False,
        description="Units need a verified sale; in a policy file: for every category "
        "(provenance_required_categories names some).",
    )

    @field_validator("max_fraction_of_new", mode="before")
    @classmethod
    def _fill_grades(cls, value: Any) -> Any:
        # A file may name only some grades; the others keep their default fraction.
        return {**DEFAULT_MAX_FRACTION_OF_NEW, **value} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _consistent(self) -> CategorySettings:
        if self.min_margin + self.fee_rate >= 1.0:
            raise ValueError(
                f"min_margin + fee_rate must be below 1 (got {self.min_margin:g} + "
                f"{self.fee_rate:g}): no price could cover them"
            )
        bad = {g: v for g, v in self.max_fraction_of_new.items() if not v > 0.0}
        if bad:
            raise ValueError(f"max_fraction_of_new must be above 0, got {bad}")
        bad = {g: v for g, v in self.upgrade_cost.items() if not v >= 0.0 or g == "A"}
        if bad:
            raise ValueError(
                f"upgrade_cost is by the grade refurbished from (B or C) and at least 0, got {bad}"
            )
        return self


class CategoryOverride(BaseModel):
    """Per-category changes to the defaults; keys left out keep the default value.

    `max_fraction_of_new` may name only some grades; the others keep the default fraction.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_margin: float | None = None
    fee_rate: float | None = None
    max_fraction_of_new: dict[Grade, float] | None = None
    holding_cost_per_day: float | None = None
    target_days: float | None = None
    sell_horizon_days: float | None = None
    min_refurb_uplift: float | None = None
    liquidation_fraction: float | None = None
    p90_headroom: float | None = None
    upgrade_cost: dict[Grade, float] | None = None


def category_key(category: object) -> str:
    """How categories are matched: trimmed and case-insensitive ("Phone " is "phone")."""
    if category is None or (isinstance(category, float) and category != category):  # None, NaN
        return ""
    return str(category).strip().casefold()


class Policy(CategorySettings):
    """The whole policy: defaults, routing settings and per-category overrides.

    Attributes:
        restock_reasons: Return reasons that let an unopened grade-A return go back to stock.
        provenance_required_categories: Categories whose units must match the sales ledger.
        categories: Overrides by category name (matched trimmed and case-insensitively).
    """

    restock_reasons: tuple[ReturnReason, ...] = ("changed_mind", "sizing")
    provenance_required_categories: tuple[str, ...] = ()
    categories: dict[str, CategoryOverride] = Field(default_factory=dict)
    _effective: dict[str, CategorySettings] = PrivateAttr(default_factory=dict)
    _defaults: CategorySettings | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _build_categories(self) -> Policy:
        base = self._base_values()
        required = {category_key(c) for c in self.provenance_required_categories}
        effective: dict[str, CategorySettings] = {}
        names = set(self.categories) | set(self.provenance_required_categories)
        for name in sorted(names):
            key = category_key(name)
            if key in effective:
                raise ValueError(f"category {name!r} is given twice (names match ignoring case)")
            override = self.categories.get(name)
            values = dict(base)
            if override is not None:
                changes = override.model_dump(exclude_none=True)
                for merged in ("max_fraction_of_new", "upgrade_cost"):
                    if merged in changes:  # by grade: the grades not named keep the default
                        values[merged] = {**base[merged], **changes.pop(merged)}
                values.update(changes)
            try:
                values["provenance_required"] = self.provenance_required or key in required
                effective[key] = CategorySettings(**values)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(("categories", name, *(str(p) for p in first["loc"])))
                message = first["msg"].removeprefix("Value error, ")
                raise ValueError(f"key {where!r}: {message}") from None
        self._effective = effective
        self._defaults = CategorySettings(**base)
        return self

    def for_category(self, category: object) -> CategorySettings:
        """The settings in force for `category` (the defaults for an unknown or missing one)."""
        found = self._effective.get(category_key(category))
        return found if found is not None else self.defaults()

    def defaults(self) -> CategorySettings:
        """The settings for a category without overrides."""
        assert self._defaults is not None  # set by validation
        return self._defaults

    def _base_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CategorySettings.model_fields}


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        return tomllib.loads(text)
    return yaml.safe_load(text)


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p != "[key]")


def load_policy(path: Path | str | None) -> Policy:
    """Read a policy file (.toml, .yaml or .yml); None gives the built-in defaults.

    Raises:
        PolicyError: naming the file and, where there is one, the key at fault; unknown keys
            are refused by name.
    """
    if path is None:
        return Policy()
    path = Path(path)
    if path.suffix.lower() not in POLICY_SUFFIXES:
        raise PolicyError([Problem(path, "a policy file must end in .toml, .yaml or .yml")])
    if not path.is_file():
        raise PolicyError([Problem(path, "policy file not found")])
    try:
        raw = _read(path)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(path, f"not a valid policy file: {exc}")]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PolicyError([Problem(path, "the policy must be a table of settings")])
    try:
        return Policy(**raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = _key(error["loc"])
            if error["type"] == "extra_forbidden":
                message = f"unknown key {key!r}"
            elif key:
                message = f"key {key!r}: {error['msg']}"
            else:
                message = error["msg"].removeprefix("Value error, ")
            problems.append(Problem(path, message))
        raise PolicyError(problems) from exc
