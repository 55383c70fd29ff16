"""One typed settings object (pydantic-settings), read from the environment and a TOML file.

Precedence: `REGRADE_*` environment variables over the settings file over defaults; an empty
variable counts as unset. The settings file is `REGRADE_SETTINGS`, else `settings.toml` under
the home (`REGRADE_HOME`) when it exists. Nothing is created or connected here;
`Settings.ensure_dirs` makes the folders when a command needs them.

| setting | environment | default |
|---|---|---|
| home | REGRADE_HOME | ./var |
| database_url | REGRADE_DATABASE_URL | sqlite under home (regrade.db) |
| mlflow_uri | REGRADE_MLFLOW_URI | sqlite under home (mlflow.db), artifacts in home/mlartifacts |
| photo_store | REGRADE_PHOTO_STORE | home/photos (the folder replicas share) |
| api_keys | REGRADE_API_KEYS (JSON) | none; `{"key": [roles]}` or `{"key": {"roles", "name"}}` |
| policy | REGRADE_POLICY | built-in defaults |
| settings file | REGRADE_SETTINGS | home/settings.toml when it exists |
| grader_model | REGRADE_GRADER_MODEL | models:/regrade-grader@champion |
| pricing_model | REGRADE_PRICING_MODEL | models:/regrade-pricing@champion |
| ledger | REGRADE_LEDGER | none (no sale can be verified) |
| max_photos | REGRADE_MAX_PHOTOS | 8 per request |
| max_photo_bytes | REGRADE_MAX_PHOTO_BYTES | 10 MiB per photo |
| max_request_bytes | REGRADE_MAX_REQUEST_BYTES | 48 MiB per request body |
| max_request_pixels | REGRADE_MAX_REQUEST_PIXELS | 100 Mpx decoded per /grade or /assess |
| request_timeout_s | REGRADE_REQUEST_TIMEOUT_S | 30 s to read and grade one request's photos |
| batching | REGRADE_BATCHING | off (0): grade in the API worker; 1: in the batching runner |
| grade_threads | REGRADE_GRADE_THREADS | 0: one grader call at once per core (batching off) |
| double_grading_share | REGRADE_DOUBLE_GRADING_SHARE | 0.05: share of resolved cases graded again |
| session_secret | REGRADE_SESSION_SECRET | generated once, kept in home/session-secret |
| listing_sku_pattern | REGRADE_LISTING_SKU_PATTERN | {item_id}-R{grade} |
| listing_webhook | REGRADE_LISTING_WEBHOOK | none (no listing is posted anywhere) |
| promotion | REGRADE_PROMOTION (JSON), `[promotion]` | the rule a challenger must pass |
| monitor | REGRADE_MONITOR (JSON), `[monitor]` | drift and live-quality thresholds |
| reload_s | REGRADE_RELOAD_S | 0 (off): seconds between polls of the `@champion` aliases |
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceError

from models.kinds import GRADER, PRICING
from models.registry import ResolvedModel, resolve_model_dir

ROLES = ("intake", "grader", "pricing", "admin")
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
"""A key's audit name: a person or system, up to 64 letters, digits and `._@-`."""
ENV_PREFIX = "REGRADE_"
SETTINGS_FILE = "settings.toml"


class SettingsError(ValueError):
    """A setting has a bad value; the message names it."""


class PromotionPolicy(BaseModel):
    """When a retrained challenger may replace the champion (`regrade retrain --promote-if-better`).

    Both models are scored on the same fixed holdout. The challenger is promoted when its primary
    metric (grader `qwk`, pricing `rmsle`) is better with the bootstrap 95% interval of the
    difference excluding zero, or, when it is cheaper (a model folder `cheaper_by` smaller), no
    worse than the champion by more than the margin (the whole interval inside it); and its
    calibration is within its band; and no guardrail metric is worse than the champion's by more
    than its tolerance.

    Attributes:
        grader_margin: Non-inferiority margin on qwk (the challenger may lose this much).
        pricing_margin: Non-inferiority margin on rmsle (the challenger may gain this much).
        cheaper_by: How much smaller (share of the champion's folder) counts as cheaper.
        bootstrap_rounds: Resamples of the holdout for the interval.
        max_ece: Largest expected calibration error a grader may have.
        auto_accuracy_slack: How far below its own target accuracy a grader's auto_accuracy may be.
        coverage_band: Allowed range of the pricing band's interval_coverage_80.
        grader_guardrails: Metric -> tolerance: how much worse than the champion it may be.
        pricing_guardrails: The same for pricing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    grader_margin: float = Field(0.01, ge=0)
    pricing_margin: float = Field(0.005, ge=0)
    cheaper_by: float = Field(0.10, gt=0, lt=1)
    bootstrap_rounds: int = Field(1000, ge=50)
    max_ece: float = Field(0.08, gt=0)
    auto_accuracy_slack: float = Field(0.03, ge=0)
    coverage_band: tuple[float, float] = (0.70, 0.90)
    grader_guardrails: dict[str, float] = Field(
        default_factory=lambda: {
            "counterfeit_auroc": 0.02,
            "counterfeit_recall_at_fpr02": 0.05,
            "macro_f1": 0.02,
            "auto_coverage": 0.05,
        }
    )
    pricing_guardrails: dict[str, float] = Field(
        default_factory=lambda: {"mape": 0.02, "tts_cindex": 0.02, "policy_profit_capture": 0.02}
    )


class MonitorThresholds(BaseModel):
    """What `regrade monitor` flags.

    Attributes:
        psi_watch: Population stability index from which a feature is worth watching.
        psi_drift: PSI from which a feature has drifted.
        max_disagreement: Share of resolved cases where the grader changed the model's grade.
        coverage_band: Allowed share of sold prices inside the predicted [P10, P90].
        min_cindex: Lowest acceptable days-to-sell C-index on arriving outcomes.
        min_rows: Fewer recent rows than this are reported but never flagged.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    psi_watch: float = Field(0.1, gt=0)
    psi_drift: float = Field(0.2, gt=0)
    max_disagreement: float = Field(0.25, ge=0, le=1)
    coverage_band: tuple[float, float] = (0.70, 0.90)
    min_cindex: float = Field(0.6, ge=0, le=1)
    min_rows: int = Field(20, ge=1)


