"""`regrade demo`: set up, make a sample, train small models and register them.

Every step reuses what an earlier run left: the sample in `data/sample/`, the `@champion` models
in the registry, the demo API keys in `REGRADE_HOME/demo-keys.json`. Sizes are small so the
whole first run takes minutes on a laptop CPU; real training uses `regrade train ...` directly.
The models are trained by the same pipelines as `regrade train` (`training.grader.pipeline`,
`training.pricing.pipeline`); the `regrade demo` command then starts the service.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from models.kinds import GRADER, PRICING, ModelKind
from models.registry import ModelNotFoundError
from serving.settings import ROLES, Settings, load_settings
from training.grader import config as grader_config
from training.grader.distributed import training_device, training_precision
from training.grader.pipeline import train_grader
from training.pricing import config as pricing_config
from training.pricing.pipeline import train_pricing
from training.progress import out, tracked
from training.synth import synthesize

SAMPLE = Path("data/sample")
SALES = Path("data/sample-sales")
"""A larger outcomes-only sample (no photos) for the pricing model: prices need more rows."""
KEYS_FILE = "demo-keys.json"
DEMO_SEARCH_SECONDS = 15.0
"""The demo's pricing hyperparameter search budget: a first run stays within minutes."""


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo's sample and models (small on purpose)."""

    items: int = 1500
    sales_items: int = 20_000
    photos_per_item: int = 2
    image_size: int = 96
    seed: int = 7
    # two networks at 96 px with the synthetic recipe's drawn damage, as many epochs as fit a
    # few minutes of a 2-core CPU: 80 in bf16, 45 where the CPU lacks native bf16 (an fp32
    # epoch costs 1.76x); no plain baseline (docs/experiments/grader.md, "The demo's grader")
    grader_members: int = 2
    grader_epochs: int | None = None
    grader_image_size: int = 96
    grader_augment: str = "geometric"
    grader_damage_share: float = 0.2
    grader_baseline_epochs: int = 0


DEMO_EPOCHS = {"bf16": 80, "fp32": 45}
"""The demo grader's epochs by the arithmetic `auto` picks here (when `grader_epochs` is None)."""


def demo_keys(settings: Settings) -> dict[str, list[str]]:
    """The API keys in force, or one demo key per role kept in `REGRADE_HOME/demo-keys.json`."""
    if settings.api_keys:
        return {key: list(config.roles) for key, config in settings.api_keys.items()}
    path = settings.home / KEYS_FILE
    if path.is_file():
        return json.loads(path.read_text())
    keys = {f"demo-{role}-{secrets.token_urlsafe(12)}": [role] for role in ROLES}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, indent=2) + "\n")
    path.chmod(0o600)
    return keys


def _has_champion(kind: ModelKind, settings: Settings) -> str | None:
    """The version of `kind` holding `@champion`, or None when there is none."""
    try:
        return settings.resolve_model(kind.champion_uri).version
    except ModelNotFoundError:
        return None


def ensure_sample(config: DemoConfig) -> tuple[Path, Path]:
    """Generate the synthetic samples unless they are already there: photos and sales."""
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


def demo_grader_config(config: DemoConfig) -> grader_config.GraderConfig:
    """The demo grader's settings: two networks, trained for a few minutes (docs/experiments/
    grader.md, "The demo's grader"); the epochs follow the arithmetic this machine trains in."""
    # the plain baseline is skipped: its epochs cost more than the grader's and the demo only
    # serves the model
    epochs = config.grader_epochs
    if epochs is None:
        epochs = DEMO_EPOCHS[training_precision("auto", training_device("auto"))]
    return grader_config.load_config(
        None,
        augment=config.grader_augment,
        members=config.grader_members,
        epochs=epochs,
        damage_share=config.grader_damage_share,
        baseline_epochs=config.grader_baseline_epochs,
        image_size=config.grader_image_size,
        seed=config.seed,
    )


def ensure_models(settings: Settings, sample: Path, sales: Path, config: DemoConfig) -> None:
    """Train and promote a small grader and pricing model where no @champion exists."""
    version = _has_champion(GRADER, settings)
    if version:
        out.print(f"grader: reusing {GRADER.registered_name} version {version} (@champion)")
    else:
        cfg = demo_grader_config(config)
        for line in train_grader(cfg, sample, None, settings, promote=True).report():
            out.print(line)
    version = _has_champion(PRICING, settings)
    if version:
        out.print(f"pricing: reusing {PRICING.registered_name} version {version} (@champion)")
    else:
        cfg = pricing_config.load_config(None, seed=config.seed, search_seconds=DEMO_SEARCH_SECONDS)
        result = train_pricing(cfg, sales / "outcomes.csv", None, settings, promote=True)
        for line in result.report():
            out.print(line)


def prepare_demo(host: str = "127.0.0.1", port: int = 3000) -> dict[str, list[str]]:
    """Sample, models and keys; prints where the service will answer and how to try it.

    Returns:
        The API keys (key to roles) the service is to accept.
    """
    settings = load_settings()
    settings.ensure_dirs()
    config = DemoConfig()
    sample, sales = ensure_sample(config)
    ensure_models(settings, sample, sales, config)
    keys = demo_keys(settings)
    base = f"http://{host}:{port}"
    out.print(f"\nregrade is ready at {base}")
    out.print(f"  API docs   {base}/docs\n  readiness  {base}/readyz")
    out.print(f"  pages      {base}/ui/signin  (sign in with a grader or pricing key below)")
    out.print("  API keys (Authorization: Bearer <key>, or paste one into the sign-in page):")
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
    return keys
