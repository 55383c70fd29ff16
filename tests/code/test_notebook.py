"""notebooks/retraining.ipynb runs from top to bottom on a tiny store (so it cannot rot)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "retraining.ipynb"


def test_retraining_notebook_runs_one_turn_of_the_loop(tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient", reason="nbclient is a dev dependency")
    import nbformat

    from serving.settings import load_settings
    from tests.pricing_data import fast_config, make_table
    from training.pricing.pipeline import train_pricing

    home = tmp_path / "home"
    make_table(400, seed=6).to_csv(tmp_path / "sales.csv", index=False)
    settings = load_settings({"REGRADE_HOME": str(home)})
    train_pricing(fast_config(), tmp_path / "sales.csv", tmp_path / "run", settings, promote=True)
    monkeypatch.setenv("REGRADE_HOME", str(home))
    monkeypatch.setenv("LOOP_GRADER", "0")
    monkeypatch.setenv("PYTHONPATH", str(REPO))

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    text = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "pricing/v1:" in text and "0 outcomes" in text
    assert "rmsle" in text and "95% interval" in text
    assert "grader_changed_grade" in text
    assert (home / "holdouts" / "pricing" / "v1" / "manifest.json").is_file()
