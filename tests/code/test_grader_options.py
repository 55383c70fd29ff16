"""The grader's training options on tiny toy data: batched augmentation, mirror test-time
augmentation, the auxiliary classifier, leaving marked photos out of the counterfeit losses and
the weight average. Each is checked for what it promises, not just that it runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from features.problems import DataError
from models.grader.heads import GraderNet
from models.grader.predictor import GraderPredictor
from models.grader.preprocess import MAX_SHIFT, PreprocessConfig, train_augment, tta_views
from tests.code.conftest import TINY
from tests.code.conftest import TOY_SIZE as SIZE
from training.grader.config import GraderConfig, load_config
from training.grader.loop import batch_loss, evaluate_loss, train_network
from training.grader.train import train_grader_model

IDENTITY = PreprocessConfig(image_size=SIZE, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def _batch(toy, n=6):
    _, data = toy
    batch = data.take(np.arange(n))
    x = train_augment(PreprocessConfig(image_size=SIZE), "light")(batch.images)
    index = torch.as_tensor(batch.item_index)
    target = torch.as_tensor(batch.items["target"].to_numpy().copy())
    fakes = torch.as_tensor(batch.items["counterfeit"].to_numpy().copy(), dtype=torch.float32)
    return x, index, target, fakes


def test_geometric_augmentation_moves_pixels_but_keeps_their_values():
    photos = torch.zeros(16, 3, SIZE, SIZE, dtype=torch.uint8)
    photos[:, 0, 4:8, 4:8] = 200  # a red square near (but more than a shift from) a corner
    out = train_augment(IDENTITY, "geometric", torch.Generator().manual_seed(0))(photos)
    assert out.shape == (16, 3, SIZE, SIZE) and out.dtype == torch.float32
    red = out[:, 0] > out[:, 0].amax(dim=(1, 2), keepdim=True) * 0.5
    # every photo keeps the whole square (no resampling blurs it) ...
    assert (red.sum(dim=(1, 2)) == 16).all()
    # ... and the photos disagree on where it went (each draws its own flips, turns and shift)
    centres = {tuple(torch.nonzero(r).float().mean(0).round().tolist()) for r in red}
    assert len(centres) >= 4
    # flips and turns keep it near a corner; the shift moves it by no more than its bound
    limit = 5.5 + round(MAX_SHIFT * SIZE)
    assert all(min(c[0], SIZE - 1 - c[0]) <= limit for c in centres)
    assert all(min(c[1], SIZE - 1 - c[1]) <= limit for c in centres)


def test_augmentation_is_seeded_and_refuses_unknown_kinds():
    photos = torch.randint(0, 255, (8, 3, SIZE, SIZE), dtype=torch.uint8)
    first = train_augment(IDENTITY, "geometric", torch.Generator().manual_seed(3))(photos)
    again = train_augment(IDENTITY, "geometric", torch.Generator().manual_seed(3))(photos)
    other = train_augment(IDENTITY, "geometric", torch.Generator().manual_seed(4))(photos)
    assert torch.equal(first, again) and not torch.equal(first, other)
    with pytest.raises(ValueError, match="unknown augmentation"):
        train_augment(IDENTITY, "rotate-a-lot")


def test_marked_photos_take_no_part_in_the_counterfeit_losses(toy):
    torch.manual_seed(0)
    net = GraderNet(TINY["backbone"]).eval()
    x, index, target, fakes = _batch(toy)
    config = GraderConfig(counterfeit_weight=1.0, aux_weight=0.0)
    no_labels = torch.full_like(fakes, float("nan"))
    every = torch.ones(len(index), dtype=torch.bool)
    marked_loss, _, _ = batch_loss(net, x, index, target, fakes, config, marked=every)
    grade_only, _, _ = batch_loss(net, x, index, target, no_labels, config)
    assert torch.allclose(marked_loss, grade_only)
    # one untouched view per item brings its counterfeit loss back
    first = torch.zeros(len(index), dtype=torch.bool)
    first[np.unique(index.numpy(), return_index=True)[1]] = True
    some, _, _ = batch_loss(net, x, index, target, fakes, config, marked=~first)
    assert not torch.allclose(some, grade_only)


def test_mirror_views_are_closed_under_the_mirror():
    x = torch.randn(2, 3, SIZE, SIZE)
    views = tta_views(x, "hflip")
    assert len(views) == 2 and len(tta_views(x, "none")) == 1
    mirrored = tta_views(x.flip(-1), "hflip")
    # the mirrored photo's views are the same two images in another order
    for view in mirrored:
        assert any(torch.equal(view, other) for other in views)
    with pytest.raises(ValueError, match="test-time"):
        tta_views(x, "rot45")


def test_auxiliary_classifier_adds_a_loss_that_trains_the_shared_features(toy):
    torch.manual_seed(0)
    x, index, target, fakes = _batch(toy)
    net = GraderNet(TINY["backbone"])
    plain, _, _ = batch_loss(net, x, index, target, fakes, GraderConfig(aux_weight=0.0))
    with_aux, _, _ = batch_loss(net, x, index, target, fakes, GraderConfig(aux_weight=1.0))
    assert float(with_aux.detach()) > float(plain.detach())
    net.zero_grad()
    (with_aux - plain).backward()
    assert net.aux.weight.grad.abs().sum() > 0
    stem = next(net.backbone.parameters())
    assert stem.grad is not None and stem.grad.abs().sum() > 0


def test_weight_average_warms_up_then_keeps_its_decay():
    from training.grader.loop import ema_update

    update = ema_update(0.99)
    avg, counter = [torch.zeros(1)], [torch.zeros(1, dtype=torch.long)]
    update(avg + counter, [torch.ones(1), torch.full((1,), 7, dtype=torch.long)], torch.tensor(0))
    # the first update keeps only 1/10 of the (untrained) start, and counters are copied
    assert float(avg[0]) == pytest.approx(0.9) and int(counter[0]) == 7
    avg = [torch.zeros(1)]
    update(avg, [torch.ones(1)], torch.tensor(10_000))
    assert float(avg[0]) == pytest.approx(0.01)  # long runs: the configured decay


def test_weight_average_is_what_training_keeps(toy):
    torch.manual_seed(0)
    _, data = toy
    train, val = data.subset("train"), data.subset("val")
    prep = PreprocessConfig(image_size=SIZE)
    config = GraderConfig(epochs=2, ema_decay=0.9, **TINY)
    net = GraderNet(config.backbone)
    before, _ = evaluate_loss(net, train, prep, config)
    history = train_network(net, train, val, prep, config)
    after, _ = evaluate_loss(net, train, prep, config)
    assert len(history) == 2 and after < before
    best = min(h["val_loss"] for h in history)
    # the kept state is the averaged network whose validation loss was the best
    assert evaluate_loss(net, val, prep, config)[0] == pytest.approx(best, rel=1e-4)


@pytest.mark.parametrize("keep_best", [True, False])
def test_keep_best_chooses_between_the_lowest_val_loss_and_the_last_state(toy, keep_best):
    _, data = toy
    train, val = data.subset("train"), data.subset("val")
    prep = PreprocessConfig(image_size=SIZE)
    # a learning rate this high makes the val loss jump after the first epoch (in float32)
    settings = {**TINY, "lr": 0.03, "precision": "fp32"}
    config = GraderConfig(epochs=3, ema_decay=0, keep_best=keep_best, **settings)
    torch.manual_seed(0)
    net = GraderNet(config.backbone)
    losses = [h["val_loss"] for h in train_network(net, train, val, prep, config)]
    assert len(losses) == 3 and min(losses) < 0.9 * losses[-1]  # the last state is not the best
    kept = min(losses) if keep_best else losses[-1]
    assert evaluate_loss(net, val, prep, config)[0] == pytest.approx(kept, rel=1e-4)


@pytest.mark.parametrize("tta", ["none", "hflip"])
def test_options_round_trip_through_the_artifact(toy, tmp_path, tta):
    config = GraderConfig(
        epochs=1, augment="geometric", tta=tta, aux_weight=0.5, ema_decay=0.9, **TINY,
    )  # fmt: skip
    _, data = toy
    result = train_grader_model(config, data, tmp_path / "model")
    saved = json.loads((result.model_dir / "config.json").read_text())
    assert saved["tta"] == tta
    test = data.subset("test")
    first = GraderPredictor.load(result.model_dir)
    again = GraderPredictor.load(result.model_dir)
    a = first.predict_tensors(test.images, test.item_index, test.brands)
    b = again.predict_tensors(test.images, test.item_index, test.brands)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]
    if tta == "hflip":  # mirror averaging makes a mirrored photo score the same
        mirrored = first.photo_outputs(test.images.flip(-1))["score"]
        assert np.allclose(first.photo_outputs(test.images)["score"], mirrored, atol=1e-5)


def test_a_folder_saved_with_the_grade_head_named_still_loads(toy, tmp_path):
    """Folders saved while the grade head was a setting carry `"head": "pooled"`: the same
    network, so they load and answer as before."""
    _, data = toy
    model_dir = train_grader_model(GraderConfig(epochs=1, **TINY), data, tmp_path).model_dir
    test = data.subset("test")
    before = GraderPredictor.load(model_dir).predict_tensors(
        test.images, test.item_index, test.brands
    )
    saved = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**saved, "head": "pooled"}))
    meta = json.loads((model_dir / "artifact.json").read_text())  # saved before file digests
    (model_dir / "artifact.json").write_text(json.dumps({**meta, "files": None}))
    after = GraderPredictor.load(model_dir).predict_tensors(
        test.images, test.item_index, test.brands
    )
    assert [r.to_dict() for r in after] == [r.to_dict() for r in before]


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 6, 40])
def test_learning_rate_schedule_works_for_any_number_of_steps(steps):
    from training.grader.loop import one_cycle

    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-2)
    schedule = one_cycle(optimizer, steps)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])  # the rate this step uses
        optimizer.step()
        schedule.step()
    assert all(0 < r <= 1e-2 + 1e-12 for r in rates)
    if steps >= 4:  # warm-up to the peak, then annealing well below it
        assert max(rates) == pytest.approx(1e-2, rel=1e-6)
        assert rates[0] < max(rates) and rates[-1] < 0.1 * max(rates)


def test_choice_settings_are_checked_by_name(tmp_path):
    toml = tmp_path / "g.toml"
    toml.write_text('[grader]\naugment = "heavy"\n')
    with pytest.raises(
        DataError, match="setting 'augment': Input should be 'light' or 'geometric'"
    ):
        load_config(toml)
    with pytest.raises(DataError, match="'tta'"):
        load_config(None, tta="rot45")
    assert load_config(None, augment="light", tta="none").tta == "none"
    with pytest.raises(DataError, match="unknown setting 'head'"):
        load_config(None, head="pooled")
