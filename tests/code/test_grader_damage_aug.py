"""Damage drawn on training photos (`damage_share`): where it lands, what it changes, which grade
it gives, and that a run with it learns from it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from features.problems import DataError
from models.grader.heads import GraderNet, class_probs
from models.grader.preprocess import PreprocessConfig, normalize
from tests.code.conftest import TINY
from tests.code.conftest import TOY_SIZE as SIZE
from training.grader.config import GraderConfig, load_config
from training.grader.damage_aug import CENTRAL_BOX, draw_damage, object_mask, worse_plan
from training.grader.loop import train_network

SIDE = 64


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A backdrop with a vertical ramp, a sideways light gradient and cloth texture, and a tilted
    product on it: the photo `(SIDE, SIDE, 3)` in [0, 1] and where the product truly is."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE
    backdrop = np.array([0.8, 0.78, 0.74], np.float32) * (1.0 - 0.15 * ys)[..., None]
    backdrop = backdrop * (1.0 + 0.2 * (xs - 0.5))[..., None]
    backdrop = backdrop * (1.0 + rng.uniform(-0.02, 0.02, (SIDE, SIDE, 1)))
    u, v = xs - 0.5, ys - 0.52
    turned_u, turned_v = 0.94 * u + 0.34 * v, -0.34 * u + 0.94 * v
    product = (np.abs(turned_u) < 0.3) & (np.abs(turned_v) < 0.22)
    photo = np.where(product[..., None], np.array([0.25, 0.2, 0.35], np.float32), backdrop)
    return np.clip(photo, 0, 1).astype(np.float32), product


def _batch(n_items: int = 6, views: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    photos = [_scene(seed)[0] for seed in range(n_items * views)]
    images = torch.from_numpy(np.round(np.stack(photos) * 255).astype(np.uint8))
    return images.permute(0, 3, 1, 2).contiguous(), torch.arange(n_items).repeat_interleave(views)


def test_object_mask_finds_the_product_on_a_shaded_backdrop():
    photo, product = _scene()
    mask = object_mask(photo)
    overlap = (mask & product).sum() / (mask | product).sum()
    assert overlap > 0.85


def test_object_mask_falls_back_to_the_central_box_on_an_empty_backdrop():
    photo, _ = _scene()
    empty = np.broadcast_to(photo[:, :2].mean(axis=1, keepdims=True), photo.shape).copy()
    mask = object_mask(empty)
    lo, hi = (round(s * SIDE) for s in CENTRAL_BOX)
    assert mask[lo:hi, lo:hi].all() and mask.sum() == (hi - lo) ** 2


def test_structural_kinds_follow_the_category():
    rng = np.random.default_rng(0)

    def kinds(category):
        plans = [worse_plan(1, category, rng) for _ in range(200)]
        assert all(grade == 2 and marks for grade, marks in plans)  # a B item becomes C
        return {mark.kind for _, marks in plans for mark in marks} & {"crack", "dent", "tear"}

    phone, handbag, unknown = kinds("phone"), kinds("handbag"), kinds(float("nan"))
    assert phone == {"crack", "dent"}  # a phone cracks or dents, it does not tear
    assert handbag == {"tear", "dent"}
    assert unknown == {"crack", "dent", "tear"}


def test_chosen_items_get_a_mark_on_the_product_and_the_worst_grade():
    images, item_index = _batch()
    target = torch.tensor([1, 1, 2, 2, 1, 2])
    before = images.clone()
    out, grades, marked = draw_damage(
        images, item_index, target, ["handbag"] * 6, 1.0, np.random.default_rng(1)
    )
    assert torch.equal(images, before) and torch.equal(target, torch.tensor([1, 1, 2, 2, 1, 2]))
    assert grades.tolist() == [2] * 6
    # every item shows its mark in at least one view; unmarked views are untouched
    assert all(marked[item_index == i].any() for i in range(6))
    assert torch.equal(out[~marked], images[~marked])
    for row in torch.nonzero(marked).flatten().tolist():
        changed = (out[row].int() - images[row].int()).abs().amax(dim=0) > 12
        assert changed.sum() >= 12  # a mark that shows at this size
        inside = torch.from_numpy(object_mask(images[row].permute(1, 2, 0).numpy() / 255.0))
        assert (changed & ~inside).sum() <= 0.05 * changed.sum()  # on the product


def test_share_decides_how_many_items_are_marked_and_the_draws_are_seeded():
    images, item_index = _batch(n_items=40, views=1)
    target = torch.zeros(40, dtype=torch.long)

    def draw(share, seed):
        return draw_damage(
            images,
            item_index,
            target,
            [None] * 40,
            share,
            np.random.default_rng(seed),
        )

    same, grades, marked = draw(0.0, 0)
    assert same is images and not marked.any() and grades.tolist() == [0] * 40
    out, grades, marked = draw(0.25, 0)
    assert 4 <= int((grades > 0).sum()) <= 18
    assert torch.equal(marked, grades > 0)  # one view each: the marked photo is the item's
    again, grades_again, _ = draw(0.25, 0)
    assert torch.equal(out, again) and torch.equal(grades, grades_again)
    other, _, _ = draw(0.25, 1)
    assert not torch.equal(out, other)


def test_grade_plans_only_make_items_worse_and_draw_what_the_grade_carries():
    images, item_index = _batch(n_items=60, views=2)
    target = torch.tensor([0, 1, 2] * 20)
    out, grades, marked = draw_damage(
        images, item_index, target, ["sneaker"] * 60, 1.0, np.random.default_rng(4)
    )
    assert (grades >= target).all() and (grades[target > 0] == 2).all()
    from_a = grades[target == 0]
    assert {1, 2} == set(from_a.tolist())  # an A item becomes B or C
    # every item shows damage; what B plans draw is lighter than what C plans draw
    assert all(marked[item_index == i].any() for i in range(60))
    change = (out.int() - images.int()).abs().float().mean(dim=(1, 2, 3))
    per_item = change.view(60, 2).amax(dim=1)  # an item's two views are side by side
    a_items = torch.nonzero(target == 0).flatten()
    to_b, to_c = a_items[from_a == 1], a_items[from_a == 2]
    assert per_item[to_b].median() < per_item[to_c].median()


def test_a_run_where_every_item_is_drawn_damaged_learns_to_call_items_worse(toy):
    _, data = toy
    train, val = data.subset("train"), data.subset("val")
    no_val = train.take(np.array([], dtype=np.int64))  # keep the last state, not the best
    prep = PreprocessConfig(image_size=SIZE)
    x = normalize(prep)(val.images)
    worst = {}
    for share in (0.0, 1.0):
        torch.manual_seed(0)
        config = GraderConfig(epochs=3, damage_share=share, ema_decay=0.0, **TINY)
        net = GraderNet(config.backbone)
        train_network(net, train, no_val, prep, config)
        with torch.no_grad():
            probs = class_probs(net(x)["score"], net.grade.thresholds())
        worst[share] = float(probs[:, -1].mean())
    # most training items were C in the run that drew damage on all: it calls held-out photos C
    assert worst[0.0] < 0.5 < worst[1.0]


@pytest.mark.parametrize("share", [-0.1, 1.5, "half", True])
def test_damage_share_must_be_a_share(share):
    with pytest.raises(DataError, match="setting 'damage_share'"):
        load_config(None, damage_share=share)
    assert load_config(None, damage_share=0.3).damage_share == 0.3
