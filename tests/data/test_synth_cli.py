"""`regrade data synth`: the layout, same bytes for the same seed, validation, safe writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.problems import DataError
from training.cli import app
from training.synth import synthesize

ARGS = ["--items", "24", "--photos-per-item", "2", "--image-size", "48"]


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def synth(out: Path, *extra: str):
    return CliRunner().invoke(app, ["data", "synth", "--out", str(out), *ARGS, *extra])


def test_same_seed_same_bytes_and_layout(tmp_path):
    assert synth(tmp_path / "a", "--seed", "5").exit_code == 0
    assert synth(tmp_path / "b", "--seed", "5").exit_code == 0
    assert synth(tmp_path / "c", "--seed", "6").exit_code == 0
    first = digest(tmp_path / "a")
    assert first == digest(tmp_path / "b")
    assert first != digest(tmp_path / "c")
    assert {"photos/manifest.csv", "outcomes.csv", "truth.csv", "damage.csv"} <= set(first)
    assert sum(name.endswith(".jpg") for name in first) == 48


def test_output_validates_clean(tmp_path):
    assert synth(tmp_path / "d").exit_code == 0
    result = CliRunner().invoke(app, ["data", "validate", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "48 photos of 24 items" in result.output
    assert "time-to-sell model" in result.output


def test_zero_photos_writes_tables_only(tmp_path):
    summary = synthesize(tmp_path / "e", items=10, photos_per_item=0, image_size=48)
    assert summary.photos == 0
    assert not (tmp_path / "e" / "photos").exists()
    assert (tmp_path / "e" / "outcomes.csv").is_file()


def test_existing_folder_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "f"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = synth(out)
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(DataError) as info:
        synthesize(tmp_path / "g", items=0, counterfeit_rate=1.5, image_size=4)
    text = str(info.value)
    assert "--items" in text and "--counterfeit-rate" in text and "--image-size" in text
    assert not (tmp_path / "g").exists()


def test_failure_midway_leaves_no_partial_folder(tmp_path, monkeypatch):
    import training.synth

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(training.synth, "write_photos", broken)
    with pytest.raises(RuntimeError):
        synthesize(tmp_path / "h", items=5, image_size=48)
    assert list(tmp_path.iterdir()) == []


def test_contact_sheet(tmp_path):
    assert synth(tmp_path / "s").exit_code == 0
    sheet = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        app, ["data", "contact-sheet", str(tmp_path / "s"), "--out", str(sheet)]
    )
    assert result.exit_code == 0, result.output
    from PIL import Image

    assert Image.open(sheet).size[0] > 100
