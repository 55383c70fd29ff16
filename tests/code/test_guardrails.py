"""Guardrail formulas, price choice, list-price checks and policy files (SPEC worked example)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from features.problems import DataError
from models.guardrails import (
    LIST_VIOLATIONS,
    PRICE_REASONS,
    ceiling_price,
    check_list_price,
    choose_price,
    fees,
    floor_price,
    liquidation_value,
    margin,
    margin_pct,
    policy_arrays,
    total_cost,
)
from models.policy import Policy, PolicyError, load_policy
from tests.conftest import REPO

NO_TARGET = np.nan


def choose(p10, p50, p90, floor, ceiling, cost, days_at, **policy):
    settings = {
        "fee_rate": 0.0,
        "holding_cost_per_day": 0.0,
        "target_days": NO_TARGET,
        "sell_horizon_days": np.nan,
    }
    settings.update(policy)
    return choose_price(p10, p50, p90, floor, ceiling, cost, days_at, **settings)


def test_worked_example_from_the_field_holds_exactly():
    cost = total_cost(40.0, 15.0, 10.0)
    assert cost == 65.0
    assert margin(120.0, cost) == 55.0
    assert round(float(margin_pct(120.0, cost)), 3) == 0.458
    assert fees(120.0, 0.0) == 0.0


def test_missing_cost_terms_count_zero():
    cost = total_cost([40.0, np.nan, np.nan], None, [10.0, 5.0, np.nan])
    np.testing.assert_array_equal(cost, [50.0, 5.0, 0.0])


def test_floor_formula_keeps_exactly_the_minimum_margin():
    assert floor_price(65.0, 0.20, 0.0) == pytest.approx(81.25)
    floor = floor_price(65.0, 0.20, 0.10)
    assert floor == pytest.approx(65.0 / 0.70)
    assert margin_pct(floor, 65.0, 0.10) == pytest.approx(0.20)


def test_fee_rate_lowers_margin_by_the_fees():
    assert fees(120.0, 0.10) == pytest.approx(12.0)
    assert margin(120.0, 65.0, 0.10) == pytest.approx(43.0)
    assert margin_pct(120.0, 65.0, 0.10) == pytest.approx(43.0 / 120.0)
    assert np.isnan(margin_pct(0.0, 65.0))


def test_ceiling_by_grade_and_none_without_new_price():
    arrays = policy_arrays(Policy(), ["phone"] * 5, ["A", "B", "C", None, "A"])
    ceiling = ceiling_price([200.0, 200.0, 200.0, 200.0, np.nan], arrays.max_fraction)
    np.testing.assert_allclose(ceiling[:3], [160.0, 130.0, 100.0])
    assert np.isnan(ceiling[3]) and np.isnan(ceiling[4])


def test_per_category_override_applies_case_insensitively():
    policy = Policy(
        categories={"Phone": {"min_margin": 0.30, "max_fraction_of_new": {"A": 0.90}}},
        provenance_required_categories=("watch",),
    )
    arrays = policy_arrays(policy, ["phone", " PHONE ", "shoe", "Watch"], ["A", "B", "A", "A"])
    np.testing.assert_allclose(arrays.min_margin, [0.30, 0.30, 0.20, 0.20])
    np.testing.assert_allclose(arrays.max_fraction, [0.90, 0.65, 0.80, 0.80])
    np.testing.assert_array_equal(arrays.provenance_required, [False, False, False, True])
    assert np.isnan(arrays.target_days).all()
    floor = floor_price(65.0, arrays.min_margin, arrays.fee_rate)
    np.testing.assert_allclose(floor, [65 / 0.7, 65 / 0.7, 81.25, 81.25])


def test_liquidation_value_is_a_share_of_p10():
    assert liquidation_value(50.0, 0.3) == pytest.approx(15.0)


def flat_days(prices):
    return np.full(prices.shape, 10.0)


def test_without_time_cost_the_highest_allowed_price_wins():
    choice = choose(
        [100, 100], [130, 130], [160, 160], [81.25, 81.25], [150, np.nan], 65, flat_days
    )
    np.testing.assert_allclose(choice.recommended, [150.0, 160.0])
    assert choice.listable.all()
    np.testing.assert_allclose(choice.days, [10.0, 10.0])


def test_holding_cost_and_slow_sales_pull_the_price_down():
    def steep(prices):  # days explode above 120
        return 5.0 + np.maximum(prices - 120.0, 0.0) ** 2

    slow = choose([100], [130], [160], [81.25], [np.nan], 65, steep, holding_cost_per_day=1.0)
    fast = choose([100], [130], [160], [81.25], [np.nan], 65, flat_days, holding_cost_per_day=1.0)
    assert 118.0 <= slow.recommended[0] <= 125.0
    assert fast.recommended[0] == pytest.approx(160.0)


def test_sell_horizon_makes_long_sales_count_less():
    def linear(prices):  # 1 day per currency unit above 100
        return prices - 99.0

    capped = choose([100], [130], [160], [81.25], [np.nan], 65, linear, sell_horizon_days=10.0)
    free = choose([100], [130], [160], [81.25], [np.nan], 65, linear)
    assert free.recommended[0] == pytest.approx(160.0)
    assert capped.recommended[0] < 130.0


def test_target_days_caps_predicted_days():
    def linear(prices):
        return prices / 10.0

    choice = choose([100], [130], [160], [81.25], [np.nan], 65, linear, target_days=12.0)
    assert choice.days[0] <= 12.0
    assert 115.0 <= choice.recommended[0] <= 120.0
    assert choice.codes()[0] == ""
    missed = choose([100], [130], [160], [81.25], [np.nan], 65, linear, target_days=5.0)
    assert missed.recommended[0] == pytest.approx(100.0)  # the fastest allowed price
    assert missed.codes()[0] == "target_days_missed"


def test_when_band_and_policy_do_not_meet():
    floor = [81.25, 81.25, 81.25, 81.25, 200.0]
    ceiling = [150.0, np.nan, 90.0, np.nan, 150.0]
    p10 = [100.0, 40.0, 95.0, np.nan, 100.0]
    p90 = [140.0, 70.0, 120.0, 150.0, 160.0]
    choice = choose(p10, [120, 55, 110, 120, 130], p90, floor, ceiling, 65, flat_days)
    assert choice.codes().tolist() == [
        "",
        "no_profitable_price",
        "capped_at_ceiling",
        "no_market_price",
        "floor_above_ceiling",
    ]
    assert choice.recommended[1] == pytest.approx(81.25)  # never below the floor
    assert choice.recommended[2] == pytest.approx(90.0)
    assert np.isnan(choice.recommended[3:]).all()
    assert choice.listable.tolist() == [True, False, True, False, False]


def test_priced_at_floor_when_the_band_only_reaches_the_floor():
    choice = choose([50], [70], [81.25], [81.25], [np.nan], 65, flat_days)
    assert choice.recommended[0] == 81.25
    assert choice.codes()[0] == "priced_at_floor"


def test_days_at_must_return_one_value_per_candidate():
    with pytest.raises(ValueError, match="shape"):
        choose([100], [130], [160], [81.25], [np.nan], 65, lambda p: p[:, 0])


def test_list_price_violations_and_margins():
    check = check_list_price(
        [120.0, 80.0, 60.0, 140.0, np.nan], 65.0, 81.25, [130.0, 130.0, 130.0, 130.0, 130.0]
    )
    assert check.codes().tolist() == [
        "",
        "below_floor",
        "below_floor;negative_margin",
        "above_ceiling",
        "",
    ]
    assert check.margin[0] == 55.0 and round(float(check.margin_pct[0]), 3) == 0.458
    assert np.isnan(check.margin[4]) and np.isnan(check.margin_pct[4])
    assert check_list_price([81.25], 65.0, 81.25, np.nan).codes()[0] == ""


def test_every_code_has_a_sentence():
    for catalogue in (PRICE_REASONS, LIST_VIOLATIONS):
        assert all(len(sentence) > 20 and sentence.endswith(".") for sentence in catalogue.values())


POLICY_TOML = """
min_margin = 0.25
fee_rate = 0.10
holding_cost_per_day = 0.2
target_days = 30
provenance_required_categories = ["watch"]

