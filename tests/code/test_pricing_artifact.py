"""The pricing artifact round trip (and folders saved before its metadata block), the run
config, and the train/evaluate commands."""

from __future__ import annotations

import hashlib
import json
import shutil

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.problems import DataError
from models.artifact import ArtifactError, ArtifactMeta
from models.kinds import PRICING
from models.pricing.artifact import load_artifact, save_artifact
from models.pricing.predictor import OUTPUT_COLUMNS, PricingPredictor
from tests.pricing_data import fast_config, make_table
from training.pricing.config import load_config
from training.pricing.train import train_pricing_model

ITEM_COLUMNS = ["item_id", "category", "brand", "grade", "age_months", "new_price", "list_price"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    trained = train_pricing_model(make_table(800, seed=1), fast_config())
    trained.artifact.meta = ArtifactMeta.new(PRICING, metrics={"rmsle": 0.1})
    return save_artifact(trained.artifact, tmp_path_factory.mktemp("pricing") / "model"), trained


def items() -> pd.DataFrame:
    frame = make_table(50, seed=9)
    return frame.drop(columns=["sold_price", "days_listed", "sold"])


def test_round_trip_gives_identical_outputs(model_dir):
    folder, trained = model_dir
    price = trained.artifact.price
    assert price.blend > 0 and price.raw_blend > 0  # this table's P50 blends in both partners
    assert sorted(p.name for p in folder.iterdir()) == [
        "artifact.json",
        "metrics.json",
        "price_p10.txt",
        "price_p50.txt",
        "price_p50_extra.txt",
        "price_p50_raw.txt",
        "price_p90.txt",
        "pricing.json",
        "tts.txt",
        "tts_naive.txt",
    ]
    fresh, loaded = PricingPredictor(trained.artifact), PricingPredictor.load(folder)
    frame = items()
    pd.testing.assert_frame_equal(fresh.predict(frame), loaded.predict(frame))
    prices = np.outer(np.ones(len(frame)), [50.0, 100.0, 400.0])
    np.testing.assert_array_equal(
        fresh.days_at_prices(frame, prices), loaded.days_at_prices(frame, prices)
    )
    assert fresh.contributions(frame) == loaded.contributions(frame)
    assert loaded.metrics == {"rmsle": 0.1}


def test_predictions_have_the_contract_columns_and_sane_values(model_dir):
    predictor = PricingPredictor.load(model_dir[0])
    frame = items()
    result = predictor.predict(frame)
    assert list(result.columns) == list(OUTPUT_COLUMNS)
    assert result.index.equals(frame.index)
    assert result.notna().all().all()
    assert (result["price_p10"] > 0).all() and (result["days_to_sell_p50"] > 0).all()
    assert (result["days_to_sell_p90"] >= result["days_to_sell_p50"]).all()
    # the same items with only the required columns still price (missing values handled)
    bare = predictor.predict(frame[["item_id", "category", "grade"]])
    assert bare[["price_p10", "price_p50", "price_p90"]].notna().all().all()


def test_empty_input_and_missing_candidate_prices(model_dir):
    predictor = PricingPredictor.load(model_dir[0])
    empty = predictor.predict(items().iloc[:0])
    assert list(empty.columns) == list(OUTPUT_COLUMNS) and len(empty) == 0
    frame = items().iloc[:2]
    days = predictor.days_at_prices(frame, np.array([[np.nan, 50.0], [80.0, np.nan]]))
    assert days.shape == (2, 2) and np.isfinite(days).all()
    with pytest.raises(ValueError, match="n_items"):
        predictor.days_at_prices(frame, np.ones(2))


def test_days_at_prices_in_blocks_matches_one_block(model_dir, monkeypatch):
    import models.pricing.predictor as predictor_module

    predictor = PricingPredictor.load(model_dir[0])
    frame = items()
    prices = np.outer(frame["list_price"].to_numpy(), [0.5, 1.0, 2.0])
    whole = predictor.days_at_prices(frame, prices)
    monkeypatch.setattr(predictor_module, "LISTING_ROWS", 7)  # blocks of 2 items
    np.testing.assert_array_equal(predictor.days_at_prices(frame, prices), whole)
    single = predictor.predict(frame.assign(list_price=prices[:, 1]))["days_to_sell_p50"]
    np.testing.assert_allclose(whole[:, 1], single.to_numpy())


def test_contributions_are_readable_and_sum_to_the_prediction(model_dir):
    predictor = PricingPredictor.load(model_dir[0])
    frame = items().iloc[:3]
    top = predictor.contributions(frame, top=100)
    first = top[0]
    assert all(isinstance(name, str) and " = " in name for name, _ in first)
    assert any(name.startswith("grade = ") for name, _ in first)
    bias = predictor.price_model.contributions(predictor.matrix(frame))[0, -1]
    total = bias + sum(value for _, value in first)
    assert total == pytest.approx(np.log1p(predictor.predict(frame)["price_p50"].iloc[0]), abs=1e-2)
    assert len(predictor.contributions(frame, top=2)[0]) == 2


def test_survival_curve_starts_at_one_and_falls(model_dir):
    predictor = PricingPredictor.load(model_dir[0])
    days, curve = predictor.survival_curve(items().iloc[:4], days=np.array([0.0, 5.0, 30.0, 400.0]))
    assert days.tolist() == [0.0, 5.0, 30.0, 400.0]
    assert np.allclose(curve[:, 0], 1.0)
    assert (np.diff(curve, axis=1) <= 1e-12).all()


def test_load_refuses_incomplete_or_foreign_folders(model_dir, tmp_path):
    with pytest.raises(ArtifactError, match=r"missing pricing\.json"):
        load_artifact(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(model_dir[0], broken)
    meta = json.loads((broken / "artifact.json").read_text())
    (broken / "artifact.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ArtifactError, match=r"artifact\.json.*expected 'regrade-pricing' v1"):
        load_artifact(broken)
    assert issubclass(ArtifactError, ValueError)  # callers catching ValueError keep working


def legacy_folder(model_dir, where):
    """The folder as saved before artifact.json: format, config and metrics in pricing.json."""
    shutil.copytree(model_dir, where)
    (where / "artifact.json").unlink()
    model = json.loads((where / "pricing.json").read_text())
    extras = {"config": {"holdout_fraction": 0.2}, "metrics": {"rmsle": 0.1}}
    legacy = {**model, "format": "regrade-pricing", "format_version": 1, **extras}
    (where / "pricing.json").write_text(json.dumps(legacy))
    return where


def test_folders_saved_before_the_metadata_block_still_load(model_dir, tmp_path):
    folder, trained = model_dir
    old = legacy_folder(folder, tmp_path / "old")
    loaded = load_artifact(old)
    assert loaded.meta is None  # provenance unknown
    assert loaded.metrics == {"rmsle": 0.1}
    assert loaded.training_config == {"holdout_fraction": 0.2}
    frame = items()
    pd.testing.assert_frame_equal(
        PricingPredictor(trained.artifact).predict(frame), PricingPredictor(loaded).predict(frame)
    )
    model = json.loads((old / "pricing.json").read_text())
    (old / "pricing.json").write_text(json.dumps({**model, "format_version": 99}))
    with pytest.raises(ArtifactError, match=r"pricing\.json.*expected 'regrade-pricing' v1"):
        load_artifact(old)


def test_config_from_toml_and_yaml_with_overrides(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("coverage = 0.9\n[price]\nnum_leaves = 15\n")
    config = load_config(toml, seed=7)
    assert (config.coverage, config.price.num_leaves, config.seed) == (0.9, 15, 7)
    yaml = tmp_path / "c.yaml"
    yaml.write_text("pricing:\n  tts_periods: 8\n")
    assert load_config(yaml).tts_periods == 8
    yaml.write_text("colour: red\n")
    with pytest.raises(DataError, match="unknown setting"):
        load_config(yaml)
    yaml.write_text("tts_periods: 2.5\n")
    with pytest.raises(DataError, match=r"'tts_periods'.*fractional part"):
        load_config(yaml)
    yaml.write_text("price:\n  learning_rate: 0\n")
    with pytest.raises(DataError, match=r"'price\.learning_rate'.*greater than 0"):
        load_config(yaml)
    yaml.write_text("coverage: yes\n")
    with pytest.raises(DataError, match=r"'coverage'.*must be a number"):
        load_config(yaml)


def test_too_few_sold_rows_is_bad_input():
    frame = make_table(40, seed=2)
    with pytest.raises(DataError, match="sold_price"):
        train_pricing_model(frame, fast_config(min_sold_rows=50), file="t.csv")


def test_train_and_evaluate_commands(tmp_path, monkeypatch):
    pytest.importorskip("training.tracking")
    from training.cli.pricing import evaluate_app, train_app

    monkeypatch.setenv("REGRADE_HOME", str(tmp_path / "home"))
    table = tmp_path / "outcomes.csv"
    make_table(600, seed=4).to_csv(table, index=False)
    config = tmp_path / "fast.toml"
    config.write_text(
        "search_seconds = 1\nsearch_max_trials = 2\n"
        "[price]\nnum_boost_round = 100\nlearning_rate = 0.2\n"
        "[tts]\nnum_boost_round = 100\nlearning_rate = 0.2\n"
    )
    app = typer.Typer()
    app.add_typer(train_app, name="train")
    app.add_typer(evaluate_app, name="evaluate")
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        ["train", "pricing", "--data", str(table), "--out", str(run), "--config", str(config)],
    )
    assert result.exit_code == 0, result.output
    for name in ("predictions.csv", "price_calibration.png", "days_calibration.png", "search.csv"):
        assert (run / name).is_file(), name
    predictions = pd.read_csv(run / "predictions.csv")
    assert {"item_id", "sold_price", *OUTPUT_COLUMNS} <= set(predictions.columns)
    trained = json.loads((run / "metrics.json").read_text())
    assert trained["rmsle"] < trained["baseline_median_rmsle"]
    assert trained["baseline_lgbm_rmsle"] > 0
    assert 1 <= trained["search_trials"] <= 2
    trials = pd.read_csv(run / "search.csv")
    assert len(trials) == trained["search_trials"]
    assert trials["cv_rmsle"].min() == pytest.approx(trained["search_best_cv_rmsle"])
    meta = json.loads((run / "model" / "artifact.json").read_text())
    assert (meta["format"], meta["format_version"]) == ("regrade-pricing", 1)
    assert meta["data_path"] == str(table)
    assert meta["data_fingerprint"] == hashlib.sha256(table.read_bytes()).hexdigest()
    assert meta["training_config"]["price"]["num_boost_round"] == 100
    assert meta["metrics"]["rmsle"] == pytest.approx(trained["rmsle"])
    assert "git_sha" in meta
    evaluation = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "pricing",
            "--data",
            str(table),
            "--model",
            str(run),
            "--out",
            str(evaluation),
        ],
    )
    assert result.exit_code == 0, result.output
    evaluated = json.loads((evaluation / "metrics.json").read_text())
    for key in ("n_test", "rmsle", "interval_coverage_80", "tts_cindex", "tts_cindex_naive"):
        assert evaluated[key] == pytest.approx(trained[key])


def test_every_prediction_runs_on_one_thread(model_dir, monkeypatch):
    """A booster's prediction ignores the threads it was trained with and takes every core,
    which on busy cores makes a one-row `/price` wait for OpenMP: each call names one thread."""
    calls = []
    real = lgb.Booster.predict

    def recording(self, data, *args, **kwargs):
        calls.append(kwargs.get("num_threads"))
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(lgb.Booster, "predict", recording)
    predictor = PricingPredictor.load(model_dir[0])
    frame = items()
    predictor.predict(frame)
    predictor.days_at_prices(frame, np.outer(np.ones(len(frame)), [50.0, 100.0]))
    predictor.contributions(frame)
    assert len(calls) >= 6  # P10, P50 and its partner, P90, time to sell, contributions
    assert set(calls) == {1}
