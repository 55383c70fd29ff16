"""`regrade demo`: samples, champions and keys on the first run; everything reused on the next."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from training import demo
from training.cli import app
from training.grader import distributed


def test_demo_builds_once_and_reuses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REGRADE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REGRADE_API_KEYS", raising=False)
    tiny = demo.DemoConfig(
        items=60,
        sales_items=900,
        image_size=48,
        grader_members=1,
        grader_epochs=1,
        grader_image_size=32,
    )
    monkeypatch.setattr(demo, "DemoConfig", lambda: tiny)

    first = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert first.exit_code == 0, first.output
    assert "trained regrade-grader version 1 (@champion)" in first.output
    assert "trained regrade-pricing version 1 (@champion)" in first.output
    keys = json.loads((tmp_path / "home" / "demo-keys.json").read_text())
    assert sorted(role for roles in keys.values() for role in roles) == [
        "admin",
        "grader",
        "intake",
        "pricing",
    ]
    for key in keys:
        assert key in first.output
    assert "item_id=demo-1" in first.output
    assert "http://127.0.0.1:3000/ui/signin" in first.output

    again = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert again.exit_code == 0, again.output
    assert "trained" not in again.output
    assert "reusing regrade-grader version 1" in again.output
    assert "reusing regrade-pricing version 1" in again.output
    assert json.loads((tmp_path / "home" / "demo-keys.json").read_text()) == keys


def test_demo_grader_config_is_demo_configs():
    """The demo's grader settings come from `DemoConfig` and stay explicit, so the preset that
    `auto` picks for the sample (the synthetic recipe) cannot replace them."""
    small = demo.DemoConfig(
        grader_members=1, grader_epochs=3, grader_image_size=32, grader_damage_share=0.1
    )
    cfg = demo.demo_grader_config(small)
    assert (cfg.members, cfg.epochs, cfg.image_size, cfg.seed) == (1, 3, 32, small.seed)
    assert (cfg.damage_share, cfg.baseline_epochs, cfg.augment) == (0.1, 0, "geometric")
    kept = {"epochs", "image_size", "damage_share", "baseline_epochs", "augment", "members"}
    assert kept <= cfg.model_fields_set


@pytest.mark.parametrize("native", [True, False])
def test_demo_grader_epochs_follow_the_arithmetic_this_machine_trains_in(monkeypatch, native):
    """Unset, the demo's epochs are what fits its few minutes: more where bf16 is native."""
    monkeypatch.setattr(distributed, "native_bf16", lambda device: native)
    cfg = demo.demo_grader_config(demo.DemoConfig())
    assert cfg.epochs == demo.DEMO_EPOCHS["bf16" if native else "fp32"]
    assert cfg.epochs == (80 if native else 45)
    assert (cfg.members, cfg.image_size, cfg.damage_share) == (2, 96, 0.2)
