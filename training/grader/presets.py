"""Grader presets: the settings a run starts from, chosen by the data unless the user names one.

`auto` (the default) looks at the photo dataset before anything is decoded: whether it is the
synthetic generator's own (`regrade data synth` marks its photo folder with a `dataset.json`),
how many items it has and how large its photos are. It picks:

- `synthetic`: the recipe measured on the generator's set, unchanged (drawn damage and the
  point-estimate review cut included);
- `real-small` (fewer than `SMALL_ITEMS` items): no drawn damage, `light` augmentation, the
  last state kept, fewer epochs, the review cut with a finite-sample bound, calibration
  fitted on out-of-fold scores of train+val (`crossfit_folds`: the fold networks are the
  model's ensemble) and grades decided at the held-out grade shares;
- `real`: the synthetic recipe without the generator's drawn damage, with `light` augmentation,
  the last state kept, half the epochs (60: under `light` the networks fit real photos sooner)
  and that review cut.

The real presets augment `light` (mirror, brightness): under the synthetic recipe's `geometric`
augmentation (shifts, quarter turns, contrast) a network on a few hundred real photos did not
even fit its training photos in 60 epochs and called every item the majority grade. They keep
each network's last (averaged) state (`keep_best = False`): on a few dozen val items the lowest
val loss fell on an early state while accuracy still rose, and the last state graded held-out
photos better (docs/experiments/grader.md, "Real photos: what blocked learning"). `real-small`
decides grades by the held-out grade shares (`decision = "shares"`): a network that ranks a few
hundred real photos only roughly otherwise calls most doubtful units the commonest grade, and
the plain baseline's macro F1 beat it; on a full real set the median class did as well or
better (docs/experiments/grader.md, "The grade decision on real photos").

Settings the user gave (in the config file or on the command line) always win over the preset.
The input size is never larger than the photos' typical short side (no upsampling), except that
a `pretrained_file` whose `config.json` names its input size gets that size; a pretrained run
also starts with its backbone frozen (`freeze_epochs`, a tenth of the epochs).
`resolve_preset` returns the resolved config and a record of the choice for config.json and the
log. docs/grader.md says what each preset is for.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from features.photos import DATASET_INFO, load_photo_dataset
from features.problems import DataError, Problem
from models.grader.backbones import checkpoint_preprocess
from training.grader.config import GraderConfig
from training.synth import DAMAGE, PHOTOS, TRUTH
from training.synth.photos import SYNTH_SOURCE

SMALL_ITEMS = 500
"""Below this many items `auto` picks `real-small`."""
MIN_IMAGE_SIZE = 32
"""The input size is capped at the photos' median short side, but never below this."""
SIZE_SAMPLE = 64
"""Photos whose headers are read to measure the typical photo size."""

PRESETS: dict[str, dict[str, Any]] = {
    "synthetic": {},
    "real": {
        "damage_share": 0.0,
        "review_level": 0.95,
        "augment": "light",
        "keep_best": False,
        "epochs": 60,
    },
    "real-small": {
        "damage_share": 0.0,
        "review_level": 0.95,
        "augment": "light",
        "keep_best": False,
        "members": 1,
        "epochs": 60,
        "crossfit_folds": 5,
        "decision": "shares",
    },
}
"""Each preset's settings over `GraderConfig`'s defaults (which are the synthetic recipe)."""


@dataclass(frozen=True)
class PhotoFacts:
    """What `auto` looks at, read without decoding the photos.

    Attributes:
        items: Items in the dataset.
        photos: Photo rows in the dataset.
        median_side: Median short side, pixels, of up to `SIZE_SAMPLE` photos (0 when unknown).
        generated: True when the folder is the synthetic generator's own.
    """

    items: int
    photos: int
    median_side: int
    generated: bool


def is_generated(root: Path) -> bool:
    """True when `root` is a photo folder written by `regrade data synth`.

    Its `dataset.json` names the generator; a folder written before that file existed is
    recognised by the generator's `damage.csv` and `truth.csv` beside `photos/`.
    """
    marker = root / DATASET_INFO
    if marker.is_file():
        try:
            return json.loads(marker.read_text()).get("source") == SYNTH_SOURCE
        except (OSError, ValueError, AttributeError):
            return False
    parent = root.parent
    return root.name == PHOTOS and (parent / DAMAGE).is_file() and (parent / TRUTH).is_file()


