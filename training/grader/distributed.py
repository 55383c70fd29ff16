"""Grader training on several processes: PyTorch DistributedDataParallel (gloo, or NCCL on GPUs).

`regrade train grader --nproc N` (setting `nproc`) keeps the calling process as rank 0 and
spawns ranks 1..N-1 (`torch.multiprocessing`); all join one process group on a free local TCP
port. Every rank walks the same seeded order of items and the same global batches of
`batch_items` items, draws the whole batch's augmentation and drawn damage (so the random
streams stay in step across ranks and equal a single process's), and keeps its share: items
`rank, rank + N, ...` of each batch with their photos. DDP averages the gradients, so with equal
shares the step is the single-process full-batch step (up to batch-norm, whose statistics are
each process's own on CPUs; on GPUs they are synchronised with `SyncBatchNorm`, which torch
offers on GPUs only). Only rank 0 validates and keeps the best
state; calibration, references and the artifact happen in rank 0 after training, as in a
single-process run.

Under `torchrun --nproc-per-node N -m training train grader ...` every process runs the command:
each finds its rank in torchrun's environment (`launched_shard`), joins the group torchrun set
up, and only rank 0 goes on past training; the others decode the photos, train their share and
exit.

Where each process trains (`training_device`): the setting `device` (`auto` takes a GPU where
torch sees one); on GPUs each process takes its own (`LOCAL_RANK` under torchrun, else its rank,
modulo the GPUs there are) and the group talks over NCCL instead of gloo. In what arithmetic
(`training_precision`): the setting `precision` (`auto` takes bfloat16 where the device computes
it natively).
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from features.problems import DataError, Problem

CPU = torch.device("cpu")
BACKENDS = {"cpu": "gloo", "cuda": "nccl"}
"""The collectives' backend by the kind of device the processes train on."""
TIMEOUT = timedelta(minutes=10)
"""How long a rank waits for the others at a collective before it gives up."""
JOIN_WAIT = 30.0
"""Seconds rank 0, failing, waits for the spawned ranks to end before it stops them."""


