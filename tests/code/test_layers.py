"""The layers hold: training > serving > models > features, and inside serving web and api >
the runtime > the store; no module imports another that imports it back, even late."""

from __future__ import annotations

from pathlib import Path

from tests.code.imports import import_cycles, import_graph, layer_violations
from tests.conftest import REPO


def test_no_import_runs_up_the_layers():
    assert layer_violations(import_graph(REPO)) == []


def test_no_import_cycles():
    assert import_cycles(import_graph(REPO)) == []


LATE_IMPORTS_ALLOWED = {
    "training.cli": "command bodies load torch, LightGBM and MLflow only when they run, so "
    "`regrade --help` starts in about a second instead of several",
    "serving.runtime": "torch loads only in a worker that grades in-line or resizes photos for "
    "the batching runner",
}
"""Modules (and their submodules) that may import first-party code inside a function, and why."""


def test_imports_stand_at_module_top_unless_allowed():
    late = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in import_graph(REPO)
        if not imp.top
        and not any(imp.module == m or imp.module.startswith(m + ".") for m in LATE_IMPORTS_ALLOWED)
    ]
    assert late == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in ("features", "models", "serving", "serving/store", "serving/api", "training"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_a_wrong_way_import_is_named_with_its_line(tmp_path):
    root = _tree(
        tmp_path,
        {
            "features/schema.py": '"""Columns."""\n',
            "models/registry.py": "import os\n\nfrom serving.settings import Settings\n",
            "serving/settings.py": '"""Settings."""\n',
            "serving/store/writes.py": "def f():\n    from serving.api import errors\n",
            "serving/api/errors.py": "from serving.store import writes\n",
            "training/cli.py": "from models import registry\nfrom serving.api import errors\n",
        },
    )
    found = layer_violations(import_graph(root))
    assert found == [
        "models.registry:3 imports serving.settings (models may not import serving)",
        "serving.store.writes:2 imports serving.api.errors "
        "(serving.store may not import serving.api)",
    ]


def test_relative_and_late_imports_count(tmp_path):
    root = _tree(
        tmp_path,
        {
            "features/a.py": "from . import b\n",
            "features/b.py": "def late():\n    from .a import thing\n",
            "features/c.py": "from features import a\n",
        },
    )
    imports = import_graph(root)
    assert {(i.module, i.target, i.top) for i in imports} == {
        ("features.a", "features.b", True),
        ("features.b", "features.a", False),
        ("features.c", "features.a", True),
    }
    assert import_cycles(imports) == [["features.a", "features.b"]]
    assert layer_violations(imports) == []


def test_importing_from_a_package_runs_its_init(tmp_path):
    root = _tree(
        tmp_path,
        {
            "features/sub/__init__.py": "from features import d\n",
            "features/sub/e.py": '"""E."""\n',
            "features/sub/f.py": "from features.sub import e\n",
            "features/d.py": "from features.sub.e import thing\n",
        },
    )
    assert import_cycles(import_graph(root)) == [["features.d", "features.sub"]]
