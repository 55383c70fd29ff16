"""Inference engines for the grader network: ONNX Runtime (default) or eager PyTorch.

Both take a normalised batch `[N, 3, S, S]` and return the per-photo `score`, `counterfeit`
logit and PatchCore `patches` of `GraderNet.forward(..., with_patches=True)`. The ONNX graph is
exported in memory from the loaded weights when the predictor starts (nothing is downloaded or
stored) and runs each call on as many threads as it is given (torch's count unless told: a
service grading several calls at once gives each one core). ONNX Runtime is the default because
it gives the same outputs as eager torch (tested to 1e-4) several times faster on a CPU
(docs/grader.md; `benchmarks/bench_grader.py` measures it).
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from models.grader.heads import GraderNet

ENGINES = ("onnxruntime", "torch")
OUTPUTS = ("score", "counterfeit", "patches")


class TorchEngine:
    """The eager network in channels_last memory format under inference mode."""

    def __init__(self, net: GraderNet):
        self.net = net.eval().to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(x.contiguous(memory_format=torch.channels_last), with_patches=True)
        return {key: out[key] for key in OUTPUTS}


class _Outputs(nn.Module):
    """The network as a function of the batch alone, returning a tuple (what ONNX exports)."""

    def __init__(self, net: GraderNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(x, with_patches=True)
        return tuple(out[key] for key in OUTPUTS)


class OnnxEngine:
    """The network exported to ONNX and run by ONNX Runtime on the CPU.

    Args:
        net: A trained network (not modified).
        image_size: Side of the square input.
        threads: Threads per call (None: torch's count). Calls from several threads at once
            run side by side, each on its own `threads`.
    """

    def __init__(self, net: GraderNet, image_size: int, threads: int | None = None):
        import onnxruntime as ort

        buf = io.BytesIO()
        modes = {module: module.training for module in net.modules()}
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
                torch.onnx.export(
                    _Outputs(net),
                    (torch.zeros(1, 3, image_size, image_size),),
                    buf,
                    dynamo=False,
                    input_names=["x"],
                    output_names=list(OUTPUTS),
                    dynamic_axes={"x": {0: "n"}, **{key: {0: "n"} for key in OUTPUTS}},
                )
        finally:
            # The exporter traces in eval mode, then sets the wrapper's own mode (training, for a
            # fresh module) on every module below it: put each module back as it was.
            for module, training in modes.items():
                module.training = training
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: the cores are shared with photo decoding
        # and /price, which a spinning thread would starve
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            buf.getvalue(), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        values = self.session.run(list(OUTPUTS), {"x": x.float().contiguous().numpy()})
        return {key: torch.from_numpy(v) for key, v in zip(OUTPUTS, values, strict=True)}


def make_engine(
    net: GraderNet, image_size: int, kind: str = "onnxruntime", threads: int | None = None
):
    """The engine `kind` (one of `ENGINES`) for a loaded network (`threads` per call: ONNX
    Runtime's; the eager engine runs on torch's)."""
    if kind == "onnxruntime":
        return OnnxEngine(net, image_size, threads)
    if kind == "torch":
        return TorchEngine(net)
    raise ValueError(f"unknown grader engine {kind!r}: expected one of {ENGINES}")