[max_fraction_of_new]
C = 0.40

[categories.phone]
min_margin = 0.15
max_fraction_of_new = { A = 0.85 }
"""

POLICY_YAML = """
min_margin: 0.25
fee_rate: 0.10
holding_cost_per_day: 0.2
target_days: 30
provenance_required_categories: [watch]
max_fraction_of_new: {C: 0.40}
categories:
  phone:
    min_margin: 0.15
    max_fraction_of_new: {A: 0.85}
"""


@pytest.mark.parametrize(("name", "text"), [("p.toml", POLICY_TOML), ("p.yaml", POLICY_YAML)])
def test_policy_file_toml_and_yaml(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    policy = load_policy(path)
    assert policy.min_margin == 0.25 and policy.fee_rate == 0.10 and policy.target_days == 30
    assert policy.max_fraction_of_new == {"A": 0.80, "B": 0.65, "C": 0.40}
    phone = policy.for_category("Phone")
    assert phone.min_margin == 0.15 and phone.fee_rate == 0.10
    assert phone.max_fraction_of_new == {"A": 0.85, "B": 0.65, "C": 0.40}
    assert policy.for_category("watch").provenance_required
    assert not policy.for_category("shoe").provenance_required
    assert policy.for_category(None).min_margin == 0.25


def test_defaults_and_the_example_file():
    policy = load_policy(None)
    assert (policy.min_margin, policy.fee_rate, policy.target_days) == (0.20, 0.0, None)
    assert policy.max_fraction_of_new == {"A": 0.80, "B": 0.65, "C": 0.50}
    assert policy.holding_cost_per_day == 0.05 and policy.sell_horizon_days == 90.0
    assert policy.restock_reasons == ("changed_mind", "sizing")
    example = load_policy(REPO / "docs" / "policy.example.toml")
    assert example.for_category("phone").min_margin != example.min_margin
    # upgrade costs merge grade by grade, and reach the rows of their category and grade
    assert example.for_category("phone").upgrade_cost == {"B": 60.0, "C": 25.0}
    arrays = policy_arrays(example, ["phone", "watch", "phone", "phone"], ["B", "B", "C", "A"])
    np.testing.assert_array_equal(arrays.upgrade_cost[:3], [60.0, 40.0, 25.0])
    assert np.isnan(arrays.upgrade_cost[3])  # grade A has no better grade


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("p.toml", "min_margn = 0.2\n", "unknown key 'min_margn'"),
        ("p.toml", "[categories.phone]\nfee = 0.1\n", "unknown key 'categories.phone.fee'"),
        ("p.yaml", "min_margin: 1.5\n", "key 'min_margin'"),
        ("p.yaml", "max_fraction_of_new: {D: 0.5}\n", "key 'max_fraction_of_new.D'"),
        ("p.toml", "min_margin = 0.6\nfee_rate = 0.5\n", "min_margin + fee_rate"),
        ("p.toml", "[categories.phone]\nfee_rate = 0.9\n", "key 'categories.phone'"),
        ("p.toml", "target_days = 'soon'\n", "key 'target_days'"),
        ("p.toml", "min_margin = \n", "not a valid policy file"),
        ("p.yml", "- 1\n- 2\n", "must be a table of settings"),
        ("p.json", "{}", "must end in .toml, .yaml or .yml"),
        ("p.toml", "[upgrade_cost]\nA = 10\n", "upgrade_cost is by the grade refurbished from"),
        ("p.toml", "[upgrade_cost]\nB = -1\n", "upgrade_cost"),
        ("p.toml", "p90_headroom = 0.9\n", "key 'p90_headroom'"),
    ],
)
def test_bad_policy_files_name_the_file_and_key(tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert isinstance(info.value, DataError) and isinstance(info.value, ValueError)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "absent.toml")


def test_prices_100k_rows_fast():
    n = 100_000
    rng = np.random.default_rng(0)
    grades = rng.choice(np.array(["A", "B", "C"], dtype=object), n)
    categories = rng.choice(np.array(["phone", "shoe", "watch"], dtype=object), n)
    policy = Policy(categories={"phone": {"min_margin": 0.15, "target_days": 30}})
    p50 = rng.uniform(20.0, 1200.0, n)
    start = time.perf_counter()
    arrays = policy_arrays(policy, categories, grades)
    cost = total_cost(rng.uniform(5, 300, n), rng.uniform(0, 50, n), rng.uniform(2, 20, n))
    floor = floor_price(cost, arrays.min_margin, arrays.fee_rate)
    ceiling = ceiling_price(rng.uniform(50, 1500, n), arrays.max_fraction)
    choice = choose_price(
        0.7 * p50,
        p50,
        1.4 * p50,
        floor,
        ceiling,
        cost,
        lambda prices: 5.0 + 20.0 * (prices / p50[:, None]) ** 3,
        fee_rate=arrays.fee_rate,
        holding_cost_per_day=arrays.holding_cost_per_day,
        target_days=arrays.target_days,
        sell_horizon_days=arrays.sell_horizon_days,
    )
    codes = choice.codes()
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0  # about 1 s on a shared 2-core machine
    assert len(codes) == n and np.all(choice.recommended[choice.listable] >= floor[choice.listable])


def test_demand_curve_interpolates_between_a_few_model_runs():
    from models.decisions import demand_curve

    calls = []

    def days_at(prices):  # a power law: exact under log-log interpolation
        calls.append(prices.shape)
        return 30.0 * (prices / 100.0) ** 2.5

    prices = np.array([[80.0, 90.0, 100.0, 120.0, 95.0], [10.0, 12.0, 14.0, 16.0, 11.0]])
    days = demand_curve(days_at, prices, anchors=3)
    np.testing.assert_allclose(days, 30.0 * (prices / 100.0) ** 2.5, rtol=1e-9)
    assert calls == [(2, 3)]  # the model ran at 3 prices per row, once

    def steps(prices):  # any monotone curve stays monotone
        return np.where(prices < 100.0, 10.0, 40.0)

    grid = np.linspace(50.0, 150.0, 21)[None, :]
    curve = demand_curve(steps, grid, anchors=3)
    assert np.all(np.diff(curve[0]) >= 0)
    assert curve[0, 0] == pytest.approx(10.0) and curve[0, -1] == pytest.approx(40.0)
    assert demand_curve(days_at, prices[:, :2], anchors=3).shape == (2, 2)  # few candidates: exact


def test_demand_curve_from_one_known_point_and_one_model_run():
    from models.decisions import demand_curve

    calls = []

    def days_at(prices):
        calls.append(prices.shape)
        return 30.0 * (prices / 100.0) ** 2.5

    prices = np.array([[80.0, 90.0, 100.0, 120.0], [10.0, 12.0, 14.0, 16.0]])
    known = (np.array([150.0, 11.0]), 30.0 * (np.array([150.0, 11.0]) / 100.0) ** 2.5)
    days = demand_curve(days_at, prices, known=known)
    np.testing.assert_allclose(days, 30.0 * (prices / 100.0) ** 2.5, rtol=1e-9)
    assert calls == [(2, 1)]  # one more run per unit

    def falling(prices):  # a curve that falls with the price is not trusted: flat instead
        return 1000.0 / prices

    at = np.array([100.0, 12.0])
    flat = demand_curve(falling, prices, known=(at, 1000.0 / at))
    np.testing.assert_allclose(flat, (1000.0 / at)[:, None] * np.ones((1, 4)))
    missing = (np.array([100.0, np.nan]), np.array([5.0, 5.0]))  # falls back to anchors
    assert demand_curve(days_at, prices, known=missing).shape == (2, 4)
