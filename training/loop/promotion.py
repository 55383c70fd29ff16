"""The promotion rule: may a challenger replace the champion? (policy: `Settings.promotion`)

Every check runs and is reported; the challenger passes only when all pass:
- primary: better with the bootstrap 95% interval of the difference excluding zero, or, when the
  challenger is cheaper (a model folder `cheaper_by` smaller), non-inferior: the whole interval
  within the margin;
- calibration band: grader `ece` at most `max_ece` and `auto_accuracy` at least its own target
  accuracy less the slack (a grader that answers nothing on its own, coverage 0, passes it);
  pricing `interval_coverage_80` inside `coverage_band`;
- guardrails: no listed metric worse than the champion's by more than its tolerance (a metric
  neither model can compute on the holdout is skipped, and said so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models.kinds import GRADER
from serving.settings import PromotionPolicy
from training.loop.compare import LOWER_IS_BETTER, Comparison


@dataclass(frozen=True)
class Check:
    """One rule's verdict and why."""

    name: str
    passed: bool
    detail: str


@dataclass
class Decision:
    """The verdict on a challenger: promote or not, with every check."""

    checks: list[Check] = field(default_factory=list)

    @property
    def promote(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def reason(self) -> str:
        """One line: the failed checks' details, or the passed primary check's."""
        failed = [c.detail for c in self.checks if not c.passed]
        if failed:
            return "refused: " + "; ".join(failed)
        return "promoted: " + self.checks[0].detail

    def to_dict(self) -> dict[str, Any]:
        """For comparison.json."""
        return {
            "promote": self.promote,
            "reason": self.reason,
            "checks": [c.__dict__ for c in self.checks],
        }


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        return float(value)
    return None


def _primary(comparison: Comparison, policy: PromotionPolicy) -> Check:
    key = comparison.primary
    low, high = comparison.interval
    shown = f"{key} {comparison.difference:+.4f} [{low:+.4f}, {high:+.4f}]"
    if low != low or high != high:  # NaN: no interval
        return Check("primary", False, f"{key}: no bootstrap interval")
    lower = key in LOWER_IS_BETTER
    margin = policy.grader_margin if comparison.kind is GRADER else policy.pricing_margin
    cheaper = comparison.cheaper(policy.cheaper_by)
    better = high < 0 if lower else low > 0
    if better:
        return Check("primary", True, f"{shown} better, interval excludes 0")
    inferior_bound = high < margin if lower else low > -margin
    if cheaper and inferior_bound:
        return Check(
            "primary", True, f"{shown} within the margin {margin:g} and the challenger is cheaper"
        )
    worse = low > 0 if lower else high < 0
    why = "worse, interval excludes 0" if worse else "not better, interval includes 0"
    if cheaper:
        why += f" and not within the margin {margin:g}"
    return Check("primary", False, f"{shown} {why}")


def _bands(comparison: Comparison, policy: PromotionPolicy) -> list[Check]:
    got = comparison.challenger
    checks = []
    if comparison.kind is GRADER:
        ece = _number(got.get("ece"))
        checks.append(
            Check("ece", ece is not None and ece <= policy.max_ece,
                  f"ece {ece if ece is None else round(ece, 4)} vs at most {policy.max_ece:g}")
        )  # fmt: skip
        target = _number(comparison.extra.get("target_accuracy"))
        auto = _number(got.get("auto_accuracy"))
        if auto is None and _number(got.get("auto_coverage")) == 0:
            # A grader that answers nothing on its own sends every unit to review: its
            # promise holds trivially, and the primary metric decides.
            checks.append(Check("auto_accuracy", True, "answers nothing on its own (coverage 0)"))
            return checks
        floor = None if target is None else target - policy.auto_accuracy_slack
        ok = auto is not None and (floor is None or auto >= floor)
        shown = "null" if auto is None else f"{auto:.4f}"
        checks.append(
            Check("auto_accuracy", ok, f"auto_accuracy {shown} vs at least "
                  f"{'n/a' if floor is None else round(floor, 4)} (target less slack)")
        )  # fmt: skip
        return checks
    coverage = _number(got.get("interval_coverage_80"))
    low, high = policy.coverage_band
    ok = coverage is not None and low <= coverage <= high
    shown = "null" if coverage is None else f"{coverage:.4f}"
    checks.append(
        Check("interval_coverage_80", ok, f"interval_coverage_80 {shown} vs [{low:g}, {high:g}]")
    )
    return checks


def _guardrails(comparison: Comparison, policy: PromotionPolicy) -> list[Check]:
    tolerances = (
        policy.grader_guardrails if comparison.kind is GRADER else policy.pricing_guardrails
    )
    checks = []
    for key, tolerance in tolerances.items():
        old, new = _number(comparison.champion.get(key)), _number(comparison.challenger.get(key))
        if old is None or new is None:
            checks.append(Check(key, True, f"{key}: not computable on this holdout (skipped)"))
            continue
        worse = (new - old) if key in LOWER_IS_BETTER else (old - new)
        checks.append(
            Check(key, worse <= tolerance,
                  f"{key} {new:.4f} vs champion {old:.4f} (worse by {max(worse, 0):.4f}, "
                  f"tolerance {tolerance:g})")
        )  # fmt: skip
    return checks


def decide(comparison: Comparison, policy: PromotionPolicy) -> Decision:
    """Run every check of the rule on a comparison."""
    return Decision(
        [
            _primary(comparison, policy),
            *_bands(comparison, policy),
            *_guardrails(comparison, policy),
        ]
    )
