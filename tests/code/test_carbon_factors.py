"""The packaged carbon factors name their source and what they count; a bad factors file is
bad input naming the file and the key."""

from __future__ import annotations

import pytest

from features.problems import DataError
from serving.analytics.carbon import load_factors


def test_the_packaged_factors_name_their_sources():
    factors = load_factors()
    assert 0 < factors.displacement <= 1 and factors.assumptions
    assert {"phone", "sneaker"} <= set(factors.categories)
    for factor in factors.categories.values():
        assert factor.kg_co2e_per_unit > 0 and factor.source and factor.counts
    assert factors.per_unit(" Phone ") == 56.0 * factors.displacement
    assert factors.per_unit("handbag") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("displacement = 2\nassumptions = []\n[categories]\n", "key 'displacement'"),
        (
            "displacement = 1\nassumptions = []\n[categories.x]\nkg_co2e_per_unit = -1\n"
            'counts = "c"\nsource = "s"\n',
            "key 'categories.x.kg_co2e_per_unit'",
        ),
        (
            "displacement = 1\nassumptions = []\n[categories.x]\nkg_co2e_per_unit = 3\n"
            'counts = "c"\n',
            "key 'categories.x.source'",
        ),
        ("displacement = ", "not valid TOML"),
    ],
)
def test_a_bad_factors_file_names_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "factors.toml"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as error:
        load_factors(path)
    assert str(path) in str(error.value)
    with pytest.raises(DataError, match="cannot read"):
        load_factors(tmp_path / "missing.toml")
