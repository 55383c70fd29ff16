"""Where grader training runs: the device each process takes, its collectives' backend, the
batch norms that GPUs synchronise across processes and the artifact keeps plain, and the
arithmetic (bfloat16 where the device has it). No GPU is here, so what CUDA would see is set
through torch's own queries."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from features.problems import DataError
from models.grader.heads import GraderNet
from tests.code.conftest import TINY
from training.cli import app
from training.grader import distributed
from training.grader.config import GraderConfig, load_config
from training.grader.distributed import Shard, native_bf16, training_device, training_precision
from training.grader.loop import synchronise_batchnorm
from training.grader.train import fit_grader


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)


def test_auto_trains_on_the_cpu_where_torch_sees_no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto", rank=3) == torch.device("cpu")
    assert training_device("cpu") == torch.device("cpu")
    with pytest.raises(DataError, match="device"):
        training_device("cuda")


def test_each_process_takes_its_own_gpu(two_gpus, monkeypatch):
    assert [training_device("auto", rank) for rank in range(3)] == [
        torch.device("cuda", 0),
        torch.device("cuda", 1),
        torch.device("cuda", 0),
    ]
    monkeypatch.setenv("LOCAL_RANK", "1")  # torchrun's rank on this machine wins
    assert training_device("cuda", rank=4) == torch.device("cuda", 1)
    assert training_device("cpu", rank=1) == torch.device("cpu")


def test_gpus_talk_over_nccl_and_cpus_over_gloo():
    assert Shard(0, 2).backend == "gloo"
    assert Shard(1, 2, torch.device("cuda", 1)).backend == "nccl"


def test_the_device_setting_is_checked_by_name():
    assert GraderConfig().device == "auto"
    assert load_config(device="cpu").device == "cpu"
    with pytest.raises(DataError, match="device"):
        load_config(device="tpu")


def test_synchronised_batch_norms_go_back_to_plain_ones_with_what_they_learned():
    torch.manual_seed(0)
    net = GraderNet("resnet10t_quarter", n_classes=3)
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms
    restore = synchronise_batchnorm(net)
    synced = [m for m in net.modules() if isinstance(m, nn.SyncBatchNorm)]
    assert len(synced) == len(norms)
    assert not any(type(m) is nn.BatchNorm2d for m in net.modules())
    with torch.no_grad():  # what training would have changed
        for m in synced:
            m.weight.add_(0.5)
            m.running_mean.fill_(0.25)
            m.num_batches_tracked.fill_(7)
    net.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        before = net(x)["score"]
    restore()
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in net.modules())
    plain = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(plain) == len(norms)
    assert all(float(m.running_mean[0]) == 0.25 and int(m.num_batches_tracked) == 7 for m in plain)
    with torch.no_grad():
        torch.testing.assert_close(net(x)["score"], before)


def test_the_command_line_refuses_an_unknown_device_by_name(tmp_path):
    args = ["train", "grader", "--data", str(tmp_path), "--device", "tpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "device" in result.output and "cuda" in result.output


def test_training_on_the_cpu_leaves_the_network_there(toy):
    """What the loop moves to its device comes back: the trained network is on the CPU."""
    _, data = toy
    config = GraderConfig(epochs=1, **{**TINY, "device": "cpu", "members": 1})
    fitted = fit_grader(config, data)
    assert {p.device.type for p in fitted.artifact.net.parameters()} == {"cpu"}


def test_auto_precision_takes_bfloat16_only_where_the_device_computes_it(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(distributed, "native_bf16", lambda device: True)
    assert training_precision("auto", cpu) == "bf16"
    assert training_precision("fp32", cpu) == "fp32"
    monkeypatch.setattr(distributed, "native_bf16", lambda device: False)
    assert training_precision("auto", cpu) == "fp32"
    with pytest.raises(DataError, match="precision"):
        training_precision("bf16", cpu)
    with pytest.raises(DataError, match="precision"):
        load_config(precision="fp16")


@pytest.mark.skipif(not native_bf16(torch.device("cpu")), reason="this CPU has no native bfloat16")
def test_bfloat16_training_learns_and_leaves_a_float32_network_in_the_default_layout(toy):
    """Autocast and channels-last are the training's business: the artifact is float32 in the
    default layout, records the arithmetic, and both learn."""
    _, data = toy
    losses = {}
    for precision in ("bf16", "fp32"):
        config = GraderConfig(epochs=6, **{**TINY, "precision": precision, "baseline_epochs": 0})
        torch.manual_seed(0)
        fitted = fit_grader(config, data)
        assert fitted.artifact.info["precision"] == precision
        params = list(fitted.artifact.net.parameters())
        assert {p.dtype for p in params} == {torch.float32}
        assert all(p.is_contiguous() for p in params)
        losses[precision] = [h["train_loss"] for h in fitted.history]
    for run in losses.values():
        assert run[-1] < 0.9 * run[0]  # each learned
