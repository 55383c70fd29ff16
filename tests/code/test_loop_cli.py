"""The loop's commands as a user types them: holdout create/extend print what they wrote and
refuse bad input with exit 2; mlflow-ui runs `mlflow ui` on the home's own store."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.pricing_data import make_table
from training.cli import app


def test_holdout_commands_write_versions_and_refuse_bad_input(tmp_path):
    env = {"REGRADE_HOME": str(tmp_path / "home")}
    make_table(200, seed=1).to_csv(tmp_path / "a.csv", index=False)
    make_table(100, seed=2).to_csv(tmp_path / "b.csv", index=False)
    runner = CliRunner()
    created = runner.invoke(
        app, ["holdout", "create", "pricing", "--from", str(tmp_path / "a.csv")], env=env
    )
    assert created.exit_code == 0, created.output
    first = json.loads((tmp_path / "home/holdouts/pricing/v1/manifest.json").read_text())
    assert f"holdout pricing/v1: {first['n_items']} items" in created.output
    assert 20 <= first["n_items"] <= 40
    again = runner.invoke(
        app, ["holdout", "create", "pricing", "--from", str(tmp_path / "a.csv")], env=env
    )
    assert again.exit_code == 2 and "exists already" in again.output
    extended = runner.invoke(
        app,
        ["holdout", "extend", "pricing", "--from", str(tmp_path / "b.csv"), "--share", "0.2"],
        env=env,
    )
    assert extended.exit_code == 0 and "holdout pricing/v2" in extended.output
    manifest = json.loads((tmp_path / "home/holdouts/pricing/v2/manifest.json").read_text())
    assert manifest["parent"] == 1 and manifest["n_items"] == first["n_items"] + manifest["n_added"]
    bad = runner.invoke(
        app,
        ["holdout", "create", "grader", "--from", str(tmp_path / "a.csv"), "--share", "2"],
        env=env,
    )
    assert bad.exit_code == 2 and "--share" in bad.output
    missing = runner.invoke(app, ["retrain", "pricing"], env=env)
    assert missing.exit_code == 2 and "regrade-pricing" in missing.output


def test_mlflow_ui_runs_on_the_homes_own_store(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr("os.execvp", lambda file, args: ran.append(args))
    result = CliRunner().invoke(
        app, ["mlflow-ui", "--port", "5055"], env={"REGRADE_HOME": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    (command,) = ran
    assert command[:2] == ["mlflow", "ui"] and command[command.index("--port") + 1] == "5055"
    store = command[command.index("--backend-store-uri") + 1]
    assert store == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    assert command[command.index("--default-artifact-root") + 1].endswith("mlartifacts")
    assert command[command.index("--host") + 1] == "127.0.0.1"