class ApiKey(BaseModel):
    """What one API key may do and who holds it.

    Written `{"roles": [...], "name": "alice"}`, or as the bare list of roles (no name).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: tuple[str, ...] = Field(..., description="intake, grader, pricing or admin.")
    name: str | None = Field(
        None, description="Who holds the key, recorded with each action in the audit trail."
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_roles(cls, value: Any) -> Any:
        return {"roles": value} if isinstance(value, list | tuple) else value

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown role(s) {unknown} for a key; roles are {list(ROLES)}")
        return roles

    @field_validator("name")
    @classmethod
    def _name(cls, name: str | None) -> str | None:
        if name is not None and not KEY_NAME.fullmatch(name):
            raise ValueError(
                f"bad key name {name!r}: up to 64 letters, digits and ._@-, a letter or digit first"
            )
        return name


class Settings(BaseSettings):
    """Where regrade keeps its state and who may call it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="forbid", frozen=True
    )

    home: Path = Field(
        Path("var"), description="Holds the database, MLflow store, photos and runs."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; SQLite under home if unset."
    )
    mlflow_uri: str | None = Field(
        None, description="MLflow tracking URI; SQLite under home if unset."
    )
    photo_store: Path | None = Field(
        None,
        description="Content-addressed photo folder (shared by replicas); home/photos if unset.",
    )
    api_keys: dict[str, ApiKey] = Field(
        default_factory=dict,
        description="API key -> its roles (intake, grader, pricing, admin) and holder's name.",
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
    max_request_pixels: int = Field(
        100_000_000,
        ge=1,
        description="Most pixels (width x height, all photos) one /grade or /assess may post.",
    )
    request_timeout_s: float = Field(
        30.0, gt=0, description="Longest a /grade or /assess may take to read and grade photos."
    )
    batching: bool = Field(
        False,
        description="Grade photos through the adaptive-batching runner process (off: in the API "
        "worker, the units queued while it grades going together; more answers a second on a "
        "few cores, docs/service.md).",
    )
    grade_threads: int = Field(
        0,
        ge=0,
        le=256,
        description="Grader calls the API worker runs at once with batching off, the cores "
        "shared among them (0: one per core the service may use, each call on one core: the "
        "most answers a second; 1: one call at a time on every core, the fastest single answer).",
    )
    double_grading_share: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Share of resolved cases sent to a second grader, blind (0 turns it off).",
    )
    session_secret: str | None = Field(
        None,
        min_length=16,
        description="Signs the web pages' session cookies; generated under home when unset.",
    )
    listing_sku_pattern: str = Field(
        "{item_id}-R{grade}",
        description="The resale SKU of a listing: `{item_id}`, `{grade}` and `{case_id}` fill in.",
    )
    listing_webhook: str | None = Field(
        None, description="URL each new listing is POSTed to (with an idempotency key)."
    )

    promotion: PromotionPolicy = Field(
        default_factory=PromotionPolicy,
        description="The rule a retrained challenger must pass to become @champion.",
    )
    monitor: MonitorThresholds = Field(
        default_factory=MonitorThresholds, description="What `regrade monitor` flags."
    )
    reload_s: float = Field(
        0, ge=0, description="Seconds between polls of the @champion aliases (0: no polling)."
    )

    @field_validator("listing_sku_pattern")
    @classmethod
    def _sku_fields(cls, pattern: str) -> str:
        try:
            pattern.format(item_id="i", grade="A", case_id="c")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"bad pattern {pattern!r} ({exc}); use {{item_id}}, {{grade}} and {{case_id}}"
            ) from exc
        return pattern

    @field_validator("listing_webhook")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
        return url

    @field_validator("api_keys")
    @classmethod
    def _no_empty_key(cls, keys: dict[str, ApiKey]) -> dict[str, ApiKey]:
        if any(not key for key in keys):
            raise ValueError("an API key must not be empty")
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
        """Content-addressed photo store of the service (`photo_store`, else home/photos)."""
        return self.photo_store or self.home / "photos"

    @property
    def session_secret_file(self) -> Path:
        """Where the web pages' generated session secret is kept when none is set."""
        return self.home / "session-secret"

    @property
    def bentoml_home(self) -> Path:
        """BentoML's home for `regrade serve` (`BENTOML_HOME`): its Prometheus multiprocess
        folder, which every start wipes, lives there, so two homes never share one."""
        return self.home / "bentoml"

    @property
    def grade_calls(self) -> int:
        """Grader calls the API worker runs at once (`grade_threads`; 0: the cores this process
        may run on)."""
        if self.grade_threads:
            return self.grade_threads
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # no affinity on this platform
            return os.cpu_count() or 1

    @property
    def model_cache_dir(self) -> Path:
        """Local copies of registered models, so the service starts without the tracking store."""
        return self.home / "model-cache"

    def resolve_model(self, uri: str | Path) -> ResolvedModel:
        """The local folder of the model `uri` names, through this home's registry and cache.

        Raises:
            ModelNotFoundError: with the URI and what is missing.
        """
        return resolve_model_dir(
            uri, tracking_uri=self.resolved_mlflow_uri, cache_dir=self.model_cache_dir
        )

    def ensure_dirs(self) -> None:
        """Create the folders under home."""
        for path in (self.home, self.runs_dir, self.photos_dir, self.model_cache_dir):
            path.mkdir(parents=True, exist_ok=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values given to `Settings(...)`, then the process environment, then the file."""
        return (init_settings, *_sources(settings_cls, os.environ))


class _Environment(EnvSettingsSource):
    """The `REGRADE_*` variables of a given environment (not necessarily `os.environ`)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # The variables as `EnvSettingsSource` reads `os.environ`: names lower-cased.
        return {
            name if self.case_sensitive else name.lower(): value
            for name, value in self._environ.items()
            if not (self.env_ignore_empty and value == "")
        }

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        """JSON values (`REGRADE_API_KEYS`); bad JSON is a `SettingsError` naming the variable."""
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{ENV_PREFIX}{field_name.upper()}: not valid JSON: {exc}") from exc


def settings_file(environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The settings file and whether it was named by `REGRADE_SETTINGS` (it must then exist)."""
    named = environ.get(f"{ENV_PREFIX}SETTINGS")
    if named:
        return Path(named), True
    return Path(environ.get(f"{ENV_PREFIX}HOME") or "var") / SETTINGS_FILE, False


def _sources(
    settings_cls: type[BaseSettings], environ: Mapping[str, str]
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The environment's variables over the settings file's values.

    A variable replaces the file's value whole (pydantic-settings would merge two `api_keys`
    tables), so the file source holds only what the environment leaves unset.

    Raises:
        SettingsError: `REGRADE_SETTINGS` names no file, or the file is not valid TOML.
    """
    path, named = settings_file(environ)
    if named and not path.is_file():
        raise SettingsError(f"{ENV_PREFIX}SETTINGS: file not found: {path}")
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    set_here = {k for k, v in environ.items() if k.startswith(ENV_PREFIX) and v != ""}
    file = {k: v for k, v in values.items() if f"{ENV_PREFIX}{k.upper()}" not in set_here}
    return _Environment(settings_cls, environ), InitSettingsSource(settings_cls, file)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from the environment and the settings file.

    Args:
        environ: The environment to read; `os.environ` by default.

    Raises:
        SettingsError: naming the variable or file key at fault.
    """
    env = os.environ if environ is None else environ
    try:
        sources = (InitSettingsSource(Settings, {}), *_sources(Settings, env))
        return Settings(_build_sources=(sources, {}))
    except SourceError as exc:  # pydantic-settings wraps the source's own error
        if isinstance(exc.__cause__, SettingsError):
            raise exc.__cause__ from None
        raise SettingsError(str(exc)) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        loc = [str(p) for p in first["loc"]]
        if loc[:1] == ["api_keys"] and len(loc) > 1:
            loc[1] = "<key>"  # never print a key
        field = ".".join(loc) or "settings"
        known = name in Settings.model_fields
        source = f"{ENV_PREFIX}{name.upper()}" if known else str(settings_file(env)[0])
        raise SettingsError(f"{source} ({field}): {first['msg']}") from exc
