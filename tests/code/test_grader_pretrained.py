"""Transfer learning from a local timm checkpoint: the preprocessing (input size, mean, std) comes
from the checkpoint's config.json, and the backbone stays frozen for the first epochs, then
trains. The test writes its own tiny checkpoint."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import save_file

from features.problems import DataError
from models.grader.backbones import CheckpointPreprocess, checkpoint_preprocess, create_backbone
from models.grader.heads import GraderNet
from models.grader.preprocess import PreprocessConfig
from tests.code.conftest import TINY
from training.grader.config import GraderConfig
from training.grader.loop import train_network
from training.grader.presets import PhotoFacts, resolve_preset
from training.grader.train import fit_grader

MEAN, STD = (0.1, 0.2, 0.3), (0.5, 0.4, 0.3)


@pytest.fixture
def checkpoint(tmp_path):
    """A 'pretrained' quarter-width backbone with timm's hub config beside it."""
    torch.manual_seed(7)
    source = create_backbone(TINY["backbone"])
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    cfg = {"architecture": "resnet10t", "pretrained_cfg": {"mean": MEAN, "std": STD}}
    cfg["pretrained_cfg"]["input_size"] = [3, 40, 40]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return path, source.state_dict()


def test_the_checkpoints_config_gives_its_preprocessing(checkpoint, tmp_path):
    path, _ = checkpoint
    assert checkpoint_preprocess(path) == CheckpointPreprocess(MEAN, STD, 40)
    (tmp_path / "config.json").write_text('{"mean": [0.5, 0.5]}')
    with pytest.raises(ValueError, match=r"config\.json: mean must list 3"):
        checkpoint_preprocess(path)
    (tmp_path / "config.json").unlink()
    assert checkpoint_preprocess(path) is None


def test_a_pretrained_run_takes_the_checkpoints_size_and_starts_frozen(checkpoint):
    path, _ = checkpoint
    facts = PhotoFacts(items=48, photos=96, median_side=32, generated=False)
    config, record = resolve_preset(GraderConfig(pretrained_file=str(path), epochs=30), facts)
    # the checkpoint's input size, even above the photos' size; a tenth of the epochs frozen
    assert (config.image_size, config.freeze_epochs) == (40, 3)
    assert "input size 40 from the checkpoint" in record["reason"]
    given = GraderConfig(pretrained_file=str(path), image_size=32, freeze_epochs=0)
    config, _ = resolve_preset(given, facts)
    assert (config.image_size, config.freeze_epochs) == (32, 0)  # the user's settings win
    (path.parent / "config.json").write_text("{broken")
    with pytest.raises(DataError, match="pretrained_file"):
        resolve_preset(GraderConfig(pretrained_file=str(path)), facts)


def _same(own, state) -> bool:
    return all(torch.equal(own[k], v) for k, v in state.items())


def test_the_backbone_is_frozen_for_its_epochs_then_trains(toy, checkpoint):
    _, data = toy
    path, state = checkpoint
    settings = {**TINY, "pretrained_file": str(path), "ema_decay": 0.0}
    frozen = fit_grader(GraderConfig(**settings, epochs=1, freeze_epochs=1), data)
    # one frozen epoch: the backbone (batch-norm statistics included) is the checkpoint's
    assert _same(frozen.artifact.net.backbone.state_dict(), state)
    assert frozen.artifact.preprocess.mean == pytest.approx(MEAN)
    assert frozen.artifact.preprocess.std == pytest.approx(STD)
    assert frozen.artifact.info["normalisation_from"] == "pretrained checkpoint"
    # the backbone as each epoch leaves it: kept through the frozen epoch, trained after it
    config = GraderConfig(**settings, epochs=3, freeze_epochs=1)
    net = GraderNet(config.backbone, pretrained_file=config.pretrained_file)
    prep = PreprocessConfig(32, MEAN, STD)
    seen = []

    def snapshot(epoch, record):
        seen.append(copy.deepcopy(net.backbone.state_dict()))

    train_network(net, data.subset("train"), data.subset("val"), prep, config, snapshot)
    assert [_same(s, state) for s in seen] == [True, False, False]
    assert all(p.requires_grad for p in net.parameters())
