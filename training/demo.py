"""`regrade demo`: set up, make a sample, train small models, register them and serve.

Every step reuses what an earlier run left: the sample in `data/sample/`, the `@champion` models
in the registry, the demo API keys in `REGRADE_HOME/demo-keys.json`. Sizes are small so the
whole first run takes minutes on a laptop CPU; real training uses `regrade train ...` directly.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from serving.settings import ROLES, Settings, load_settings
from training.cli.common import console, out

SAMPLE = Path("data/sample")
SALES = Path("data/sample-sales")
"""A larger outcomes-only sample (no photos) for the pricing model: prices need more rows."""
KEYS_FILE = "demo-keys.json"


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo's sample and models (small on purpose)."""

    items: int = 1500
    sales_items: int = 20_000
    photos_per_item: int = 2
    image_size: int = 96
    seed: int = 7
    grader_epochs: int = 6
    grader_image_size: int = 64


def demo_keys(settings: Settings) -> dict[str, list[str]]:
    """The API keys in force, or one demo key per role kept in `REGRADE_HOME/demo-keys.json`."""
    if settings.api_keys:
        return settings.api_keys
    path = settings.home / KEYS_FILE
    if path.is_file():
        return json.loads(path.read_text())
    keys = {f"demo-{role}-{secrets.token_urlsafe(12)}": [role] for role in ROLES}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, indent=2) + "\n")
    path.chmod(0o600)
    return keys


def _has_champion(name: str, settings: Settings) -> str | None:
    from models.registry import ModelNotFoundError, resolve_model_dir

    try:
        return resolve_model_dir(
            f"models:/{name}@champion",
            tracking_uri=settings.resolved_mlflow_uri,
            cache_dir=settings.model_cache_dir,
        ).version
    except ModelNotFoundError:
        return None


def ensure_sample(config: DemoConfig) -> tuple[Path, Path]:
    """Generate the synthetic samples unless they are already there: photos and sales."""
    from training.cli.common import tracked
    from training.synth import synthesize

    if (SAMPLE / "outcomes.csv").is_file() and (SAMPLE / "photos" / "manifest.csv").is_file():
        out.print(f"sample: reusing {SAMPLE}")
    else:
        summary = synthesize(
            SAMPLE,
            items=config.items,
            photos_per_item=config.photos_per_item,
            image_size=config.image_size,
            seed=config.seed,
            overwrite=True,
            progress=tracked(f"drawing {config.items} items"),
        )
        out.print(f"sample: wrote {summary.out} ({summary.items} items, {summary.photos} photos)")
    if (SALES / "outcomes.csv").is_file():
        out.print(f"sales: reusing {SALES}")
    else:
        summary = synthesize(
            SALES, items=config.sales_items, photos_per_item=0, seed=config.seed, overwrite=True
        )
        out.print(f"sales: wrote {summary.out} ({summary.outcome_rows} outcome rows)")
    return SAMPLE, SALES


def ensure_models(settings: Settings, sample: Path, sales: Path, config: DemoConfig) -> None:
    """Train and promote a small grader and pricing model where no @champion exists."""
    from training.cli.grader import train_grader
    from training.cli.pricing import train_pricing_command

    version = _has_champion("regrade-grader", settings)
    if version:
        out.print(f"grader: reusing regrade-grader version {version} (@champion)")
    else:
        # a few epochs of one network (not the default three): mirror-and-brightness
        # augmentation learns faster than the default's
        settings_file = settings.home / "demo-grader.toml"
        settings_file.write_text('[grader]\naugment = "light"\nmembers = 1\n')
        train_grader(
            data=sample,
            epochs=config.grader_epochs,
            image_size=config.grader_image_size,
            seed=config.seed,
            config=settings_file,
            promote=True,
        )
    version = _has_champion("regrade-pricing", settings)
    if version:
        out.print(f"pricing: reusing regrade-pricing version {version} (@champion)")
    else:
        train_pricing_command(data=sales / "outcomes.csv", seed=config.seed, promote=True)


def run_demo(host: str = "127.0.0.1", port: int = 3000, serve: bool = True) -> None:
    """Run the demo: sample, models, keys, then the service in the foreground."""
    settings = load_settings()
    settings.ensure_dirs()
    config = DemoConfig()
    sample, sales = ensure_sample(config)
    ensure_models(settings, sample, sales, config)
    keys = demo_keys(settings)
    base = f"http://{host}:{port}"
    out.print(f"\nregrade is ready at {base}")
    out.print(f"  API docs   {base}/docs\n  readiness  {base}/readyz")
    out.print("  API keys (Authorization: Bearer <key>):")
    for key, roles in keys.items():
        out.print(f"    {','.join(roles):<8} {key}")
    intake = next((k for k, r in keys.items() if "intake" in r), "<intake key>")
    photo = next((sample / "photos").rglob("*.jpg"), None)
    out.print(
        "  try:\n"
        f"    curl -s -H 'Authorization: Bearer {intake}' -F photos=@{photo} "
        "-F item_id=demo-1 -F category=phone -F brand=Kepler -F age_months=12 "
        f"-F new_price=700 -F acquisition_cost=40 {base}/assess"
    )
    if not serve:
        return
    from training.cli.serve import serve as start_service

    os.environ.setdefault("REGRADE_API_KEYS", json.dumps(keys))
    console.print("starting the service (Ctrl-C stops it) ...")
    start_service(host=host, port=port)
