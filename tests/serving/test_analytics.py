"""The analytics figures on a store with known cases, decisions and outcomes (SQLite and
PostgreSQL): every number below is worked out by hand from `tests/serving/analytics_data.py`."""

from __future__ import annotations

import datetime as dt

import pytest

from models.policy import Policy
from serving.analytics import cases
from serving.analytics.carbon import CarbonFactors, load_factors
from serving.analytics.report import build_report
from tests.serving.analytics_data import build_known_store

approx = pytest.approx
FIXED = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)


@pytest.fixture
def known(store):
    build_known_store(store)
    return store


def _by(rows, name):
    return next(r for r in rows if r.group == name)


def test_margins_on_sold_units(known):
    margin = build_report(known.engine).margin
    m = margin.overall
    assert (m.sold, m.revenue, m.margin_total, m.margin_mean) == (5, 470.0, 145.0, 29.0)
    assert m.margin_pct == approx(145 / 470)
    assert m.recommended_margin_mean == approx((55 + 65 + 25 + 35) / 4)
    assert m.margin_gap_mean == approx((0 - 30 - 10 + 40) / 4)
    phone = _by(margin.by["category"], "phone")
    assert (phone.sold, phone.revenue, phone.margin_total) == (4, 390.0, 130.0)
    assert [r.group for r in margin.by["month"]] == ["2026-01", "2026-02"]
    assert [r.margin_total for r in margin.by["month"]] == [90.0, 55.0]
    assert {r.group: r.sold for r in margin.by["source"]} == {
        "buy_back": 1,
        "return": 1,
        "trade_in": 3,
    }
    assert {r.group: r.sold for r in margin.by["grade"]} == {"B": 3, "C": 2}
    below = {b.item_id: b.reason for b in margin.below_floor}
    assert below == {"c3": "sold_below_decided_price"}  # c5, liquidated, has no listing floor


def test_fees_come_from_the_policy_per_category(known):
    policy = Policy(categories={"phone": {"fee_rate": 0.1}})
    margin = build_report(known.engine, policy=policy).margin
    assert _by(margin.by["category"], "phone").margin_total == approx(130 - 0.1 * 390)
    assert _by(margin.by["category"], "sneaker").margin_total == approx(15.0)


def test_sell_through_turnover_and_ageing(known):
    turnover = build_report(known.engine).turnover
    t = turnover.overall
    assert (t.listed, t.sold, t.sell_through) == (6, 5, approx(5 / 6))
    assert (t.days_to_sell_mean, t.days_to_sell_median) == (30.0, 20.0)
    assert t.sold_within == {"30": 0.5, "60": approx(4 / 6), "90": approx(5 / 6)}
    assert t.turnover_per_year == approx(5 * 365 / 250)  # c4's newest outcome: 100 days
    assert [(a.bucket, a.units, a.cost) for a in turnover.ageing] == [
        ("0-30", 0, 0.0),
        ("31-60", 0, 0.0),
        ("61-90", 0, 0.0),
        ("91+", 1, 65.0),
    ]
    sneaker = _by(turnover.by["category"], "sneaker")
    assert (sneaker.listed, sneaker.sold, sneaker.sold_within["90"]) == (2, 1, 0.5)


def test_pricing_decisions_and_band_coverage(known):
    pricing = build_report(known.engine).pricing
    o = pricing.overall
    assert (o.decided, o.approved, o.overridden) == (5, 3, 2)
    assert (o.approve_rate, o.override_rate) == (approx(0.6), approx(0.4))
    assert o.override_change_mean == approx(((110 - 130) / 130 + (100 - 90) / 90) / 2)
    a1, a2 = pricing.by_analyst
    assert (a1.group, a1.decided, a1.overridden, a1.overrides_up) == ("a1", 3, 1, 1)
    assert (a2.group, a2.decided, a2.overrides_down) == ("a2", 2, 1)
    assert a2.override_change_mean == approx(-20 / 130)
    band = pricing.band
    assert (band.sold, band.coverage, band.below_p10, band.above_p90) == (5, 0.6, 0.2, 0.2)
    assert band.sold_to_p50_mean == approx((1 + 100 / 130 + 80 / 70 + 30 / 45 + 140 / 100) / 5)


