"""`regrade data synth-history`: the drawn history is reproducible and coherent, is stored in
one transaction, and gives the report something to show."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from serving.analytics.report import build_report
from serving.store.engine import make_engine
from serving.store.migrate import migrate
from training.cli import app
from training.synth.history import GRADERS, draw_history
from training.synth.history_store import case_count, write_history

END = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def history():
    return draw_history(400, end=END, months=3, seed=5, double_grading_share=0.3)


def test_the_same_seed_draws_the_same_history(history):
    again = draw_history(400, end=END, months=3, seed=5, double_grading_share=0.3)
    assert again.cases == history.cases and again.outcomes == history.outcomes
    other = draw_history(400, end=END, months=3, seed=6, double_grading_share=0.3)
    assert other.cases != history.cases


def test_the_history_is_coherent(history):
    cases = {c["case_id"]: c for c in history.cases}
    assert len(cases) == 400
    start = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert all(
        start <= c["created_at"] <= dt.datetime(2026, 7, 1, tzinfo=dt.UTC) for c in cases.values()
    )
    decided = {d["case_id"]: d for d in history.decisions}
    for case_id, decision in decided.items():
        case = cases[case_id]
        assert case["recommended_price"] is not None
        assert decision["price"] >= case["floor_price"] - 0.005
        assert decision["decided_at"] >= case["created_at"]
    for outcome in history.outcomes:
        case = cases[outcome["case_id"]]
        assert outcome["days_listed"] >= 0
        assert (outcome["sold_price"] is not None) == bool(outcome["sold"])
        if outcome["sold"] and case["route"] != "liquidate":
            assert outcome["sold_price"] >= case["floor_price"] - 0.005
    first = {r["case_id"]: r["grader_id"] for r in history.resolutions}
    assert history.second_gradings
    for second in history.second_gradings:
        assert second["case_id"] in first and second["grader_id"] != first[second["case_id"]]
        assert second["grader_id"] in (None, *GRADERS)
    routes = {c["route"] for c in cases.values()}
    assert {"resell", "liquidate", "refurbish"} <= routes


def test_a_stored_history_fills_the_report(history, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    migrate(engine)
    stored = write_history(engine, history)
    assert stored["cases"] == case_count(engine) == 400
    report = build_report(engine)
    assert report.window.cases == 400
    assert report.turnover.overall.listed == len(history.outcomes)
    assert report.grading.model_vs_grader.units == len(history.resolutions)
    resolved = sum(s["status"] == "resolved" for s in history.second_gradings)
    assert report.grading.double_graded.units == resolved
    assert report.margin.overall.margin_mean is not None and report.margin.below_floor == []
    assert report.carbon.kg_co2e_total > 0
    engine.dispose()


def test_a_failing_write_stores_nothing(history, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    migrate(engine)
    history.events.append(
        {
            "case_id": "ghost",
            "kind": "x",
            "actor": None,
            "payload": {},
            "at": dt.datetime(2026, 7, 1, tzinfo=dt.UTC),
        }
    )
    try:
        with pytest.raises(Exception, match="FOREIGN KEY"):
            write_history(engine, history)
    finally:
        history.events.pop()
    assert case_count(engine) == 0
    engine.dispose()


def test_the_command_fills_an_empty_store_once_unless_appending(tmp_path, monkeypatch):
    for name in ("REGRADE_DATABASE_URL", "REGRADE_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REGRADE_HOME", str(tmp_path / "home"))
    args = ["data", "synth-history", "--cases", "60", "--end", "2026-06-30", "--seed", "1"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "stored 60 cases" in first.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "already holds 60 cases" in again.output
    more = CliRunner().invoke(app, [*args[:-1], "2", "--append"])
    assert more.exit_code == 0, more.output
    engine = make_engine(f"sqlite:///{tmp_path / 'home' / 'regrade.db'}")
    assert case_count(engine) == 120
    engine.dispose()
    bad = CliRunner().invoke(app, ["data", "synth-history", "--end", "June"])
    assert bad.exit_code == 2 and "--end: 'June' is not a date" in bad.output
