"""Grader training on N processes (DistributedDataParallel, gloo) against one process: how far
apart the trained weights land, next to how far another seed lands, and the wall time of each.

Trains on the toy photo set (`training.grader.toy`, written to a temporary folder) with the
tests' tiny settings; `--backbone convnext_atto` has no batch norm (the weights then agree to
float order), `--freeze-epochs` keeps the backbone's batch norm in eval mode.

    .venv/bin/python benchmarks/bench_grader_ddp.py [--nproc 2] [--epochs 2]
        [--backbone resnet10t_quarter] [--freeze-epochs 0] [--damage-share 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from training.grader.config import GraderConfig
from training.grader.data import load_photoset
from training.grader.toy import write_toy_dataset
from training.grader.train import fit_grader

TOY_SIZE = 32


def _weights(net: torch.nn.Module) -> torch.Tensor:
    state = net.state_dict()
    return torch.cat([state[k].flatten().double() for k in state if state[k].is_floating_point()])


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / a.norm())


def main() -> None:
    """Train three ways and print the distances and times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--backbone", default="resnet10t_quarter")
    parser.add_argument("--freeze-epochs", type=int, default=0)
    parser.add_argument("--damage-share", type=float, default=0.0)
    args = parser.parse_args()
    config = GraderConfig(
        epochs=args.epochs,
        image_size=TOY_SIZE,
        backbone=args.backbone,
        batch_items=8,
        reference_bank_size=32,
        members=1,
        freeze_epochs=args.freeze_epochs,
        damage_share=args.damage_share,
    )
    with tempfile.TemporaryDirectory() as root:
        write_toy_dataset(root, n_items=48, photos_per_item=2, image_size=TOY_SIZE)
        data, _ = load_photoset(root, TOY_SIZE)
    runs = {}
    for name, update in [("one", {}), ("ddp", {"nproc": args.nproc}), ("seed1", {"seed": 1})]:
        started = time.perf_counter()
        net = fit_grader(config.model_copy(update=update), data).artifact.net
        runs[name] = (_weights(net), time.perf_counter() - started)
    one, ddp, other = (runs[k][0] for k in ("one", "ddp", "seed1"))
    print(f"{args.backbone}, {args.epochs} epochs, freeze {args.freeze_epochs}, ", end="")
    print(f"damage {args.damage_share}, {args.nproc} processes")
    print(f"ddp vs one process: relative L2 {_relative(one, ddp):.3g}, ", end="")
    print(f"max abs {float((one - ddp).abs().max()):.3g}")
    print(f"seed 1 vs seed 0 (one process): relative L2 {_relative(one, other):.3g}")
    print(f"wall s: one {runs['one'][1]:.1f}, ddp {runs['ddp'][1]:.1f} (spawn included)")


if __name__ == "__main__":
    main()