def photo_facts(root: Path | str) -> PhotoFacts:
    """Item and photo counts, typical photo size and origin of a photo dataset.

    Raises:
        features.problems.DataError: the dataset breaks its contract.
    """
    root = Path(root)
    frame = load_photo_dataset(root, decode=False)
    picks = np.unique(np.linspace(0, len(frame) - 1, min(SIZE_SAMPLE, len(frame))).astype(int))
    sides = []
    for rel in frame["image"].iloc[picks]:
        try:
            with Image.open(root / rel) as image:  # reads the header only
                sides.append(min(image.size))
        except OSError:
            continue  # an unreadable photo is reported when the photos are decoded
    return PhotoFacts(
        items=int(frame["item_id"].nunique()),
        photos=len(frame),
        median_side=int(np.median(sides)) if sides else 0,
        generated=is_generated(root),
    )


def choose_preset(facts: PhotoFacts) -> tuple[str, str]:
    """The preset `auto` picks for this data, and why (one line)."""
    if facts.generated:
        return "synthetic", "the synthetic generator's own data (its dataset.json)"
    if facts.items < SMALL_ITEMS:
        return "real-small", f"{facts.items} items (< {SMALL_ITEMS}), not the generator's data"
    return "real", f"{facts.items} items (>= {SMALL_ITEMS}), not the generator's data"


def resolve_preset(config: GraderConfig, facts: PhotoFacts) -> tuple[GraderConfig, dict[str, Any]]:
    """The config with its preset applied under the settings the user gave.

    Args:
        config: The run config; the fields it was given explicitly (`model_fields_set`) stay.
        facts: The data (`photo_facts`).

    Returns:
        The resolved config and a JSON-ready record: requested and chosen preset, why, the
        settings the preset applied, the ones the user's settings overrode, and the data facts.
    """
    explicit = set(config.model_fields_set)
    if config.preset == "auto":
        chosen, reason = choose_preset(facts)
    else:
        chosen, reason = config.preset, "named by the user"
    wanted = dict(PRESETS[chosen])
    if config.pretrained_file:
        reason += _pretrained(config, explicit, wanted)
    size = wanted.get("image_size", GraderConfig.model_fields["image_size"].default)
    sized = "image_size" in explicit or (config.pretrained_file and "image_size" in wanted)
    if not sized and facts.median_side and facts.median_side < size:
        wanted["image_size"] = max(MIN_IMAGE_SIZE, facts.median_side)
        reason += f"; input size capped at the photos' median short side {facts.median_side}"
    applied = {k: v for k, v in wanted.items() if k not in explicit}
    overridden = {k: getattr(config, k) for k in wanted if k in explicit}
    resolved = config.model_copy(update=applied)
    record = {
        "requested": config.preset,
        "chosen": chosen,
        "reason": reason,
        "applied": applied,
        "user_settings_kept": overridden,
        "data": asdict(facts),
    }
    return resolved, record


def _pretrained(config: GraderConfig, explicit: set[str], wanted: dict[str, Any]) -> str:
    """Settings a pretrained checkpoint brings (its input size; a frozen start), into `wanted`;
    the reason's addition.

    Raises:
        DataError: the checkpoint's config.json is unreadable (names it).
    """
    try:
        given = checkpoint_preprocess(config.pretrained_file)
    except ValueError as exc:
        raise DataError([Problem("setting 'pretrained_file'", str(exc))]) from exc
    said = ""
    if given is not None and given.image_size:
        wanted["image_size"] = given.image_size  # the checkpoint's own size, even if larger
        said = f"; input size {given.image_size} from the checkpoint's config"
    epochs = config.epochs if "epochs" in explicit else wanted.get("epochs", config.epochs)
    wanted["freeze_epochs"] = max(1, epochs // 10)
    return said + "; a frozen backbone for the first tenth of the epochs (pretrained)"


def describe_preset(record: dict[str, Any]) -> str:
    """One line for the log: the chosen preset, why, and what it set."""
    applied = ", ".join(f"{k} = {v}" for k, v in record["applied"].items()) or "nothing changed"
    kept = record["user_settings_kept"]
    tail = f"; your settings kept: {', '.join(kept)}" if kept else ""
    return f"preset: {record['chosen']} ({record['reason']}): {applied}{tail}"
