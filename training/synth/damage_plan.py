"""What damage a unit of each grade carries: kinds by category, counts and severities by grade.

Grade A: nothing, or one barely visible blemish. Grade B: light cosmetic wear (scratches, scuffs,
stains, fading) at low severity. Grade C: structural damage (cracks, dents, tears) or heavy wear,
always at a severity well above B's, so the grades stay apart at small image sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LIGHT_KINDS: tuple[str, ...] = ("scratch", "scuff", "stain", "fading")
"""Cosmetic wear."""
STRUCTURAL_KINDS: tuple[str, ...] = ("crack", "dent", "tear")
"""Damage to the product's structure."""
KINDS: tuple[str, ...] = LIGHT_KINDS + STRUCTURAL_KINDS
SHOWING_KINDS: tuple[str, ...] = ("scratch", "scuff", "stain")
"""Light kinds that show at small sizes (fading is subtle): a worn unit always has one."""

CATEGORY_KINDS: dict[str, dict[str, float]] = {
    "phone": {"scratch": 3, "scuff": 2, "stain": 0.5, "fading": 0.5, "crack": 3, "dent": 1.5},
    "watch": {"scratch": 3, "scuff": 1.5, "stain": 1, "fading": 0.5, "crack": 3, "dent": 1.5},
    "sneaker": {"scratch": 1.5, "scuff": 3, "stain": 2.5, "fading": 1, "tear": 3, "dent": 1},
    "handbag": {"scratch": 1.5, "scuff": 2.5, "stain": 2.5, "fading": 1, "tear": 3, "dent": 1.5},
}
"""Relative weight of each kind per category; unknown categories weigh every kind equally."""


@dataclass(frozen=True)
class Damage:
    """One mark of damage: its kind, severity in [0, 1] and the seed that fixes its shape."""

    kind: str
    severity: float
    seed: int


@dataclass(frozen=True)
class GradePlan:
    """How much damage a grade carries.

    Attributes:
        blemish_rate: Chance of one barely visible light mark (grade A).
        light_counts: Possible numbers of light marks, drawn uniformly.
        light_severity: Severity range of light marks.
        structural_rate: Chance of structural damage; otherwise heavy wear only.
        structural_counts: Possible numbers of structural marks when there are any.
        structural_severity: Severity range of structural marks.
        wear_only_counts: Numbers of light marks when there is no structural damage (grade C).
    """

    blemish_rate: float = 0.0
    light_counts: tuple[int, ...] = (0,)
    light_severity: tuple[float, float] = (0.0, 0.0)
    structural_rate: float = 0.0
    structural_counts: tuple[int, ...] = (0,)
    structural_severity: tuple[float, float] = (0.0, 0.0)
    wear_only_counts: tuple[int, ...] = (0,)


BLEMISH_SEVERITY = (0.02, 0.08)
"""Severity of grade A's occasional blemish: there, but barely visible."""

GRADE_PLANS: dict[str, GradePlan] = {
    "A": GradePlan(blemish_rate=0.3),
    "B": GradePlan(light_counts=(2, 2, 3), light_severity=(0.45, 0.6)),
    "C": GradePlan(
        light_counts=(1, 2, 2),
        light_severity=(0.8, 1.0),
        structural_rate=0.9,
        structural_counts=(1, 2, 2),
        structural_severity=(0.85, 1.0),
        wear_only_counts=(4, 5),
    ),
}


def _kinds(category: str | None, allowed: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    weights = CATEGORY_KINDS.get(category or "", {})
    names = [k for k in allowed if weights.get(k, 0 if weights else 1) > 0]
    p = np.array([weights.get(k, 1.0) for k in names], float)
    return names, p / p.sum()


def _marks(
    rng: np.random.Generator,
    category: str | None,
    allowed: tuple[str, ...],
    count: int,
    severity: tuple[float, float],
) -> list[Damage]:
    """`count` marks of the `allowed` kinds, weighted for the category (`CATEGORY_KINDS`; all
    alike for an unknown one), each with a severity drawn uniformly from `severity` and a seed."""
    names, p = _kinds(category, allowed)
    return [
        Damage(
            kind=str(names[int(rng.choice(len(names), p=p))]),
            severity=round(float(rng.uniform(*severity)), 4),
            seed=int(rng.integers(2**62)),
        )
        for _ in range(count)
    ]


def plan_damage(grade: str, rng: np.random.Generator, category: str | None = None) -> list[Damage]:
    """Choose the damage a unit of `grade` carries: structural marks first, then light ones.

    Args:
        grade: "A", "B" or "C".
        rng: Decides kinds, counts, severities and the seed of each mark.
        category: Product category (phone, sneaker, handbag, watch) for plausible kinds.

    Returns:
        The marks to draw; empty for most grade A units.
    """
    if grade not in GRADE_PLANS:
        raise ValueError(f"unknown grade {grade!r}: expected one of {', '.join(GRADE_PLANS)}")
    plan = GRADE_PLANS[grade]
    if grade == "A":
        if rng.random() < plan.blemish_rate:
            return _marks(rng, category, LIGHT_KINDS[:2], 1, BLEMISH_SEVERITY)
        return []
    marks: list[Damage] = []
    structural = rng.random() < plan.structural_rate
    if structural:
        n = int(rng.choice(plan.structural_counts))
        marks += _marks(rng, category, STRUCTURAL_KINDS, n, plan.structural_severity)
    counts = plan.light_counts if structural or grade != "C" else plan.wear_only_counts
    n = int(rng.choice(counts))
    if n and not marks:  # the main mark of worn-only units is one that shows: no fading
        marks += _marks(rng, category, SHOWING_KINDS, 1, plan.light_severity)
        n -= 1
    marks += _marks(rng, category, LIGHT_KINDS, n, plan.light_severity)
    return marks
