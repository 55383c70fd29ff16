"""Start-up and grading modes: batching on and off agree, /readyz says which is in force, the
model cache serves when the registry is down, and a missing champion is a clear error."""

from __future__ import annotations

import pytest

from tests.serving.api_models import (
    auth,
    photo_files,
    running_service,
    service_env,
    service_home,
    toy_photos,
)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


def test_batching_off_grades_in_the_api_worker_with_the_same_answer(home, tmp_path):
    photos = photo_files(toy_photos(home))
    answers = {}
    for batching in ("1", "0"):
        env = service_env(
            home, REGRADE_BATCHING=batching, REGRADE_DATABASE_URL=f"sqlite:///{tmp_path}/db"
        )
        with running_service(env) as client:
            assert client.get("/readyz").json()["batching"] is (batching == "1")
            answer = client.post("/grade", files=photos, headers=auth("k-intake"))
            assert answer.status_code == 200, answer.text
            answers[batching] = answer.json()
    assert answers["0"]["grade"] == answers["1"]["grade"]
    assert answers["0"]["probabilities"] == pytest.approx(answers["1"]["probabilities"])
    assert len(answers["0"]["photos"]) == 3


def test_with_batching_off_the_idle_runner_loads_no_grader(home, monkeypatch):
    """BentoML starts the runner process either way; with batching off nothing calls it."""
    from serving.api.service import GraderRunner
    from serving.runtime import StartupError

    for name, value in service_env(home, REGRADE_BATCHING="0").items():
        monkeypatch.setenv(name, value)
    idle = GraderRunner.inner()
    assert idle.predictor is None and idle.alive() == {"name": None, "version": None}
    with pytest.raises(StartupError, match="holds no grader: REGRADE_BATCHING is off"):
        idle.grade_units([{"photos": [], "brand": None}])
    monkeypatch.setenv("REGRADE_BATCHING", "1")
    assert GraderRunner.inner().alive() == {"name": "regrade-grader", "version": "1"}


def test_starts_from_the_model_cache_when_the_registry_is_unreachable(home, tmp_path):
    env = service_env(
        home,
        REGRADE_MLFLOW_URI="http://127.0.0.1:9",  # nothing listens there
        REGRADE_DATABASE_URL=f"sqlite:///{tmp_path}/db",
    )
    with running_service(env) as client:
        ready = client.get("/readyz").json()
        answer = client.post(
            "/grade", files=photo_files(toy_photos(home)), headers=auth("k-intake")
        )
    assert ready["models"]["grader"] == {"name": "regrade-grader", "version": "1"}
    assert answer.status_code == 200 and answer.json()["model_version"] == "1"


def test_a_missing_champion_is_a_clear_start_up_error(tmp_path):
    from serving.runtime import StartupError, load_runtime
    from serving.settings import load_settings

    settings = load_settings({"REGRADE_HOME": str(tmp_path)})
    with pytest.raises(StartupError, match=r"no grader model at models:/regrade-grader@champion"):
        load_runtime(settings, with_grader=False)


def test_with_batching_off_the_worker_shares_its_cores_among_grader_calls(home, tmp_path):
    """`grade_threads` calls at once (default: one per core), each on its share of torch's
    threads, and the worker's grader built for that share."""
    import os

    from serving.runtime import call_threads, load_runtime
    from serving.settings import load_settings
    from training.grader.distributed import torch_threads

    env = service_env(home, REGRADE_DATABASE_URL=f"sqlite:///{tmp_path}/db")
    assert load_settings(env).grade_calls == len(os.sched_getaffinity(0))
    settings = load_settings({**env, "REGRADE_GRADE_THREADS": "2"})
    assert settings.grade_calls == 2
    with torch_threads(4):
        assert call_threads(settings) == 2
        assert call_threads(load_settings({**env, "REGRADE_GRADE_THREADS": "1"})) == 4
        assert call_threads(load_settings({**env, "REGRADE_GRADE_THREADS": "8"})) == 1
        runtime = load_runtime(settings, with_grader=True)
    try:
        options = runtime.grader._run.session.get_session_options()
        assert options.intra_op_num_threads == 2
    finally:
        runtime.store.engine.dispose()
