"""`regrade report` end to end on a SQLite home: files, the self-contained page, the table,
and bad input (exit 2 naming the option or the missing database)."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from serving.analytics.plots import PLOTS
from serving.store.writes import open_store
from tests.serving.analytics_data import build_known_store
from training.cli import app

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in ("REGRADE_DATABASE_URL", "REGRADE_SETTINGS", "REGRADE_POLICY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REGRADE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_report_writes_json_plots_and_one_self_contained_page(home, tmp_path):
    home.mkdir()
    store = open_store(f"sqlite:///{home / 'regrade.db'}", home / "photos")
    build_known_store(store)
    store.engine.dispose()
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--out", str(out), "--since", "2026-01-01"])
    assert result.exit_code == 0, result.output
    figures = json.loads((out / "report.json").read_text())
    assert figures["window"]["cases"] == 8
    assert figures["margin"]["overall"]["margin_total"] == 145.0
    assert figures["grading"]["model_vs_grader"]["kappa"] == pytest.approx(3 / 11)
    for name in PLOTS:
        assert (out / "plots" / f"{name}.png").read_bytes().startswith(PNG)
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(PLOTS)
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from elsewhere
    assert "Carbon avoided" in page and "Cheah" in page
    assert re.search(r"margin per unit sold\s+29\.00", result.output)
    assert re.search(r"model vs grader kappa\s+0\.273 \(4 cases\)", result.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-02-30"], "--since: '2026-02-30' is not a date"),
        (["--since", "2026-03-01", "--until", "2026-02-01"], "is after --until"),
    ],
)
def test_bad_dates_exit_2_naming_the_option(home, args, message):
    result = CliRunner().invoke(app, ["report", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_missing_database_exits_2_naming_it(home):
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 2
    assert "regrade.db: no case database here" in result.output
