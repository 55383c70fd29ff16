"""`regrade price`: the output contract, bad rows to the errors file, no half-written output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.decisions import DECISION_COLUMNS, LIST_COLUMNS, decide
from models.policy import Policy
from models.pricing.artifact import load_artifact, save_artifact
from models.pricing.predictor import PricingPredictor
from tests.pricing_data import fast_config
from training.cli import app
from training.pricing.train import train_pricing_model
from training.synth.items import make_items
from training.synth.outcomes import make_outcomes

TARGETS = ["sold_price", "days_listed", "sold"]
LISTED = ["resell", "restock", "refurbish"]


@pytest.fixture(scope="module")
def outcomes() -> pd.DataFrame:
    return make_outcomes(make_items(1500, seed=4), seed=4)[0]


@pytest.fixture(scope="module")
def model_dir(outcomes, tmp_path_factory):
    trained = train_pricing_model(outcomes, fast_config())
    return save_artifact(trained.artifact, tmp_path_factory.mktemp("pricing") / "model")


@pytest.fixture
def items(outcomes) -> pd.DataFrame:
    return outcomes.drop(columns=TARGETS).head(120).reset_index(drop=True)


def price(tmp_path, model_dir, frame: pd.DataFrame, *extra: str, suffix: str = ".csv"):
    source, target = tmp_path / f"items{suffix}", tmp_path / f"priced{suffix}"
    if suffix == ".csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source, index=False)
    args = ["price", "--input", str(source), "--output", str(target), "--model", str(model_dir)]
    result = CliRunner().invoke(app, [*args, *extra])
    return result, target


def read(path):
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


def test_output_has_the_input_then_the_contract_columns(tmp_path, model_dir, items):
    result, target = price(tmp_path, model_dir, items)
    assert result.exit_code == 0, result.output
    priced = read(target)
    assert list(priced.columns) == [*items.columns, *DECISION_COLUMNS, *LIST_COLUMNS]
    assert priced["item_id"].tolist() == items["item_id"].tolist()
    assert not (tmp_path / "priced.csv.errors.csv").exists()


def test_guardrails_hold_on_every_priced_row(tmp_path, model_dir, items):
    _, target = price(tmp_path, model_dir, items)
    priced = read(target)
    has_price = priced["recommended_price"].notna()
    assert has_price.mean() > 0.8
    rows = priced[has_price]
    assert (rows["recommended_price"] >= rows["floor_price"] - 0.01).all()
    capped = rows["ceiling_price"].notna()
    assert (rows.loc[capped, "recommended_price"] <= rows.loc[capped, "ceiling_price"] + 0.01).all()
    cost = rows[["acquisition_cost", "refurb_cost", "logistics_cost"]].fillna(0).sum(axis=1)
    np.testing.assert_allclose(rows["margin"], rows["recommended_price"] - cost, atol=0.011)
    assert set(priced["route"]) <= {"refurbish", "resell", "liquidate", "scrap", "restock"}
    assert priced["reasons"].notna().all()


def test_list_price_violations_are_reported(tmp_path, model_dir, items):
    items = items.copy()
    items.loc[0, "list_price"] = 0.01
    _, target = price(tmp_path, model_dir, items)
    first = read(target).iloc[0]
    assert "below_floor" in first["list_violations"]
    assert first["list_margin"] < 0


def test_bad_rows_go_to_the_errors_file_and_the_rest_are_priced(tmp_path, model_dir, items):
    items = items.astype({"acquisition_cost": object, "grade": object})
    items.loc[4, "acquisition_cost"] = -3
    items.loc[9, "grade"] = "Z"
    result, target = price(tmp_path, model_dir, items, "--chunk-rows", "7")
    assert result.exit_code == 0, result.output
    assert len(read(target)) == len(items) - 2
    errors = pd.read_csv(tmp_path / "priced.csv.errors.csv")
    assert errors[["row", "column"]].values.tolist() == [[5, "acquisition_cost"], [10, "grade"]]
    assert "negative value" in errors["message"].iloc[0]


def test_chunking_does_not_change_the_answer(tmp_path, model_dir, items):
    _, whole = price(tmp_path, model_dir, items)
    expected = read(whole)
    (tmp_path / "chunked").mkdir()
    _, chunked = price(tmp_path / "chunked", model_dir, items, "--chunk-rows", "13")
    pd.testing.assert_frame_equal(read(chunked), expected)


def test_parquet_in_and_out(tmp_path, model_dir, items):
    result, target = price(tmp_path, model_dir, items, suffix=".parquet")
    assert result.exit_code == 0, result.output
    assert len(read(target)) == len(items)


def test_whole_file_problem_leaves_the_old_output_untouched(tmp_path, model_dir, items):
    target = tmp_path / "priced.csv"
    target.write_text("previous,run\n1,2\n")
    result, _ = price(tmp_path, model_dir, items.drop(columns=["grade"]))
    assert result.exit_code == 2
    assert "column 'grade': required column is missing" in result.output
    assert target.read_text() == "previous,run\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.csv", "priced.csv"]


def test_missing_model_is_bad_input(tmp_path, items):
    result, _ = price(tmp_path, tmp_path / "no-model", items)
    assert result.exit_code == 2
    assert "no such model folder" in result.output


class CountingPredictor(PricingPredictor):
    """Counts the rows the time-to-sell model runs on, as is and at a better grade."""

    def __init__(self, artifact, grades: dict[str, str]):
        super().__init__(artifact)
        self.grades = grades
        self.rows: dict[tuple[str, str], int] = {}

    def _count(self, call: str, items, rows: np.ndarray) -> None:
        frame = getattr(items, "items", items).iloc[rows]
        original = frame["item_id"].map(self.grades)
        for kind, n in (("as_is", (frame["grade"] == original).sum()),
                        ("better", (frame["grade"] != original).sum())):  # fmt: skip
            self.rows[call, kind] = self.rows.get((call, kind), 0) + int(n)

    def predict(self, items):
        self._count("predict", items, np.arange(len(items)))
        return super().predict(items)

    def days_at_prices(self, items, prices):
        self._count("days", items, np.flatnonzero(np.isfinite(prices).any(axis=1)))
        return super().days_at_prices(items, prices)


def test_each_unit_is_priced_once_at_the_grade_it_is_listed_at(model_dir, outcomes):
    """A refurbished unit runs no as-is days or price search, and a unit that cannot be listed
    runs no price search; the decisions are those of pricing every unit both ways."""
    items = outcomes.drop(columns=TARGETS).head(600).reset_index(drop=True)
    counting = CountingPredictor(
        load_artifact(model_dir), dict(zip(items["item_id"], items["grade"], strict=True))
    )
    decided = decide(items, counting, Policy())
    routes = decided["route"].to_numpy()
    refurbished = int((routes == "refurbish").sum())
    assert refurbished > 20 and (routes == "liquidate").sum() > 20  # both cases occur
    rows = counting.rows
    assert rows["predict", "as_is"] == len(items) - refurbished
    assert rows["days", "as_is"] == np.isin(routes, ["resell", "restock"]).sum()
    assert refurbished <= rows["days", "better"] <= rows["predict", "better"]
    plain = decide(items, PricingPredictor(load_artifact(model_dir)), Policy())
    pd.testing.assert_frame_equal(decided, plain)


def test_regraded_matrix_equals_transforming_the_regraded_items(model_dir, items):
    predictor = PricingPredictor(load_artifact(model_dir))
    grades = np.where(items["grade"].to_numpy() == "C", "B", "A")
    fast = predictor.at_grade(items, grades)
    slow = predictor.prepare(items.assign(grade=grades))
    np.testing.assert_array_equal(fast.x, slow.x)
    np.testing.assert_allclose(fast.log_p50, slow.log_p50)
    assert (fast.items["grade"].to_numpy() == grades).all()


def test_days_at_nan_prices_are_nan_and_the_rest_unchanged(model_dir, items):
    predictor = PricingPredictor(load_artifact(model_dir))
    prices = np.outer(predictor.price_p50(items), [0.8, 1.0, 1.2])
    skipped = prices.copy()
    skipped[::3] = np.nan
    days, some = predictor.days_at_prices(items, prices), predictor.days_at_prices(items, skipped)
    assert np.isnan(some[::3]).all() and np.isfinite(days).all()
    keep = np.isfinite(skipped[:, 0])
    np.testing.assert_allclose(some[keep], days[keep])


def test_a_prepared_matrix_serves_the_decision_and_the_contributions(model_dir, items):
    """`/price` builds one feature matrix for the decision and its explanation (the transform
    is most of a one-item price's cost), and the answers are those of building it each time."""
    predictor = PricingPredictor(load_artifact(model_dir))
    ready = predictor.prepare(items)
    transform, calls = predictor.features.transform, []
    predictor.features.transform = lambda *a, **k: calls.append(1) or transform(*a, **k)
    try:
        decided = decide(items, predictor, Policy(), ready=ready)
        explained = predictor.contributions(ready)
    finally:
        predictor.features.transform = transform
    assert calls == []
    pd.testing.assert_frame_equal(decided, decide(items, predictor, Policy()))
    assert explained == predictor.contributions(items)
