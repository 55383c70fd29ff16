"""Drift statistics: PSI is near zero for the same distribution and large for a shifted one;
the disagreement rate is counted per week of resolution."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.loop.drift import disagreement_over_time, psi_categorical, psi_numeric


def test_psi_numeric_separates_stable_from_shifted():
    rng = np.random.default_rng(0)
    reference = pd.Series(rng.normal(0, 1, 5000))
    assert psi_numeric(reference, pd.Series(rng.normal(0, 1, 2000))) < 0.02
    assert psi_numeric(reference, pd.Series(rng.normal(1, 1, 2000))) > 0.2
    with_missing = pd.Series([*rng.normal(0, 1, 1000), *[None] * 1000])
    assert psi_numeric(reference, with_missing) > 0.2  # missing values are a bin of their own
    assert psi_numeric(pd.Series([], dtype=float), reference) is None


def test_psi_categorical_counts_new_levels():
    reference = pd.Series(["phone"] * 50 + ["sneaker"] * 50)
    assert psi_categorical(reference, pd.Series(["phone", "sneaker"] * 20)) < 1e-9
    assert psi_categorical(reference, pd.Series(["handbag"] * 40)) > 1.0


def test_disagreement_is_counted_per_week():
    cases = pd.DataFrame(
        {
            "model_grade": ["A", "A", "B", "C", "B"],
            "final_grade": ["A", "B", "B", "A", None],
            "resolved_at": pd.to_datetime(
                ["2026-01-05", "2026-01-06", "2026-01-13", "2026-01-14", "2026-01-14"], utc=True
            ),
        }
    )
    weeks = disagreement_over_time(cases)
    assert weeks["resolved"].tolist() == [2, 2]
    assert weeks["disagreement"].tolist() == [0.5, 0.5]
