"""MLflow runs, registration with aliases, promotion and resolving model URIs."""

from __future__ import annotations

import json
import math

import pytest

from models.registry import ModelNotFoundError
from training.tracking import promote, tracked_run


def fake_model(path, value):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"value": value}))
    return path


def test_run_writes_config_and_metrics_and_logs_them(tmp_path, settings):
    import mlflow

    out = tmp_path / "run"
    with tracked_run(
        "pricing", out=out, config={"seed": 3, "lgbm": {"lr": 0.1}}, settings=settings
    ) as ctx:
        ctx.write_metrics({"rmsle": 0.25, "tts_cindex": None, "mape": math.nan, "n_test": 10})
    saved = json.loads((out / "config.json").read_text())
    assert saved["seed"] == 3 and saved["kind"] == "pricing" and "git_sha" in saved
    assert json.loads((out / "metrics.json").read_text()) == {
        "rmsle": 0.25,
        "tts_cindex": None,
        "mape": None,
        "n_test": 10,
    }
    run = mlflow.get_run(ctx.run_id)
    assert run.data.metrics == {"rmsle": 0.25, "n_test": 10.0}
    assert run.data.params["lgbm.lr"] == "0.1"
    assert run.info.status == "FINISHED"


def test_register_sets_challenger_then_promote_sets_champion(tmp_path, settings):
    versions = []
    for value in (1, 2):
        with tracked_run("grader", out=tmp_path / f"r{value}", config={}, settings=settings) as ctx:
            versions.append(ctx.register(fake_model(tmp_path / f"m{value}", value), "regrade-test"))
    assert versions == ["1", "2"]
    challenger = settings.resolve_model("models:/regrade-test@challenger")
    assert (challenger.name, challenger.version) == ("regrade-test", "2")
    assert json.loads((challenger.path / "config.json").read_text()) == {"value": 2}
    with pytest.raises(ModelNotFoundError, match="not in the registry"):
        settings.resolve_model("models:/regrade-test@champion")
    assert promote("regrade-test", settings=settings) == "2"
    assert settings.resolve_model("models:/regrade-test@champion").version == "2"
    assert promote("regrade-test", version="1", settings=settings) == "1"
    champion = settings.resolve_model("models:/regrade-test@champion")
    assert json.loads((champion.path / "config.json").read_text()) == {"value": 1}
    assert settings.resolve_model("models:/regrade-test/2").version == "2"
    with pytest.raises(LookupError, match="no version 9"):
        promote("regrade-test", version="9", settings=settings)


def test_promote_on_train_sets_both_aliases(tmp_path, settings):
    with tracked_run("grader", out=tmp_path / "r", config={}, settings=settings) as ctx:
        ctx.register(fake_model(tmp_path / "m", 7), "regrade-x", promote=True)
    assert settings.resolve_model("models:/regrade-x@champion").version == "1"
    assert settings.resolve_model("models:/regrade-x@challenger").version == "1"


def test_cached_copy_serves_when_the_registry_is_unreachable(tmp_path, settings):
    with tracked_run("grader", out=tmp_path / "r", config={}, settings=settings) as ctx:
        ctx.register(fake_model(tmp_path / "m", 5), "regrade-y", promote=True)
    first = settings.resolve_model("models:/regrade-y@champion")
    offline = settings.model_copy(update={"mlflow_uri": "http://127.0.0.1:9/unreachable"})
    again = offline.resolve_model("models:/regrade-y@champion")
    assert again == first
    with pytest.raises(ModelNotFoundError, match="unreachable and no cached copy"):
        offline.resolve_model("models:/regrade-other@champion")


def test_run_and_model_folders(tmp_path, settings):
    model = fake_model(tmp_path / "run" / "model", 1)
    assert settings.resolve_model(tmp_path / "run").path == model
    assert settings.resolve_model(model).path == model
    with pytest.raises(ModelNotFoundError, match="no such model folder"):
        settings.resolve_model(tmp_path / "missing")
    with pytest.raises(ModelNotFoundError, match="expected models:/NAME@ALIAS"):
        settings.resolve_model("models:/a/b/c")