@dataclass(frozen=True)
class Shard:
    """This process's place in the group: rank `rank` of `world`."""

    rank: int
    world: int
    device: torch.device = CPU

    @property
    def backend(self) -> str:
        """The process group's backend for this shard's device."""
        return BACKENDS[self.device.type]

    @property
    def leader(self) -> bool:
        """Rank 0: the one that validates, reports and keeps the trained network."""
        return self.rank == 0

    def take(
        self,
        x: torch.Tensor,
        item_index: torch.Tensor,
        target: torch.Tensor,
        counterfeit: torch.Tensor,
        marked: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """This rank's items (`rank, rank + world, ...`) of a global batch, with their photos;
        `item_index` renumbered to the kept items."""
        mine = item_index % self.world == self.rank
        return (
            x[mine],
            item_index[mine] // self.world,
            target[self.rank :: self.world],
            counterfeit[self.rank :: self.world],
            None if marked is None else marked[mine],
        )

    def wrap(self, module: nn.Module) -> DistributedDataParallel:
        """`module` under DDP (built again whenever the set of trainable parameters changes).

        Unused parameters are looked for: a head without a loss (e.g. `aux_weight = 0`, or no
        counterfeit label in this rank's share) gets no gradient that step."""
        if self.device.type == "cuda":
            return DistributedDataParallel(
                module, device_ids=[self.device.index], find_unused_parameters=True
            )
        return DistributedDataParallel(module, find_unused_parameters=True)

    def sum(self, *values: float) -> list[float]:
        """The sums of `values` over all ranks."""
        total = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return total.tolist()


def training_device(requested: str = "auto", rank: int = 0) -> torch.device:
    """The device a training process uses: `requested` is `cpu`, `cuda` or `auto` (a GPU where
    torch sees one). On GPUs the process takes GPU `LOCAL_RANK` (set by torchrun) or else
    `rank`, modulo the GPUs there are.

    Raises:
        DataError: `cuda` asked for where torch sees no GPU (the setting named).
    """
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DataError([Problem("device", "cuda was asked for, but torch sees no GPU here")])
    local = int(os.environ.get("LOCAL_RANK", rank))
    return torch.device("cuda", local % torch.cuda.device_count())


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 natively (oneDNN's check of the CPU's AVX-512 BF16 or
    AMX; torch's of the GPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def training_precision(requested: str, device: torch.device) -> str:
    """The arithmetic a network trains in on `device`: `requested` is `bf16`, `fp32` or `auto`
    (`bf16` where the device computes it natively, else `fp32`).

    Raises:
        DataError: `bf16` asked for on a device without native bfloat16 (the setting named).
    """
    native = native_bf16(device)
    if requested == "bf16" and not native:
        reason = f"bf16 was asked for, but this {device.type} has no native bfloat16 arithmetic"
        raise DataError([Problem("precision", reason)])
    return "bf16" if requested == "bf16" or (requested == "auto" and native) else "fp32"


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Torch's CPU threads set to `threads` inside the block and restored after it: training
    runs on `threads`, and what runs next in the process (an evaluation's inference engine,
    which takes torch's thread count) gets the count it had before."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def launched_shard(device: str = "auto") -> Shard | None:
    """This process's rank when a launcher (`torchrun`) started several: its `RANK` and
    `WORLD_SIZE` environment, training on `training_device(device, rank)`; None for a single
    process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world < 2:
        return None
    rank = int(os.environ["RANK"])
    return Shard(rank, world, training_device(device, rank))


def free_port() -> int:
    """A TCP port that is free on this machine now (the group's rendezvous)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def process_group(shard: Shard, port: int | None = None) -> Iterator[Shard]:
    """Join the group of `shard.world` processes meeting on local `port` (None: where the
    launcher's environment says); leave it after."""
    if shard.device.type == "cuda":
        torch.cuda.set_device(shard.device)  # NCCL's collectives run on this process's GPU
    dist.init_process_group(
        shard.backend,
        init_method="env://" if port is None else f"tcp://127.0.0.1:{port}",
        rank=shard.rank,
        world_size=shard.world,
        timeout=TIMEOUT,
    )
    try:
        yield shard
    finally:
        dist.destroy_process_group()


def _spawned_errors(context: mp.ProcessContext) -> list[str]:
    """Stop the spawned ranks (waiting up to `JOIN_WAIT` for them to end on their own); the
    tracebacks of those that failed."""
    deadline = time.monotonic() + JOIN_WAIT
    for process in context.processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.terminate()
    notes = []
    ranks = zip(context.processes, context.error_files, strict=True)
    for index, (process, path) in enumerate(ranks):
        if process.exitcode and os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path, "rb") as trace:  # torch's own record of the rank's traceback
                notes.append(f"rank {index + 1} failed:\n{pickle.load(trace)}")
    return notes


def run_group(
    world: int,
    rank_zero: Callable[[Shard, int], object],
    helper,
    args: tuple,
    device: str = "auto",
):
    """Run rank 0 here and ranks 1..world-1 in spawned processes.

    Args:
        world: Processes in all.
        rank_zero: Called here as `rank_zero(shard, port)` (its shard on
            `training_device(device, 0)`); its result is returned.
        helper: A module-level function, called in each spawned process as
            `helper(index, port, world, *args)` with `index` 0..world-2 (rank `index + 1`).
        args: The rest of the helper's arguments (pickled; tensors go through shared memory).

    Raises:
        torch.multiprocessing.ProcessRaisedException: a spawned rank failed.
        Exception: rank 0's own error, with the tracebacks of the spawned ranks that failed as
            notes (a failing spawned rank makes rank 0 fail at its next collective).
    """
    port = free_port()
    context = mp.start_processes(
        helper, args=(port, world, *args), nprocs=world - 1, join=False, start_method="spawn"
    )
    try:
        result = rank_zero(Shard(0, world, training_device(device, 0)), port)
    except BaseException as failure:
        for note in _spawned_errors(context):  # a rank that failed first says why
            failure.add_note(note)
        raise
    while not context.join():
        pass
    return result
