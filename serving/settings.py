"""One typed settings object, read from a TOML file and the environment.

Precedence: environment variables over the settings file over defaults. Nothing is created or
connected here; `Settings.ensure_dirs` makes the folders when a command needs them.

| setting | environment | default |
|---|---|---|
| home | REGRADE_HOME | ./var |
| database_url | REGRADE_DATABASE_URL | sqlite under home (regrade.db) |
| mlflow_uri | REGRADE_MLFLOW_URI | sqlite under home (mlflow.db), artifacts in home/mlartifacts |
| api_keys | REGRADE_API_KEYS (JSON) | none |
| policy | REGRADE_POLICY | built-in defaults |
| settings file | REGRADE_SETTINGS | home/settings.toml when it exists |
| grader_model | REGRADE_GRADER_MODEL | models:/regrade-grader@champion |
| pricing_model | REGRADE_PRICING_MODEL | models:/regrade-pricing@champion |
| ledger | REGRADE_LEDGER | none (no sale can be verified) |
| max_photos | REGRADE_MAX_PHOTOS | 8 per request |
| max_photo_bytes | REGRADE_MAX_PHOTO_BYTES | 10 MiB per photo |
| max_request_bytes | REGRADE_MAX_REQUEST_BYTES | 48 MiB per request body |
| batching | REGRADE_BATCHING | on (1); 0 grades in the API worker without adaptive batching |
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.kinds import GRADER, PRICING

ROLES = ("intake", "grader", "pricing", "admin")


class SettingsError(ValueError):
    """A setting has a bad value; the message names it."""


class Settings(BaseModel):
    """Where regrade keeps its state and who may call it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(
        Path("var"), description="Holds the database, MLflow store, photos and runs."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; SQLite under home if unset."
    )
    mlflow_uri: str | None = Field(
        None, description="MLflow tracking URI; SQLite under home if unset."
    )
    api_keys: dict[str, list[str]] = Field(
        default_factory=dict, description="API key -> roles (intake, grader, pricing, admin)."
    )
    policy: Path | None = Field(None, description="Guardrail policy file (TOML or YAML).")
    grader_model: str = Field(
        GRADER.champion_uri,
        description="The grader the service loads: a registry URI, run folder or model folder.",
    )
    pricing_model: str = Field(
        PRICING.champion_uri,
        description="The pricing model the service loads (same forms as grader_model).",
    )
    ledger: Path | None = Field(
        None, description="Sales ledger file (CSV or Parquet) for the provenance check."
    )
    max_photos: int = Field(8, ge=1, description="Most photos one /grade or /assess may post.")
    max_photo_bytes: int = Field(
        10 * 2**20, ge=1024, description="Largest photo file accepted, in bytes."
    )
    max_request_bytes: int = Field(
        48 * 2**20, ge=1024, description="Largest request body accepted, in bytes."
    )
    batching: bool = Field(
        True, description="Grade photos through the adaptive-batching runner (off: in-line)."
    )

    @field_validator("api_keys")
    @classmethod
    def _known_roles(cls, keys: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, roles in keys.items():
            if not key:
                raise ValueError("an API key must not be empty")
            unknown = sorted(set(roles) - set(ROLES))
            if unknown:
                raise ValueError(f"unknown role(s) {unknown} for a key; roles are {list(ROLES)}")
        return keys

    @property
    def resolved_database_url(self) -> str:
        """The database URL in force."""
        return self.database_url or f"sqlite:///{(self.home / 'regrade.db').resolve()}"

    @property
    def resolved_mlflow_uri(self) -> str:
        """The MLflow tracking (and registry) URI in force."""
        return self.mlflow_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        """Where MLflow artifacts go when the tracking store is the default one."""
        return self.home / "mlartifacts"

    @property
    def runs_dir(self) -> Path:
        """Default parent of `--out` folders of train and evaluate commands."""
        return self.home / "runs"

    @property
    def photos_dir(self) -> Path:
        """Content-addressed photo store of the service."""
        return self.home / "photos"

    @property
    def model_cache_dir(self) -> Path:
        """Local copies of registered models, so the service starts without the tracking store."""
        return self.home / "model-cache"

    def ensure_dirs(self) -> None:
        """Create the folders under home."""
        for path in (self.home, self.runs_dir, self.photos_dir, self.model_cache_dir):
            path.mkdir(parents=True, exist_ok=True)


_ENV = {
    "REGRADE_HOME": "home",
    "REGRADE_DATABASE_URL": "database_url",
    "REGRADE_MLFLOW_URI": "mlflow_uri",
    "REGRADE_API_KEYS": "api_keys",
    "REGRADE_POLICY": "policy",
    "REGRADE_GRADER_MODEL": "grader_model",
    "REGRADE_PRICING_MODEL": "pricing_model",
    "REGRADE_LEDGER": "ledger",
    "REGRADE_MAX_PHOTOS": "max_photos",
    "REGRADE_MAX_PHOTO_BYTES": "max_photo_bytes",
    "REGRADE_MAX_REQUEST_BYTES": "max_request_bytes",
    "REGRADE_BATCHING": "batching",
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from the settings file and the environment.

    Args:
        environ: The environment to read; `os.environ` by default.

    Raises:
        SettingsError: naming the variable or file key at fault.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    home = Path(env.get("REGRADE_HOME", "var"))
    file = env.get("REGRADE_SETTINGS")
    path = Path(file) if file else home / "settings.toml"
    if file and not path.is_file():
        raise SettingsError(f"REGRADE_SETTINGS: file not found: {path}")
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    for var, field in _ENV.items():
        if var not in env or env[var] == "":
            continue
        raw = env[var]
        if field == "api_keys":
            try:
                values[field] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise SettingsError(f"{var}: not valid JSON: {exc}") from exc
        else:
            values[field] = raw
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        source = next((v for v, f in _ENV.items() if f == first["loc"][0]), str(path))
        raise SettingsError(f"{source} ({field}): {first['msg']}") from exc
