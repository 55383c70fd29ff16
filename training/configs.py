"""Reading a run config: a TOML or YAML file's section, then CLI overrides, into a pydantic model.

Every run config (`GraderConfig`, `PricingTrainConfig`) is a pydantic model with `Literal`
choices and `Field` bounds; `load_run_config` turns a bad file or value into a `DataError` whose
problems name the file and the setting, as every other input of the CLI does.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from features.problems import DataError, Problem

C = TypeVar("C", bound=BaseModel)


def read_section(path: Path | str, section: str) -> dict[str, Any]:
    """The settings of a TOML or YAML config file: its `[section]` table, or the whole file.

    Raises:
        DataError: the file is missing, unparsable or not a table of settings.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError([Problem(path, "config file not found")])
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise DataError([Problem(path, f"cannot read config: {exc}")]) from exc
    data = data or {}
    if not isinstance(data, dict):
        raise DataError([Problem(path, "must hold a table of settings")])
    section_data = data.get(section, data)
    if not isinstance(section_data, dict):
        raise DataError([Problem(path, f"[{section}] must be a table of settings")])
    return dict(section_data)


def problems_of(exc: ValidationError, where: Path | str) -> list[Problem]:
    """One `Problem` per failed setting, naming it (`setting 'price.learning_rate': ...`)."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "config"
        if error["type"] == "extra_forbidden":
            message = f"unknown setting {name!r}"
        else:
            message = f"setting {name!r}: {error['msg']}, got {error.get('input')!r}"
        problems.append(Problem(where, message))
    return problems


def load_run_config(model: type[C], path: Path | str | None, section: str, **overrides: Any) -> C:
    """Defaults, then the file's `[section]`, then the non-None `overrides`, validated.

    Raises:
        DataError: unreadable file, unknown setting, or a value out of its choices or bounds.
    """
    values: dict[str, Any] = read_section(path, section) if path is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise DataError(
            problems_of(exc, path if path is not None else f"{section} config")
        ) from exc
