"""bentofile.yaml stays in step with pyproject.toml: the same dependencies, every packaged file."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import yaml

from tests.conftest import REPO


def _bentofile() -> dict:
    return yaml.safe_load((REPO / "bentofile.yaml").read_text())


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_bento_installs_the_projects_runtime_dependencies():
    packages = _bentofile()["python"]["packages"]
    assert packages == _pyproject()["project"]["dependencies"]


def test_the_bento_includes_the_service_and_every_data_file_it_reads():
    bento = _bentofile()
    module, _, name = bento["service"].partition(":")
    assert (REPO / (module.replace(".", "/") + ".py")).is_file() and name == "Regrade"
    included = {p for pattern in bento["include"] for p in REPO.glob(pattern) if p.is_file()}
    tracked = subprocess.run(
        ["git", "ls-files", "features", "models", "serving", "training"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    missing = [path for path in tracked if REPO / path not in included]
    assert missing == []
    data = _pyproject()["tool"]["setuptools"]["package-data"]
    for package, patterns in data.items():
        folder = REPO / Path(*package.split("."))
        for pattern in patterns:
            found = list(folder.glob(pattern))
            assert found and all(p in included for p in found), f"{package}: {pattern}"
