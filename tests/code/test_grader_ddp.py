"""Grader training on two processes (DistributedDataParallel over gloo) trains the network one
process trains, and rank 0 saves the same kind of artifact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from models.grader.heads import GraderEnsemble
from models.grader.predictor import GraderPredictor
from tests.code.conftest import TINY
from training.cli import app
from training.grader.config import GraderConfig
from training.grader.distributed import Shard, process_group, run_group
from training.grader.train import fit_grader, train_grader_model

REPO = Path(__file__).resolve().parents[2]
NO_BATCH_NORM = "convnext_atto"
"""A timm CNN with layer norms only: batch-norm statistics are each process's own under DDP on a
CPU (`SyncBatchNorm` needs a GPU), so exact equivalence needs a network without them."""


def _weights(net: torch.nn.Module) -> torch.Tensor:
    state = net.state_dict()
    return torch.cat([state[k].flatten().double() for k in state if state[k].is_floating_point()])


def test_a_shard_keeps_every_worlds_items_with_their_photos():
    x = torch.arange(7.0)[:, None]  # photos of items 0, 0, 1, 2, 2, 2, 3
    item_index = torch.tensor([0, 0, 1, 2, 2, 2, 3])
    target, fake = torch.tensor([0, 1, 2, 0]), torch.tensor([0.0, 1.0, 0.0, 1.0])
    marked = torch.tensor([True, False, False, True, False, False, True])
    kept = [Shard(rank, 2).take(x, item_index, target, fake, marked) for rank in (0, 1)]
    assert kept[0][0].flatten().tolist() == [0, 1, 3, 4, 5]  # items 0 and 2
    assert kept[0][1].tolist() == [0, 0, 1, 1, 1]
    assert kept[0][2].tolist() == [0, 2] and kept[0][3].tolist() == [0.0, 0.0]
    assert kept[0][4].tolist() == [True, False, True, False, False]
    assert kept[1][0].flatten().tolist() == [2, 6]  # items 1 and 3
    assert kept[1][1].tolist() == [0, 1] and kept[1][2].tolist() == [1, 0]


def test_two_processes_train_the_single_process_networks(toy, tmp_path):
    """Same seeds, same global batches of 8 items (4 per process, 2 photos each), no drawn
    damage (its marked photos would split unevenly), float32 (bfloat16 rounds a half batch's
    sums differently from a whole one's): DDP's averaged gradient is the full batch's, so each
    member's weights agree with one process's up to float summation order, while the two
    members (seeds 0 and 1) land far apart. Members train one after another, each on both
    processes."""
    _, data = toy
    settings = {"backbone": NO_BATCH_NORM, "damage_share": 0.0, "members": 2, "nproc": 2}
    config = GraderConfig(epochs=2, **{**TINY, **settings, "precision": "fp32"})
    steps = []
    result = train_grader_model(
        config, data, tmp_path / "ddp", on_epoch=lambda epoch, _: steps.append(epoch)
    )
    assert steps == [1, 2, 3, 4]  # rank 0 alone reports, member 0's epochs before member 1's
    loaded = GraderPredictor.load(result.model_dir, engine="torch")
    assert isinstance(loaded.net, GraderEnsemble) and len(loaded.net.members) == 2
    for seed, member in enumerate(loaded.net.members):
        alone = config.model_copy(update={"nproc": 1, "members": 1, "seed": seed})
        a, b = _weights(fit_grader(alone, data).artifact.net), _weights(member)
        assert (a - b).norm() / a.norm() < 1e-3, seed
        assert (a - b).abs().max() < 1e-2, seed
    first, second = (_weights(m) for m in loaded.net.members)
    assert (first - second).norm() / first.norm() > 0.1
    saved = json.loads((tmp_path / "ddp" / "config.json").read_text())
    assert saved["info"]["member_seeds"] == [0, 1]
    test = data.subset("test")
    answers = GraderPredictor.load(result.model_dir).predict_tensors(
        test.images, test.item_index, test.brands
    )
    assert len(answers) == len(test)
    assert np.allclose([sum(r.probabilities.values()) for r in answers], 1.0)


def test_process_count_is_checked_by_name_on_the_command_line(tmp_path):
    result = CliRunner().invoke(app, ["train", "grader", "--data", str(tmp_path), "--nproc", "0"])
    assert result.exit_code != 0
    assert "nproc" in result.output and "greater than or equal to 1" in result.output


@pytest.mark.slow
def test_torchrun_trains_what_nproc_trains(toy, tmp_path):
    """`torchrun --nproc-per-node 2 -m training train grader` (every process runs the command;
    rank 0 alone writes, registers and reports) trains the network `--nproc 2` trains."""
    root, _ = toy
    settings = tmp_path / "grader.toml"
    settings.write_text("[grader]\n" + "".join(f"{k} = {v!r}\n" for k, v in TINY.items()))
    args = ["train", "grader", "--data", str(root), "--config", str(settings), "--epochs", "2"]
    env = {**os.environ, "REGRADE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
    run = subprocess.run(
        [*launcher, "2", "-m", "training", *args, "--out", str(tmp_path / "torchrun")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("trained regrade-grader version 1") == 1
    spawned = CliRunner().invoke(
        app, [*args, "--nproc", "2", "--out", str(tmp_path / "nproc")], env=env
    )
    assert spawned.exit_code == 0, spawned.output
    assert "version 2" in spawned.output  # the same registry: torchrun registered once
    a, b = (
        _weights(GraderPredictor.load(tmp_path / d / "model").net) for d in ("torchrun", "nproc")
    )
    assert torch.allclose(a, b, atol=1e-6)


def _failing_rank(index, port, world) -> None:
    """A spawned rank that joins the group, then fails before the first collective."""
    with process_group(Shard(index + 1, world), port):
        raise RuntimeError("rank 1 ran out of photos")


def test_a_failing_rank_stops_the_run_with_its_own_error():
    def rank_zero(shard, port):
        with process_group(shard, port):
            torch.distributed.all_reduce(torch.zeros(1))  # its peer is gone: gloo fails

    with pytest.raises(RuntimeError) as failure:  # gloo: rank 0 lost its peer
        run_group(2, rank_zero, _failing_rank, ())
    notes = "\n".join(getattr(failure.value, "__notes__", []))
    assert "rank 1 failed" in notes and "rank 1 ran out of photos" in notes
