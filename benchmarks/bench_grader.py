"""Grader inference speed: item images/s at batch 1 and 16, against the same timm model in plain
eager PyTorch, and achieved FLOP/s as a share of a matmul peak measured in the same run.

Variants: plain eager timm (the baseline; one timm model per ensemble member); the predictor's
two engines as served, with the one-class patch embeddings (`ours`: torch, channels_last +
inference_mode; `ours_onnxruntime`: the default); and on the network's score alone, the model's
test-time views, bf16 autocast and torch.compile. Each variant's severity scores are compared
with fp32 eager so a speed-up that changes answers shows up.

    .venv/bin/python benchmarks/bench_grader.py [--model MODEL_DIR] [--threads 2] [--seconds 3]
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

from models.grader.artifact import load_artifact
from models.grader.backbones import DEFAULT_BACKBONE, backbone_spec
from models.grader.engine import OnnxEngine, TorchEngine
from models.grader.heads import GraderEnsemble, GraderNet
from models.grader.preprocess import TTA_KINDS, tta_views

Fn = Callable[[torch.Tensor], torch.Tensor]


def rate(fn: Fn, x: torch.Tensor, seconds: float) -> float:
    """Images per second of `fn` on batch `x` (after warm-up)."""
    for _ in range(3):
        fn(x)
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn(x)
        n += 1
    return n * len(x) / (time.perf_counter() - started)


def matmul_peak(seconds: float) -> float:
    """FLOP/s of the fastest square fp32 matmul (1024 or 2048), the machine's practical peak."""
    best = 0.0
    for n in (1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        best = max(best, rate(lambda _, a=a, b=b: a @ b, torch.empty(1), seconds) * 2 * n**3)
    return best


def flops_per_image(net: torch.nn.Module, size: int) -> float:
    """Forward FLOPs of one image (torch's flop counter)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.randn(1, 3, size, size))
    return float(counter.get_total_flops())


def variants(
    net: GraderNet | GraderEnsemble, baselines: list[torch.nn.Module], size: int, tta: str
) -> dict[str, Fn]:
    """Name -> function from a normalised batch to severity scores (or logits for the baseline)."""
    cl = net.to(memory_format=torch.channels_last)

    def eager_timm(x):
        with torch.no_grad():
            return torch.stack([baseline(x)[:, 0] for baseline in baselines]).mean(dim=0)

    eager = TorchEngine(net)  # the predictor's torch engine (patches included, as served)

    def ours(x):
        return eager(x)["score"]

    def ours_tta(x):
        with torch.inference_mode():
            views = tta_views(x, tta)
            batch = torch.cat(views).contiguous(memory_format=torch.channels_last)
            return cl(batch)["score"].view(len(views), len(x)).mean(dim=0)

    def ours_bf16(x):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return cl(x.contiguous(memory_format=torch.channels_last))["score"].float()

    onnx = OnnxEngine(net, size)  # the predictor's default engine, as served
    found = {
        "eager_timm": eager_timm,
        "ours": ours,
        "ours_tta": ours_tta,
        "ours_bf16": ours_bf16,
        "ours_onnxruntime": lambda x: onnx(x)["score"],
    }
    return found


def add_compiled(found: dict[str, Fn], cl: GraderNet, size: int) -> None:
    """Add torch.compile of a copy of the network (the eager one stays as it is)."""
    try:
        compiled = torch.compile(copy.deepcopy(cl), dynamic=False)

        def ours_compiled(x):
            with torch.inference_mode():
                return compiled(x.contiguous(memory_format=torch.channels_last))["score"]

        ours_compiled(torch.randn(1, 3, size, size))
        found["ours_compile"] = ours_compiled
    except Exception as exc:  # compile needs a C compiler; report and go on
        print(f"torch.compile unavailable: {type(exc).__name__}: {exc}")


def untrained(name: str, members: int) -> GraderNet | GraderEnsemble:
    """A fresh network or ensemble (speed does not depend on the weights)."""
    nets = [GraderNet(name).eval() for _ in range(members)]
    return nets[0] if members == 1 else GraderEnsemble(nets).eval()


def plain_timm(name: str) -> torch.nn.Module:
    """The same timm architecture as a plain classifier."""
    spec = backbone_spec(name)
    return timm.create_model(spec.arch, num_classes=3, **spec.kwargs).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="grader model folder (default: untrained default net)")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="backbone without --model")
    parser.add_argument("--members", type=int, default=1, help="ensemble size without --model")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument(
        "--tta", default="hflip", choices=TTA_KINDS, help="test-time views without --model"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        art = load_artifact(args.model)
        net, size, name, tta = art.net.eval(), art.preprocess.image_size, art.backbone, art.tta
    else:
        net, size, name, tta = (
            untrained(args.backbone, args.members),
            args.image_size,
            args.backbone,
            args.tta,
        )
    members = len(net.members) if isinstance(net, GraderEnsemble) else 1
    baselines = [plain_timm(name) for _ in range(members)]
    peak = matmul_peak(args.seconds)
    flops = flops_per_image(net, size)
    print(f"backbone {name} x {members} at {size}px, {args.threads} threads; "
          f"{flops / 1e6:.1f} MFLOP/image; "
          f"matmul peak {peak / 1e9:.1f} GFLOP/s")  # fmt: skip
    fns = variants(net, baselines, size, tta)
    probe = torch.randn(16, 3, size, size)
    reference = fns["ours"](probe)
    diffs = {key: (fn(probe) - reference).abs().max() for key, fn in fns.items()}
    add_compiled(fns, net, size)
    if "ours_compile" in fns:
        diffs["ours_compile"] = (fns["ours_compile"](probe) - reference).abs().max()
    print(
        f"{'variant':18s} {'batch':>5s} {'img/s':>9s} {'vs eager':>8s} {'%peak':>6s} "
        f"{'max|ds|':>8s}"
    )
    for batch in (1, 16):
        x = torch.randn(batch, 3, size, size)
        base = rate(fns["eager_timm"], x, args.seconds)
        for key, fn in fns.items():
            speed = base if key == "eager_timm" else rate(fn, x, args.seconds)
            work = len(tta_views(x[:1], tta)) if key == "ours_tta" else 1
            share = 100 * speed * flops * work / peak
            diff = "" if key == "eager_timm" else f"{diffs[key]:.1e}"
            print(f"{key:18s} {batch:5d} {speed:9.1f} {speed / base:8.2f} {share:6.1f} {diff:>8s}")


if __name__ == "__main__":
    main()
