"""The pricing model artifact: a plain folder of LightGBM text models and JSON, no pickle.

Layout of `model_dir/`:
- `pricing.json`: format and version, the fitted feature schema, the price band's quantile bases and
  conformal correction, the time-to-sell periods, the training config, metrics and data fingerprint;
- `price_p50.txt`, `price_p10.txt`, `price_p90.txt`: LightGBM text models (log1p price);
- `tts.txt`: the time-to-sell hazard booster (absent when the data had no time-to-sell columns);
- `tts_naive.txt`: the same family fitted on sold rows only, kept as the evaluation reference;
- `metrics.json`: the evaluation metrics, also inside `pricing.json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.pricing_features import PricingFeatures
from models.pricing.price_model import PriceModel
from models.pricing.tts_model import TimeToSellModel

ARTIFACT_FORMAT = "regrade-pricing"
FORMAT_VERSION = 1
META_FILE = "pricing.json"
TTS_FILE = "tts.txt"
NAIVE_FILE = "tts_naive.txt"
PRICE_FILES = ("price_p50.txt", "price_p10.txt", "price_p90.txt")


class ArtifactError(ValueError):
    """A folder is not a readable pricing artifact; the message says why."""


@dataclass
class PricingArtifact:
    """Everything a pricing predictor needs.

    Attributes:
        features: The fitted feature transform.
        price: The price band model.
        tts: The time-to-sell model, or None when the training data had no time-to-sell.
        tts_naive: The time-to-sell reference fitted on sold rows only (for evaluation), or None.
        info: JSON-ready extras: config, metrics, data fingerprint, training time.
    """

    features: PricingFeatures
    price: PriceModel
    tts: TimeToSellModel | None
    tts_naive: TimeToSellModel | None = None
    info: dict[str, Any] = field(default_factory=dict)


def save_artifact(artifact: PricingArtifact, folder: Path) -> Path:
    """Write the artifact into `folder` (created if needed) and return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in artifact.price.to_texts().items():
        (folder / name).write_text(text, encoding="utf-8")
    if artifact.tts is not None:
        (folder / TTS_FILE).write_text(artifact.tts.to_text(), encoding="utf-8")
    if artifact.tts_naive is not None:
        (folder / NAIVE_FILE).write_text(artifact.tts_naive.to_text(), encoding="utf-8")
    meta = {
        "format": ARTIFACT_FORMAT,
        "format_version": FORMAT_VERSION,
        "features": artifact.features.to_dict(),
        "price": artifact.price.meta(),
        "tts": None if artifact.tts is None else artifact.tts.meta(),
        "tts_naive": None if artifact.tts_naive is None else artifact.tts_naive.meta(),
        **artifact.info,
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    metrics = artifact.info.get("metrics")
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return folder


def _read(folder: Path, name: str) -> str:
    path = folder / name
    if not path.is_file():
        raise ArtifactError(f"{folder}: missing {name}; not a complete pricing model")
    return path.read_text(encoding="utf-8")


def load_artifact(folder: Path) -> PricingArtifact:
    """Read an artifact written by `save_artifact`.

    Raises:
        ArtifactError: the folder lacks a file, or holds another format or version.
    """
    folder = Path(folder)
    try:
        meta = json.loads(_read(folder, META_FILE))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{folder / META_FILE}: not valid JSON: {exc}") from exc
    if meta.get("format") != ARTIFACT_FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{folder}: format {meta.get('format')!r} v{meta.get('format_version')}, "
            f"expected {ARTIFACT_FORMAT!r} v{FORMAT_VERSION}"
        )
    try:
        features = PricingFeatures.from_dict(meta["features"])
    except (KeyError, ValueError) as exc:
        raise ArtifactError(f"{folder / META_FILE}: bad feature schema: {exc}") from exc
    price = PriceModel.from_texts({n: _read(folder, n) for n in PRICE_FILES}, meta["price"])
    tts = None
    if meta.get("tts") is not None:
        tts = TimeToSellModel.from_text(_read(folder, TTS_FILE), meta["tts"])
    naive = None
    if meta.get("tts_naive") is not None:
        naive = TimeToSellModel.from_text(_read(folder, NAIVE_FILE), meta["tts_naive"])
    known = {"format", "format_version", "features", "price", "tts", "tts_naive"}
    info = {k: v for k, v in meta.items() if k not in known}
    return PricingArtifact(features, price, tts, naive, info)