def test_failed_body_marks_the_run_failed(tmp_path, settings):
    import mlflow

    with (
        pytest.raises(RuntimeError),
        tracked_run("grader", out=tmp_path / "r", config={}, settings=settings) as ctx,
    ):
        raise RuntimeError("boom")
    assert mlflow.get_run(ctx.run_id).info.status == "FAILED"


RUN_AND_REGISTER = """
import json, pathlib, sys, time
from serving.settings import load_settings
from training.tracking import tracked_run

home, k, go, inside = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4]
settings = load_settings({"REGRADE_HOME": str(home)})
model = home.parent / f"model{k}"
model.mkdir()
(model / "config.json").write_text(json.dumps({"value": k}))


def start_line():
    (home.parent / f"ready{k}").touch()
    while not go.exists():
        time.sleep(0.01)


if inside == "0":
    start_line()
with tracked_run("grader", out=home.parent / f"run{k}", config={}, settings=settings) as ctx:
    if inside == "1":
        start_line()
    ctx.register(model, "regrade-test")
"""


def run_together(tmp_path, home, *, at_register: bool, n: int = 4) -> list[int]:
    """Start `n` processes that each run and register a model, release them at once (before
    their runs start, or just before they register) and return the versions registered."""
    import subprocess
    import sys
    import time

    from mlflow import MlflowClient

    from serving.settings import load_settings
    from training.tracking import configure_mlflow

    go = tmp_path / "go"
    where = str(int(at_register))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_AND_REGISTER, str(home), str(k), str(go), where],
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(n)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready*"))) < n and time.monotonic() < deadline:
        time.sleep(0.05)  # every process waits at the start line
    go.touch()
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * n, "\n".join(errors)
    configure_mlflow(load_settings({"REGRADE_HOME": str(home)}))
    versions = MlflowClient().search_model_versions("name='regrade-test'")
    return sorted(int(v.version) for v in versions)


def test_commands_started_together_on_a_fresh_store_all_run(tmp_path):
    """Members trained side by side start their runs at once on a store no command made yet."""
    assert run_together(tmp_path, tmp_path / "home", at_register=False) == [1, 2, 3, 4]


def test_commands_registering_together_all_register(tmp_path):
    """Runs that end together create the registered model once and each add a version."""
    from serving.settings import load_settings

    home = tmp_path / "home"
    with tracked_run(
        "grader",
        out=tmp_path / "first",
        config={},
        settings=load_settings({"REGRADE_HOME": str(home)}),
    ):
        pass  # the store and the experiment exist; the registered model does not
    assert run_together(tmp_path, home, at_register=True, n=8) == list(range(1, 9))


def test_another_machine_creating_the_experiment_and_model_first_is_no_error(tmp_path, monkeypatch):
    """Two homes (two file locks) on one MLflow store, as two machines on an MLflow server:
    the other creates the experiment and the registered model between our look and our create."""
    import mlflow
    from mlflow import MlflowClient

    from serving.settings import load_settings

    monkeypatch.chdir(tmp_path)  # a store named by URI keeps its artifacts under the cwd
    uri = f"sqlite:///{tmp_path / 'shared-mlflow.db'}"
    other, mine = (
        load_settings({"REGRADE_HOME": str(tmp_path / home), "REGRADE_MLFLOW_URI": uri})
        for home in ("machine-a", "machine-b")
    )
    with tracked_run("pricing", out=tmp_path / "a", config={}, settings=other) as run:
        assert run.register(fake_model(tmp_path / "m1", 1), "regrade-pricing") == "1"

    def missing_once(real, error):
        calls = []

        def look(self_or_name, *args):
            calls.append(1)
            if len(calls) == 1:
                if error:
                    raise error
                return None
            return real(self_or_name, *args)

        return look

    monkeypatch.setattr(
        mlflow, "get_experiment_by_name", missing_once(mlflow.get_experiment_by_name, None)
    )
    gone = mlflow.exceptions.MlflowException("not found", error_code="RESOURCE_DOES_NOT_EXIST")
    monkeypatch.setattr(
        MlflowClient, "get_registered_model", missing_once(MlflowClient.get_registered_model, gone)
    )
    with tracked_run("pricing", out=tmp_path / "b", config={}, settings=mine) as run:
        assert run.register(fake_model(tmp_path / "m2", 2), "regrade-pricing") == "2"
    assert len(mlflow.search_experiments(filter_string="name = 'regrade-pricing'")) == 1
