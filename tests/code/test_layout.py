"""Architecture rules: the layout is in place and importing has no side effects."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

RUNTIME = ("features", "models", "serving")


def test_layout_packages_and_files_exist():
    for name in ("features", "models", "training", "serving"):
        assert (REPO / name / "__init__.py").is_file()
    for name in ("notebooks", "data", "tests", "benchmarks"):
        assert (REPO / name).is_dir()
    for name in ("pyproject.toml", "README.md", "Makefile", ".ci/run"):
        assert (REPO / name).is_file()


def test_importing_every_module_creates_nothing(tmp_path):
    """Nothing appears in the working folder (libraries may keep caches under HOME)."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for package in (*RUNTIME, "training")
        for p in (REPO / package).rglob("*.py")
        if p.name != "__main__.py" and "migrations" not in p.parts
    )
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\n"
    subprocess.run(
        [sys.executable, "-c", code, *modules],
        cwd=work,
        check=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(home)},
    )
    assert list(work.iterdir()) == []


def test_console_script_exit_codes(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("item_id,category,grade\nu1,phone,Z\n")
    regrade = [sys.executable, "-m", "training"]
    result = subprocess.run(
        [*regrade, "data", "validate", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert f"{bad}, row 1, column 'grade'" in result.stdout
    bad.write_text("item_id,category,grade\nu1,phone,A\n")
    result = subprocess.run(
        [*regrade, "data", "validate", str(bad)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    result = subprocess.run([*regrade, "no-such-verb"], capture_output=True, text=True)
    assert result.returncode == 2
