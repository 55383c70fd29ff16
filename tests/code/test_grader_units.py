"""Unit checks of the grader's parts: ordinal head, calibration, references, preprocessing,
backbone factory, config files and data splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.metrics import f1_score

from features.problems import DataError
from models.grader.backbones import BACKBONES, create_backbone
from models.grader.calibration import (
    Calibration,
    expected_calibration_error,
    fit_calibration,
    selective_threshold,
    share_cuts,
)
from models.grader.counterfeit import ReferenceBank, fit_threshold
from models.grader.heads import class_probs, decode, item_max
from models.grader.preprocess import PreprocessConfig, eval_transform, to_uint8
from training.grader.config import load_config
from training.grader.data import assign_splits, load_photoset
from training.grader.toy import write_toy_dataset


def test_cumulative_probs_sum_to_one_and_decision_is_monotone():
    score = torch.linspace(-6, 6, 121)
    thresholds = torch.tensor([-1.0, 1.5])
    probs = class_probs(score, thresholds)
    assert torch.allclose(probs.sum(1), torch.ones(121), atol=1e-5)
    grades = decode(score, thresholds)
    assert grades[0] == 0 and grades[-1] == 2
    assert bool((grades[1:] >= grades[:-1]).all())
    # probability of the worst grade only grows with severity
    assert bool((probs[1:, 2] >= probs[:-1, 2]).all())


def test_item_max_takes_the_worst_view():
    values = torch.tensor([0.1, 3.0, -1.0, 2.0, 5.0])
    index = torch.tensor([0, 0, 1, 1, 2])
    assert item_max(values, index, 3).tolist() == [3.0, 2.0, 5.0]


def test_calibration_recovers_an_overconfident_temperature():
    rng = np.random.default_rng(0)
    latent = rng.normal(0, 2, size=4000)
    noisy = latent + rng.logistic(0, 1, size=4000)
    target = (noisy > -1).astype(int) + (noisy > 1.5).astype(int)
    # a network that learned the right order but three times too sharp a scale
    cal = fit_calibration(3 * latent, target, np.array([-3.0, 4.5]), target_accuracy=0.9)
    assert cal.temperature == pytest.approx(3.0, rel=0.15)
    probs = cal.probs(3 * latent)
    pred = cal.grade_index(3 * latent)
    conf = probs[np.arange(len(pred)), pred]
    assert expected_calibration_error(conf, pred == target) < 0.03
    answered = conf >= cal.review_confidence
    assert (pred == target)[answered].mean() >= 0.9
    assert 0.1 < answered.mean() < 0.9


def test_the_shares_decision_calls_each_grade_as_often_as_it_occurs_and_stays_monotone():
    """A weak score on 70/16/14 grades: the median class calls over 80% of the items A; the
    shares decision calls each grade at its held-out share, with the same probabilities."""
    rng = np.random.default_rng(1)
    target = rng.choice(3, size=600, p=[0.7, 0.16, 0.14])
    score = 0.6 * target + rng.normal(0, 1, size=600)  # a score that ranks, weakly
    median = fit_calibration(score, target, np.array([0.0, 1.0]), target_accuracy=0.97)
    shares = fit_calibration(
        score, target, np.array([0.0, 1.0]), target_accuracy=0.97, decision="shares"
    )
    assert median.decision_cuts is None and len(shares.decision_cuts) == 2
    assert (median.temperature, median.thresholds) == (shares.temperature, shares.thresholds)
    called_median = np.bincount(median.grade_index(score), minlength=3)
    called_shares = np.bincount(shares.grade_index(score), minlength=3)
    assert called_median[0] > 0.8 * len(score)  # A is 70% of the items
    assert called_shares.tolist() == np.bincount(target, minlength=3).tolist()
    # the rarest grade is found far more often, and macro F1 is higher
    recall = [(shares.grade_index(score) == target)[target == k].mean() for k in range(3)]
    recall_median = [(median.grade_index(score) == target)[target == k].mean() for k in range(3)]
    assert min(recall) > 2 * min(recall_median)
    f1 = {
        name: f1_score(target, cal.grade_index(score), average="macro")
        for name, cal in (("median", median), ("shares", shares))
    }
    assert f1["shares"] > f1["median"] + 0.03, f1
    # monotone in the score, and new scores fall between the cuts as expected
    grid = np.linspace(score.min() - 1, score.max() + 1, 500)
    assert (np.diff(shares.grade_index(grid)) >= 0).all()
    # the confidence is the calibrated probability of the grade decided
    probs = shares.probs(score)
    conf = probs[np.arange(len(score)), shares.grade_index(score)]
    assert conf.min() < 0.5 < conf.max()
    # stored and read back; an artifact saved before the setting reads as the median class
    assert Calibration.from_dict(shares.to_dict()) == shares
    old = {k: v for k, v in median.to_dict().items() if k != "decision_cuts"}
    assert Calibration.from_dict(old) == median
    with pytest.raises(ValueError, match="decision"):
        fit_calibration(score, target, np.array([0.0, 1.0]), target_accuracy=0.9, decision="x")


def test_share_cuts_with_a_grade_absent_leave_it_an_empty_interval():
    score = np.array([0.1, 0.2, 0.3, 0.9, 1.0])
    cuts = share_cuts(score, np.array([0, 0, 0, 2, 2]), 3)
    assert cuts == pytest.approx((0.6, 0.6))
    assert (np.asarray(cuts)[None, :] < score[:, None]).sum(1).tolist() == [0, 0, 0, 2, 2]


def test_selective_threshold_reaches_target_and_refuses_when_impossible():
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([1, 1, 1, 0, 1, 0], dtype=bool)
    assert selective_threshold(conf, correct, 1.0) == 0.9
    assert selective_threshold(conf, np.zeros(6, dtype=bool), 0.5) > 1.0


def test_ece_is_zero_when_confidence_equals_accuracy_and_large_when_not():
    conf = np.full(1000, 0.8)
    correct = np.arange(1000) % 5 != 0
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0, abs=1e-9)
    assert expected_calibration_error(np.full(1000, 0.99), correct) == pytest.approx(0.19)


def test_counterfeit_threshold_keeps_the_false_positive_rate():
    scores = np.random.default_rng(1).normal(size=500)
    threshold = fit_threshold(scores, 0.02)
    assert (scores > threshold).mean() <= 0.02
    assert (scores > threshold).mean() >= 0.015


def test_reference_bank_scores_outliers_higher_and_round_trips():
    gen = torch.Generator().manual_seed(0)
    normal = torch.nn.functional.normalize(torch.randn(40, 9, 8, generator=gen) * 0.1 + 1, dim=-1)
    brands = ["acme"] * 20 + ["zeta"] * 20
    bank = ReferenceBank.fit(normal, brands, size=64)
    assert set(bank.banks) == {"acme", "zeta", "*"}
    odd = normal[:2].clone()
    odd[:, 4] = torch.nn.functional.normalize(-torch.ones(8), dim=0)
    scores = bank.score(torch.cat([normal[:2], odd]), ["acme", None, "acme", None])
    assert scores[2] > scores[0] + 0.5 and scores[3] > scores[1] + 0.5
    tensors, names = bank.tensors()
    again = ReferenceBank.from_tensors(tensors, names)
    assert np.allclose(
        again.score(odd, ["zeta", "zeta"]), bank.score(odd, ["zeta", "zeta"]), atol=1e-2
    )


def test_preprocess_handles_grayscale_odd_sizes_and_bytes(tmp_path):
    import io

    gray = Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 91), dtype=np.uint8))
    buf = io.BytesIO()
    gray.save(buf, format="PNG")
    assert to_uint8(gray, 32).shape == (3, 32, 32)
    config = PreprocessConfig(image_size=40, mean=(0.4, 0.5, 0.6), std=(0.2, 0.2, 0.3))
    assert PreprocessConfig.from_dict(config.to_dict()) == config
    x = eval_transform(config)(buf.getvalue())
    assert x.shape == (3, 40, 40) and x.dtype == torch.float32
    assert torch.allclose(x[0] * 0.2 + 0.4, x[1] * 0.2 + 0.5, atol=1e-5)  # gray: equal channels


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_registered_backbone_gives_two_finite_maps(name):
    net = create_backbone(name).eval()
    with torch.no_grad():
        maps = net(torch.randn(2, 3, 64, 64))
    assert len(maps) == 2
    assert [m.shape[1] for m in maps] == net.feature_info.channels()
    assert all(torch.isfinite(m).all() for m in maps)


def test_unknown_backbone_is_refused_and_pretrained_file_is_loaded(tmp_path):
    with pytest.raises(ValueError, match="unknown backbone"):
        create_backbone("no_such_net")
    from safetensors.torch import save_file

    source = create_backbone("resnet10t_quarter")
    save_file(
        {k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "w.safetensors"
    )
    loaded = create_backbone("resnet10t_quarter", pretrained_file=tmp_path / "w.safetensors")
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_config_file_then_cli_overrides(tmp_path):
    toml = tmp_path / "g.toml"
    toml.write_text("[grader]\nepochs = 3\nlr = 0.01\nreference_grades = ['A']\n")
    cfg = load_config(toml, epochs=5, backbone=None)
    assert (cfg.epochs, cfg.lr, cfg.reference_grades) == (5, 0.01, ["A"])
    yml = tmp_path / "g.yaml"
    yml.write_text("image_size: 64\n")
    assert load_config(yml).image_size == 64
    yml.write_text("image_sise: 64\n")
    with pytest.raises(DataError, match="image_sise"):
        load_config(yml)
    with pytest.raises(DataError, match=r"setting 'backbone'.*unknown backbone 'no_such_net'"):
        load_config(toml, backbone="no_such_net")


def test_split_without_manifest_column_is_seeded_stratified_and_by_item():
    items = pd.DataFrame(
        {"grade": list("AAAAABBBCC") * 20, "counterfeit": [0.0] * 200, "split": [None] * 200}
    )
    first, again = assign_splits(items, 3), assign_splits(items, 3)
    assert first.tolist() == again.tolist()
    shares = first.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.7, abs=0.02)
    for grade in "ABC":
        assert set(first[items["grade"] == grade]) == {"train", "val", "test"}


def test_photoset_reports_bad_photos_and_keeps_the_rest(tmp_path):
    write_toy_dataset(tmp_path, n_items=12, photos_per_item=2, image_size=32, with_split=False)
    (tmp_path / "images" / "item0000_0.png").write_bytes(b"not an image")
    data, problems = load_photoset(tmp_path, 32, seed=0)
    assert len(problems) == 1 and "item0000_0.png" in str(problems[0])
    assert len(data) == 12 and len(data.images) == 23
    assert data.images.shape[1:] == (3, 32, 32) and data.images.dtype == torch.uint8
    assert set(data.items["split"]) == {"train", "val", "test"}
    test = data.subset("test")
    assert set(test.item_index) == set(range(len(test)))
