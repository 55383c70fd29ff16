"""Carbon avoided by resold units, from per-category factors kept in `carbon_factors.toml`.

Each factor is the footprint of the new unit a resale replaces (kg CO2e per unit), with what it
counts and its public source; the file also holds the displacement share and the assumptions the
report shows with the figure. A resold unit is one sold whose route is not scrap.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.problems import DataError, Problem
from models.policy import category_key
from serving.analytics.models import CarbonFactor, CarbonFigures, CarbonRow

FACTORS_FILE = "carbon_factors.toml"


class _Factor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kg_co2e_per_unit: float = Field(gt=0)
    counts: str = Field(min_length=1)
    source: str = Field(min_length=1)


class CarbonFactors(BaseModel):
    """The factors file: displacement share, assumptions and one factor per category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    displacement: float = Field(ge=0, le=1)
    assumptions: list[str]
    categories: dict[str, _Factor]

    def per_unit(self, category: object) -> float | None:
        """kg CO2e avoided per resold unit of `category`, or None when it has no factor."""
        key = category_key(category)
        for name, factor in self.categories.items():
            if category_key(name) == key:
                return factor.kg_co2e_per_unit * self.displacement
        return None


def load_factors(path: Path | None = None) -> CarbonFactors:
    """The carbon factors: the packaged file, or `path`.

    Raises:
        DataError: naming the file and the key at fault.
    """
    if path is None:
        text = resources.files("serving.analytics").joinpath(FACTORS_FILE).read_text("utf-8")
        where = FACTORS_FILE
    else:
        where = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise DataError([Problem(where, f"cannot read: {exc}")]) from exc
    try:
        return CarbonFactors.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise DataError([Problem(where, f"not valid TOML: {exc}")]) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise DataError([Problem(where, f"key {key!r}: {first['msg']}")]) from exc


def carbon_figures(frame: pd.DataFrame, factors: CarbonFactors) -> CarbonFigures:
    """Carbon avoided by the resold units of the case frame, per category and in total."""
    resold = frame[frame["sold"] & (frame["route"] != "scrap")]
    rows, not_counted = [], 0
    for category, units in resold.groupby("category", sort=True):
        per_unit = factors.per_unit(category)
        if per_unit is None:
            not_counted += len(units)
        rows.append(
            CarbonRow(
                category=str(category),
                resold=len(units),
                kg_co2e_per_unit=per_unit,
                kg_co2e=len(units) * (per_unit or 0.0),
            )
        )
    total = sum(r.kg_co2e for r in rows)
    counted = len(resold) - not_counted
    return CarbonFigures(
        kg_co2e_total=total,
        kg_co2e_per_resold_unit=total / counted if counted else None,
        resold=len(resold),
        resold_not_counted=not_counted,
        by_category=rows,
        displacement=factors.displacement,
        assumptions=list(factors.assumptions),
        factors=[
            CarbonFactor(
                category=name,
                kg_co2e_per_unit=f.kg_co2e_per_unit,
                counts=f.counts,
                source=f.source,
            )
            for name, f in sorted(factors.categories.items())
        ],
    )
