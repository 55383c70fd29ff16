"""The pricing model artifact: a plain folder of LightGBM text models and JSON, no pickle.

Layout of `model_dir/`:
- `artifact.json`: the metadata block every model folder carries (`models.artifact`): format and
  version, training config, git sha, data fingerprint and path, metrics;
- `pricing.json`: the fitted feature schema, the price band's quantile bases and conformal
  correction, the time-to-sell periods, and the row counts of the training data;
- `price_p50.txt`, `price_p10.txt`, `price_p90.txt`: LightGBM text models (log1p price), and
  `price_p50_extra.txt` and `price_p50_raw.txt`, P50's partners (extra trees; the features
  without their level encodings), each when `pricing.json` gives it a blend weight;
- `tts.txt`: the time-to-sell hazard booster (absent when the data had no time-to-sell columns);
- `tts_naive.txt`: the same family fitted on sold rows only, kept as the evaluation reference;
- `metrics.json`: the evaluation metrics, also inside `artifact.json`.

Folders saved before `artifact.json` existed carry the format, config and metrics in
`pricing.json`; they still load, with `meta` None and those parts in `info`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from features.pricing_features import PricingFeatures
from models.artifact import (
    META_FILE,
    ArtifactError,
    ArtifactMeta,
    read_meta,
    verify_files,
    write_meta,
)
from models.kinds import PRICING
from models.pricing.boosting import booster_from_text
from models.pricing.price_model import EXTRA_FILE, RAW_FILE, PriceModel
from models.pricing.tts_model import TimeToSellModel

T = TypeVar("T")

MODEL_FILE = "pricing.json"
TTS_FILE = "tts.txt"
NAIVE_FILE = "tts_naive.txt"
PRICE_FILES = ("price_p50.txt", "price_p10.txt", "price_p90.txt")
MODEL_KEYS = ("features", "price", "tts", "tts_naive")
"""The parts of pricing.json that describe the models; the rest is `info`."""


@dataclass
class PricingArtifact:
    """Everything a pricing predictor needs.

    Attributes:
        features: The fitted feature transform.
        price: The price band model.
        tts: The time-to-sell model, or None when the training data had no time-to-sell.
        tts_naive: The time-to-sell reference fitted on sold rows only (for evaluation), or None.
        meta: The metadata block; None for a folder saved before it existed.
        info: JSON-ready extras kept in pricing.json (the training data's row counts).
    """

    features: PricingFeatures
    price: PriceModel
    tts: TimeToSellModel | None
    tts_naive: TimeToSellModel | None = None
    meta: ArtifactMeta | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, Any]:
        """The evaluation metrics recorded at training time (empty when unknown)."""
        if self.meta is not None:
            return dict(self.meta.metrics)
        return dict(self.info.get("metrics") or {})

    @property
    def training_config(self) -> dict[str, Any]:
        """The run config that trained it (empty when unknown)."""
        if self.meta is not None:
            return dict(self.meta.training_config)
        return dict(self.info.get("config") or {})


def save_artifact(artifact: PricingArtifact, folder: Path) -> Path:
    """Write the artifact into `folder` (created if needed) and return it.

    The metadata block is `artifact.meta`, or a bare one (format and version only) when None.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in artifact.price.to_texts().items():
        (folder / name).write_text(text, encoding="utf-8")
    if artifact.tts is not None:
        (folder / TTS_FILE).write_text(artifact.tts.to_text(), encoding="utf-8")
    if artifact.tts_naive is not None:
        (folder / NAIVE_FILE).write_text(artifact.tts_naive.to_text(), encoding="utf-8")
    model = {
        "features": artifact.features.to_dict(),
        "price": artifact.price.meta(),
        "tts": None if artifact.tts is None else artifact.tts.meta(),
        "tts_naive": None if artifact.tts_naive is None else artifact.tts_naive.meta(),
        **artifact.info,
    }
    (folder / MODEL_FILE).write_text(json.dumps(model, indent=2, sort_keys=True), encoding="utf-8")
    meta = artifact.meta or ArtifactMeta.new(PRICING)
    if meta.metrics:
        (folder / "metrics.json").write_text(json.dumps(meta.metrics, indent=2), encoding="utf-8")
    write_meta(folder, meta)  # last: it records the digests of the files above
    return folder


def _read(folder: Path, name: str) -> str:
    path = folder / name
    if not path.is_file():
        raise ArtifactError(f"{folder}: missing {name}; not a complete pricing model")
    return path.read_text(encoding="utf-8")


def _legacy_format(model: dict[str, Any], path: Path) -> None:
    """Check the format tag a folder saved before artifact.json carried in pricing.json."""
    if model.get("format") != PRICING.artifact_format or (
        model.get("format_version") != PRICING.format_version
    ):
        raise ArtifactError(
            f"{path}: format {model.get('format')!r} v{model.get('format_version')}, "
            f"expected {PRICING.artifact_format!r} v{PRICING.format_version}"
        )


def _booster(folder: Path, name: str, parse: Callable[[str], T]) -> T:
    """`parse` of a LightGBM text file; a file LightGBM cannot read is an ArtifactError."""
    text = _read(folder, name)
    try:
        return parse(text)
    except Exception as exc:  # LightGBMError, JSONDecodeError (a truncated file): not usable
        raise ArtifactError(f"{folder / name}: not a readable LightGBM model: {exc}") from exc


def _price_model(folder: Path, meta: dict[str, Any]) -> PriceModel:
    """The price band model; when it cannot be read, the file at fault is named."""
    names = PRICE_FILES
    if float(meta.get("blend", 0.0)) > 0:
        names = (*names, EXTRA_FILE)
    if float(meta.get("blend_raw", 0.0)) > 0:
        names = (*names, RAW_FILE)
    texts = {name: _read(folder, name) for name in names}
    try:
        return PriceModel.from_texts(texts, meta)
    except Exception:
        for name in names:  # only on failure: find the file LightGBM refuses
            _booster(folder, name, booster_from_text)
        raise


def load_artifact(folder: Path) -> PricingArtifact:
    """Read an artifact written by `save_artifact` (or saved before artifact.json).

    Every file is checked against the digests in `artifact.json` first (`verify_files`).

    Raises:
        ArtifactError: the folder lacks a file, a file does not match its digest or cannot be
            read, or the folder holds another format or version (a ValueError); the message
            names the file.
    """
    folder = Path(folder)
    text = _read(folder, MODEL_FILE)
    try:
        model = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{folder / MODEL_FILE}: not valid JSON: {exc}") from exc
    meta = None
    if (folder / META_FILE).is_file():
        meta = read_meta(folder, PRICING)
    else:
        _legacy_format(model, folder / MODEL_FILE)
    verify_files(folder, meta)
    try:
        features = PricingFeatures.from_dict(model["features"])
    except (KeyError, ValueError) as exc:
        raise ArtifactError(f"{folder / MODEL_FILE}: bad feature schema: {exc}") from exc
    price = _price_model(folder, model["price"])
    tts = None
    if model.get("tts") is not None:
        tts = _booster(folder, TTS_FILE, lambda t: TimeToSellModel.from_text(t, model["tts"]))
    naive = None
    if model.get("tts_naive") is not None:
        naive = _booster(
            folder, NAIVE_FILE, lambda t: TimeToSellModel.from_text(t, model["tts_naive"])
        )
    known = {*MODEL_KEYS, "format", "format_version"}
    info = {k: v for k, v in model.items() if k not in known}
    return PricingArtifact(features, price, tts, naive, meta, info)
