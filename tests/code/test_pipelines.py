"""The training pipelines and the artifact metadata block: a grader run's artifact says which
config, code and data made it and how it measured; folders saved before the block still load;
a photo dataset's fingerprint follows its photos; no import cycles among the modules."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from models.artifact import ArtifactError, read_meta
from models.grader.artifact import load_artifact, network_count
from models.grader.predictor import GraderPredictor
from models.kinds import GRADER
from tests.code.conftest import TINY
from training.fingerprints import photo_dataset_fingerprint
from training.grader.config import GraderConfig
from training.grader.train import train_grader_model

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "models", "training", "serving")


@pytest.fixture(scope="module")
def grader_dir(toy, tmp_path_factory):
    _, data = toy
    return train_grader_model(GraderConfig(epochs=1, **TINY), data, tmp_path_factory.mktemp("g"))


def test_grader_pipeline_records_config_code_data_and_metrics(toy, tmp_path):
    from serving.settings import load_settings
    from training.grader.pipeline import train_grader

    root, _ = toy
    settings = load_settings({"REGRADE_HOME": str(tmp_path / "home")})
    result = train_grader(
        GraderConfig(epochs=1, **TINY), root, tmp_path / "run", settings, promote=True
    )
    assert (result.version, result.promoted, result.run_dir) == ("1", True, tmp_path / "run")
    assert result.report()[0] == (
        f"trained regrade-grader version 1 (@champion) in {tmp_path / 'run'}"
    )
    meta = read_meta(result.model_dir, GRADER)
    assert (meta.format, meta.format_version) == ("regrade-grader", 1)
    assert meta.data_path == str(root)
    assert meta.data_fingerprint == photo_dataset_fingerprint(root)
    assert meta.training_config["epochs"] == 1
    assert meta.training_config["backbone"] == TINY["backbone"]
    written = json.loads((result.run_dir / "metrics.json").read_text())
    assert meta.metrics["n_test"] == written["n_test"] == result.metrics["n_test"]
    assert meta.metrics["ece"] == pytest.approx(written["ece"])
    assert "git_sha" in meta.model_fields_set
    assert load_artifact(result.model_dir).meta == meta


def test_grader_folders_saved_before_the_metadata_block_still_load(toy, grader_dir, tmp_path):
    _, data = toy
    new = grader_dir.model_dir
    assert load_artifact(new).meta == read_meta(new, GRADER)  # a bare block: format only
    old = tmp_path / "old"
    shutil.copytree(new, old)
    (old / "artifact.json").unlink()
    config = json.loads((old / "config.json").read_text())
    (old / "config.json").write_text(json.dumps({**config, "format": "regrade-grader/1"}))
    loaded = load_artifact(old)
    assert loaded.meta is None  # provenance unknown
    assert network_count(old) == 1
    test = data.subset("test")
    a = GraderPredictor.load(new).predict_tensors(test.images, test.item_index, test.brands)
    b = GraderPredictor(loaded).predict_tensors(test.images, test.item_index, test.brands)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]

    (old / "config.json").write_text(json.dumps(config))  # no format tag, no artifact.json
    with pytest.raises(ArtifactError, match=r"config\.json: format None, expected"):
        load_artifact(old)


def test_a_foreign_grader_metadata_block_is_refused_by_name(grader_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(grader_dir.model_dir, broken)
    meta = json.loads((broken / "artifact.json").read_text())
    (broken / "artifact.json").write_text(json.dumps({**meta, "format": "regrade-pricing"}))
    with pytest.raises(ArtifactError, match=r"artifact\.json: format 'regrade-pricing'"):
        load_artifact(broken)
    with pytest.raises(ValueError, match=r"artifact\.json"):  # callers catching ValueError
        network_count(broken)


def test_photo_dataset_fingerprint_follows_names_sizes_and_manifest(toy, tmp_path):
    root = tmp_path / "photos"
    shutil.copytree(toy[0], root)
    first = photo_dataset_fingerprint(root)
    assert first == photo_dataset_fingerprint(root) == photo_dataset_fingerprint(toy[0])
    photo = next(p for p in sorted(root.rglob("*")) if p.suffix.lower() in (".jpg", ".png"))
    photo.write_bytes(photo.read_bytes() + b"\0")
    grown = photo_dataset_fingerprint(root)
    assert grown != first
    photo.rename(photo.with_name("renamed" + photo.suffix))
    assert photo_dataset_fingerprint(root) not in (first, grown)
    shutil.copytree(toy[0], tmp_path / "again")
    manifest = tmp_path / "again" / "manifest.csv"
    manifest.write_text(manifest.read_text().replace(",A,", ",B,", 1))
    assert photo_dataset_fingerprint(tmp_path / "again") != first


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Every module of ours that `path` imports, at module top or inside a function, and the
    packages whose `__init__` that runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    # importing `a.b.c` runs `a.b`'s __init__ first: a dependency unless the importer is inside it
    parents = {
        ".".join(module.split(".")[:depth])
        for module in found
        for depth in range(1, module.count(".") + 1)
    }
    found |= {parent for parent in parents if not name.startswith(parent + ".")}
    return {module for module in found if module in known and module != name}


def test_no_import_cycles_in_training_and_models():
    """Function-level imports count: `training.cli` may import the demo, never the reverse."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    known = set(files)
    graph = {name: _imports(path, name, known) for name, path in files.items()}
    scope = [n for n in graph if n.split(".")[0] in ("training", "models")]
    cycles = []
    for start in scope:
        stack, seen = [(start, [start])], set()
        while stack:
            node, route = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join([*route, start]))
                elif nxt not in seen and nxt.split(".")[0] in ("training", "models"):
                    seen.add(nxt)
                    stack.append((nxt, [*route, nxt]))
    assert cycles == [], "\n".join(sorted(set(cycles))[:10])
