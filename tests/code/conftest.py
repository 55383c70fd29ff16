"""Fixtures shared by the grader's code tests: tiny toy photo data and settings."""

from __future__ import annotations

import pytest

from training.grader.data import load_photoset
from training.grader.toy import write_toy_dataset

TOY_SIZE = 32
TINY = dict(
    image_size=TOY_SIZE,
    backbone="resnet10t_quarter",
    batch_items=8,
    reference_bank_size=32,
    members=1,
    baseline_epochs=1,
)
"""Grader settings that train in seconds on the toy data (one network, not the default three;
one epoch of the plain baseline)."""


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """A 48-item, 2-view toy photo dataset at 32 px: its folder and the decoded photo set."""
    root = tmp_path_factory.mktemp("toy")
    write_toy_dataset(root, n_items=48, photos_per_item=2, image_size=TOY_SIZE)
    data, problems = load_photoset(root, TOY_SIZE)
    assert problems == []
    return root, data
