"""Behaviour of the grader on synthetic intake photos, checked on a small model trained once.

The module fixture trains a small grader (300 synthetic items, 64 px, under a minute on a
2-core CPU) and every test runs in the default suite. Two behaviours hold by construction and
are checked as such: flip invariance (test-time averaging over the photo and its mirror) and
"an item is no better than its worst view" (item severity = maximum over views, decisions
monotone in severity). Two are learned and checked directionally on fresh scenes: a crack drawn
on an A photo never improves its grade, and a counterfeit brand mark raises the counterfeit
score. Set REGRADE_GRADER_MODEL to a model folder to run the same checks on a full model.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageOps

from models.grader.predictor import GraderPredictor
from training.grader.config import GraderConfig
from training.grader.data import load_photoset
from training.grader.train import train_grader_model
from training.synth.brandmark import paste_mark
from training.synth.catalog import BRANDS
from training.synth.damage import draw_crack
from training.synth.photos import item_rng, render_item_scenes

SIZE = 64
CATEGORIES = tuple(BRANDS)
SMALL_ITEMS = 300
SMALL_EPOCHS = 24
SMALL_COUNTERFEIT_WEIGHT = 3.0
"""At 300 items the counterfeit marks are learned slowly next to the grades: at weight 1 and 12
epochs altered marks raised the score for half the scenes; at 3 and 24 epochs for 9 in 10. The
small model draws no damage (`damage_share = 0`): with the default's drawn damage, whose photos
leave the counterfeit losses, it raised the score for 23 of 32 (the full default model passes
every check here, via `REGRADE_GRADER_MODEL`)."""
ORDER = "ABC"


def _train(tmp_path: Path, n_items: int, epochs: int, backbone: str) -> GraderPredictor:
    from training.synth.items import make_items
    from training.synth.photos import write_photos

    items = make_items(n_items, counterfeit_rate=0.3, seed=11)
    write_photos(items, tmp_path / "photos", photos_per_item=2, image_size=SIZE, seed=11)
    data, _ = load_photoset(tmp_path / "photos", SIZE)
    config = GraderConfig(
        epochs=epochs, image_size=SIZE, backbone=backbone, batch_items=16,
        reference_bank_size=64, threads=1, augment="light", members=1,
        counterfeit_weight=SMALL_COUNTERFEIT_WEIGHT, damage_share=0.0,
    )  # fmt: skip
    result = train_grader_model(config, data, tmp_path / "model")
    return GraderPredictor.load(result.model_dir)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> GraderPredictor:
    given = os.environ.get("REGRADE_GRADER_MODEL")
    if given:
        return GraderPredictor.load(given)
    return _train(tmp_path_factory.mktemp("small"), SMALL_ITEMS, SMALL_EPOCHS, "resnet10t_half")


def _scenes(grade: str, n: int, size: int, counterfeit: int = 0, seed: int = 5):
    """`n` items of one grade, two views each, rendered at `size` px."""
    out = []
    for i in range(n):
        category = CATEGORIES[i % len(CATEGORIES)]
        brand = BRANDS[category][i % len(BRANDS[category])]
        item = {"category": category, "brand": brand, "grade": grade, "counterfeit": counterfeit}
        views = render_item_scenes(item, 2, size, item_rng(seed, f"b{grade}{i}"))
        out.append((item, views))
    return out


def test_horizontal_flip_never_changes_a_grade(predictor):
    size = predictor.artifact.preprocess.image_size
    photos = [v.image for g in "ABC" for _, views in _scenes(g, 4, size) for v in views]
    mirrored = [ImageOps.mirror(p) for p in photos]
    plain = predictor.predict_items([[p] for p in photos])
    flipped = predictor.predict_items([[p] for p in mirrored])
    for a, b in zip(plain, flipped, strict=True):
        assert a.grade == b.grade
        assert a.severity == pytest.approx(b.severity, abs=1e-4)
        assert a.counterfeit.score == pytest.approx(b.counterfeit.score, abs=1e-4)


def test_item_with_one_damaged_view_is_no_better_than_that_view(predictor):
    size = predictor.artifact.preprocess.image_size
    clean = [v.image for _, views in _scenes("A", 6, size) for v in views[:1]]
    damaged = [v.image for _, views in _scenes("C", 6, size) for v in views[:1]]
    for good, bad in zip(clean, damaged, strict=True):
        alone = predictor.predict_items([[bad]])[0]
        item = predictor.predict_items([[good, bad, good]])[0]
        assert ORDER.index(item.grade) >= ORDER.index(alone.grade)
        assert item.severity >= alone.severity - 1e-5
        assert item.probabilities["C"] >= alone.probabilities["C"] - 1e-6
        assert len(item.photos) == 3


def test_a_crack_never_improves_a_grade(predictor):
    size = predictor.artifact.preprocess.image_size
    photos = [v.image for _, views in _scenes("A", 12, size) for v in views]
    rng = np.random.default_rng(0)
    centre = (size // 4, size // 4, 3 * size // 4, 3 * size // 4)  # products sit mid-frame
    cracked = [draw_crack(p, rng, 0.9, region=centre) for p in photos]
    before = predictor.predict_items([[p] for p in photos])
    after = predictor.predict_items([[p] for p in cracked])
    for b, a in zip(before, after, strict=True):
        assert ORDER.index(a.grade) >= ORDER.index(b.grade)
    lift = np.array([a.severity - b.severity for a, b in zip(after, before, strict=True)])
    assert lift.mean() > 0 and (lift > 0).mean() >= 0.8
    # the crack is seen, not only tolerated: most cracked photos leave grade A
    assert np.mean([a.grade != "A" for a in after]) >= 0.5


def test_altering_the_brand_mark_raises_the_counterfeit_score(predictor):
    size = predictor.artifact.preprocess.image_size
    rng = np.random.default_rng(1)
    genuine, altered, metadata = [], [], []
    for item, views in _scenes("A", 32, size, seed=9):
        view = views[0]
        fake = paste_mark(view.image, item["brand"], True, rng, view.mark_centre,
                          view.mark_size, view.mark_angle)  # fmt: skip
        genuine.append([view.image])
        altered.append([fake])
        metadata.append({"brand": item["brand"]})
    before = predictor.predict_items(genuine, metadata)
    after = predictor.predict_items(altered, metadata)
    lift = np.array(
        [a.counterfeit.score - b.counterfeit.score for a, b in zip(after, before, strict=True)]
    )
    assert lift.mean() > 0 and (lift > 0).mean() >= 0.75