def test_model_against_grader_agreement_and_kappa(known):
    grading = build_report(known.engine).grading
    overall = grading.model_vs_grader
    assert overall.confusion == [[1, 0, 0], [1, 1, 1], [0, 0, 0]]  # rows grader, columns model
    assert (overall.units, overall.agreement) == (4, 0.5)
    assert overall.kappa == approx(3 / 11)
    assert overall.qwk == approx(3 / 7)
    g1, g2 = grading.by_grader
    assert (g1.group, g1.units, g1.kappa) == ("g1", 2, approx(0.0))
    assert (g2.group, g2.units, g2.kappa) == ("g2", 2, approx(1 / 3))
    assert grading.double_graded.units == 0 and grading.double_graded.kappa is None


def test_refurbishment_routes_and_carbon(known):
    report = build_report(known.engine)
    refurb = report.refurbishment.overall
    assert (refurb.units, refurb.refurb_cost_mean, refurb.sold) == (1, 15.0, 1)
    assert (refurb.uplift_mean, refurb.net_uplift_mean) == (40.0, 25.0)
    routes = report.routes
    assert routes.overall.counts == {
        "liquidate": 1,
        "refurbish": 1,
        "resell": 1,
        "review": 4,
        "scrap": 1,
    }
    assert routes.overall.shares["review"] == 0.5
    assert [(r.group, r.units) for r in routes.by_month] == [("2026-01", 2), ("2026-02", 6)]
    assert (routes.liquidated_units, routes.liquidated_sold, routes.liquidated_recovered) == (
        1,
        1,
        30.0,
    )
    assert (routes.scrapped_units, routes.scrapped_cost) == (1, 65.0)
    carbon = report.carbon
    assert (carbon.resold, carbon.resold_not_counted) == (5, 0)
    assert carbon.kg_co2e_total == approx(4 * 56 + 14)
    assert carbon.kg_co2e_per_resold_unit == approx((4 * 56 + 14) / 5)
    assert carbon.assumptions and all(f.source for f in carbon.factors)


def test_categories_without_a_carbon_factor_are_not_counted(known):
    base = load_factors()
    factors = CarbonFactors(
        displacement=0.5,
        assumptions=["half"],
        categories={"Phone": base.categories["phone"]},
    )
    carbon = build_report(known.engine, factors=factors).carbon
    assert (carbon.resold, carbon.resold_not_counted) == (5, 1)
    assert carbon.kg_co2e_total == approx(4 * 56 * 0.5)
    assert carbon.kg_co2e_per_resold_unit == approx(28.0)
    sneaker = next(r for r in carbon.by_category if r.category == "sneaker")
    assert (sneaker.kg_co2e_per_unit, sneaker.kg_co2e) == (None, 0.0)


def test_the_window_selects_cases_by_intake_day(known):
    january = build_report(known.engine, until=dt.date(2026, 1, 15))
    assert january.window.cases == 2
    assert january.margin.overall.margin_total == 90.0
    february = build_report(known.engine, since=dt.date(2026, 1, 16))
    assert february.window.cases == 6
    assert february.grading.model_vs_grader.units == 2
    assert build_report(known.engine, since=dt.date(2026, 3, 1)).window.cases == 0


def test_an_empty_store_reports_nothing_computable(store):
    report = build_report(store.engine)
    assert report.window.cases == 0
    assert report.margin.overall.margin_mean is None
    assert report.turnover.overall.sell_through is None
    assert report.grading.model_vs_grader.kappa is None
    assert report.carbon.kg_co2e_per_resold_unit is None


def test_cases_are_read_page_by_page_in_intake_order(known, monkeypatch):
    whole = build_report(known.engine, now=FIXED)
    monkeypatch.setattr(cases, "BATCH_ROWS", 3)  # 8 cases, 6 of them at the same moment
    frame = cases.load_cases(known.engine)
    assert len(frame) == 8 and frame["case_id"].is_unique
    assert set(frame["item_id"][:2]) == {"c1", "c2"}  # January first
    assert build_report(known.engine, now=FIXED) == whole
    february = build_report(known.engine, since=dt.date(2026, 1, 16))
    assert (february.window.cases, february.turnover.overall.listed) == (6, 4)
