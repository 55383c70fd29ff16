"""Where the model looked: the grader's per-photo maps agree with its scores."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models.grader.predictor import GraderPredictor
from serving.web.heatmaps import SIZE, overlay
from tests.serving.api_models import service_home, toy_photos


@pytest.fixture(scope="module")
def grader(tmp_path_factory):
    home = service_home(tmp_path_factory.getbasetemp() / "service-models")
    return GraderPredictor.load(home / "runs" / "grader" / "model", engine="torch"), home


def test_the_counterfeit_map_peaks_at_the_photos_one_class_score(grader):
    predictor, home = grader
    photos = toy_photos(home, 2)
    maps = predictor.photo_maps(photos, brand=None)
    result = predictor.predict_items([photos])[0]
    assert len(maps) == 2
    for photo_maps, photo in zip(maps, result.photos, strict=True):
        side = photo_maps.counterfeit.shape[0]
        assert photo_maps.counterfeit.shape == (side, side) and side >= 2
        assert photo_maps.counterfeit.max() == pytest.approx(photo.counterfeit_score, rel=1e-3)
        size = predictor.artifact.preprocess.image_size
        assert photo_maps.damage.shape == (size, size)
        assert np.isfinite(photo_maps.damage).all() and photo_maps.damage.max() > 0


def test_the_damage_map_follows_what_moves_the_severity_score(grader):
    predictor, home = grader
    photo = Image.open(io.BytesIO(toy_photos(home, 1)[0])).convert("RGB")
    flat = Image.new("RGB", photo.size, (128, 128, 128))
    busy, blank = predictor.photo_maps([photo, flat])
    assert busy.damage.sum() > blank.damage.sum()  # x * grad: no texture, little to attribute


def test_an_overlay_is_clear_where_low_and_red_where_high():
    values = np.zeros((4, 4))
    values[0, 0] = 2.0
    image = Image.open(io.BytesIO(overlay(values, low=0.0, top=1.0)))
    assert image.size == (SIZE, SIZE) and image.mode == "RGBA"
    alpha = np.asarray(image)[..., 3]
    assert alpha[0, 0] == 255 and alpha[-1, -1] == 0
