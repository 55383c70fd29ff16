"""Kappa and confusion matrices against scikit-learn on random grades, and the edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from serving.analytics.agreement import cohen_kappa, confusion, quadratic_kappa


@pytest.mark.parametrize("seed", range(5))
def test_kappas_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    a = rng.choice(list("ABC"), 200)
    b = np.where(rng.random(200) < 0.6, a, rng.choice(list("ABC"), 200))
    matrix = confusion(a, b)
    assert matrix.sum() == 200 and np.trace(matrix) == (a == b).sum()
    assert cohen_kappa(matrix) == pytest.approx(cohen_kappa_score(a, b))
    assert quadratic_kappa(matrix) == pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))


def test_kappa_is_none_when_undefined_and_one_for_full_agreement():
    assert cohen_kappa(confusion([], [])) is None
    assert cohen_kappa(confusion(["A", "A"], ["A", "A"])) is None  # chance agreement is total
    assert cohen_kappa(confusion(["A", "B", "C"], ["A", "B", "C"])) == 1.0
    assert quadratic_kappa(confusion(["A", "C"], ["C", "A"])) == pytest.approx(-1.0)
    assert confusion(["A", "x"], ["A", "B"]).sum() == 1  # unknown labels are left out
