"""Pricing on Dask (`training.pricing.distributed`): a two-worker LocalCluster trains from a
folder of Parquet parts an artifact of the single-machine form, as good as single-machine
training on the same rows, monotone in age and grade; bad parts and targets are named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from dask.distributed import LocalCluster
from typer.testing import CliRunner

from features.problems import DataError
from models.pricing.artifact import load_artifact, save_artifact
from models.pricing.predictor import PricingPredictor
from serving.settings import load_settings
from tests.pricing_data import fast_config
from training.cli import app
from training.fingerprints import file_fingerprint
from training.pricing.distributed import DaskPricing, parse_target
from training.pricing.evaluate import evaluate_pricing_model
from training.pricing.pipeline import train_pricing
from training.pricing.train import train_pricing_model
from training.synth.items import make_items
from training.synth.outcomes import make_outcomes

PARTS = 3


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


@pytest.fixture(scope="module")
def outcomes() -> pd.DataFrame:
    return make_outcomes(make_items(3000, seed=4), seed=4)[0]


@pytest.fixture(scope="module")
def parts(tmp_path_factory, outcomes):
    folder = tmp_path_factory.mktemp("parts")
    for i, rows in enumerate(np.array_split(np.arange(len(outcomes)), PARTS)):
        outcomes.iloc[rows].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def config():
    # the Dask path fits P50 alone (no blend): compare it with the same single model
    return fast_config(search_seconds=0, blend_extra_trees=False, blend_without_encodings=False)


@pytest.mark.parametrize(
    ("target", "parsed"),
    [
        ("local", (None, None)),
        ("local:3", (None, 3)),
        ("tcp://10.0.0.5:8786", ("tcp://10.0.0.5:8786", None)),
    ],
)
def test_dask_targets_parse(target, parsed):
    assert parse_target(target) == parsed


@pytest.mark.parametrize("target", ["local:0", "local:two", "local:-1"])
def test_a_bad_local_worker_count_is_refused(target):
    with pytest.raises(DataError, match="local:N"):
        parse_target(target)


def test_dask_training_matches_single_machine_and_saves_the_same_artifact(
    tmp_path, cluster, parts, outcomes
):
    settings = load_settings({"REGRADE_HOME": str(tmp_path / "home")})
    run = train_pricing(
        config(), parts, tmp_path / "run", settings, register=False, dask=cluster.scheduler_address
    )
    single = train_pricing_model(outcomes, config())
    single.artifact.meta = load_artifact(run.model_dir).meta
    single_dir = save_artifact(single.artifact, tmp_path / "single")
    expected = evaluate_pricing_model(single.artifact, outcomes, holdout_fraction=0.2)

    files = sorted(p.name for p in run.model_dir.iterdir())
    assert files == sorted(p.name for p in single_dir.iterdir())
    assert {"price_p50.txt", "price_p10.txt", "price_p90.txt", "tts.txt"} <= set(files)
    info = json.loads((run.model_dir / "pricing.json").read_text())
    assert info["dask"]["workers"] == 2 and info["dask"]["partitions"] == PARTS
    assert info["data"]["rows"] == len(outcomes)
    assert info["price"]["blend"] == 0.0
    assert info["data"]["train_rows"] + info["data"]["holdout_rows"] == len(outcomes)

    metrics = run.metrics
    assert metrics["n_test"] == expected["n_test"]
    assert abs(metrics["rmsle"] - expected["rmsle"]) < 0.015
    assert metrics["rmsle"] < metrics["baseline_benchmark_rmsle"]
    assert abs(metrics["interval_coverage_80"] - 0.8) < 0.08
    assert abs(metrics["tts_cindex"] - expected["tts_cindex"]) < 0.03

    predictor = PricingPredictor(load_artifact(run.model_dir))
    unit = outcomes[outcomes["sold"] == 1].head(20)
    older = unit.assign(age_months=unit["age_months"] + 24)
    worse = unit.assign(grade="C")
    now, aged, graded = (predictor.predict(t) for t in (unit, older, worse))
    for column in ("price_p10", "price_p50", "price_p90"):
        assert (aged[column].to_numpy() <= now[column].to_numpy() + 1e-9).all()
        assert (graded[column].to_numpy() <= now[column].to_numpy() + 1e-9).all()
    assert (now["price_p10"] < now["price_p90"]).all()


def test_a_bad_part_is_named(tmp_path, cluster, parts, outcomes):
    for part in parts.glob("*.parquet"):
        (tmp_path / part.name).write_bytes(part.read_bytes())
    bad = outcomes.head(50).assign(grade="Z")
    bad.to_parquet(tmp_path / "part-9.parquet", index=False)
    with (
        DaskPricing(cluster.scheduler_address, config()) as session,
        pytest.raises(DataError) as caught,
    ):
        session.load(tmp_path)
    assert "part-9.parquet" in str(caught.value)
    assert "grade" in str(caught.value)


def test_the_cli_refuses_a_bad_dask_target_before_any_work(tmp_path, monkeypatch, parts):
    monkeypatch.setenv("REGRADE_HOME", str(tmp_path / "home"))
    args = ["train", "pricing", "--data", str(parts), "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, [*args, "--dask", "local:0"])
    assert result.exit_code == 2
    assert "local:N" in result.output
    assert not (tmp_path / "run").exists()


def test_a_folder_of_parts_is_fingerprinted_by_its_parts(tmp_path, parts):
    copy = tmp_path / "copy"
    copy.mkdir()
    for part in parts.glob("*.parquet"):
        (copy / part.name).write_bytes(part.read_bytes())
    (copy / "notes.txt").write_text("not a part")
    assert file_fingerprint(copy) == file_fingerprint(parts)
    (copy / "part-0.parquet").write_bytes(b"changed")
    assert file_fingerprint(copy) != file_fingerprint(parts)
