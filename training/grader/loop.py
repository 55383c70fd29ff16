"""The training loop: items in batches, worst-view pooling, ordinal + counterfeit loss.

Each batch holds `batch_items` items with all their photos. Photo severity scores are pooled by
the maximum per item (one damaged view decides), and so are counterfeit logits; the grade loss is
the cumulative-link negative log-likelihood, the counterfeit loss binary cross-entropy on the
items that carry a label. With `photo_weight > 0` every view also gets both losses with its
item's labels (a dense signal; the item loss reaches only the worst view). With `aux_weight > 0`
a K-way classifier on the same features adds cross-entropy (training only). With
`damage_share > 0` a share of each batch's items get drawn damage and a worse grade
(`training.grader.damage_aug`). The first `freeze_epochs` train only the heads (a pretrained
backbone's features are kept while the heads learn to read them). With `ema_decay > 0` an
exponential moving average of the weights is what gets validated; the validated state (averaged
or raw) with the lowest validation loss is kept (`keep_best`; else the last state). In `bf16`
precision the forward passes run under bfloat16 autocast on channels-last tensors, and the
losses, weights and optimiser stay float32. With a
`Shard`, this process trains its share of every batch under DistributedDataParallel
(`training.grader.distributed`). The network trains on the setting `device`'s device (or the
shard's) and comes back on the CPU.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from timm.layers import convert_sync_batchnorm
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import AveragedModel

from models.grader.heads import GraderNet, decode, item_max, ordinal_nll
from models.grader.preprocess import PreprocessConfig, normalize, train_augment
from training.grader.config import GraderConfig
from training.grader.damage_aug import draw_damage
from training.grader.data import PhotoSet
from training.grader.distributed import Shard, training_device, training_precision

EpochHook = Callable[[int, dict[str, float]], None]
DAMAGE_STREAM = 0xDA
"""Splits the drawn-damage generator off the run's seed (the torch draws stay as they were)."""


def batch_loss(
    net: GraderNet,
    x: torch.Tensor,
    item_index: torch.Tensor,
    target: torch.Tensor,
    counterfeit: torch.Tensor,
    config: GraderConfig,
    class_weight: torch.Tensor | None = None,
    marked: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss of one batch and the item scores and counterfeit logits behind it.

    `marked` flags photos with drawn damage: a mark may cover the brand mark, so they count for
    the grade but not for the counterfeit losses (an item whose views are all marked has no
    counterfeit loss in this batch).
    """
    # float32 from here on: under bf16 autocast the network's outputs are bfloat16
    out = {key: value.float() for key, value in net(x).items()}
    n_items = len(target)
    score = item_max(out["score"], item_index, n_items)
    if marked is None:
        marked = torch.zeros(len(item_index), dtype=torch.bool, device=x.device)
    logit = item_max(out["counterfeit"].masked_fill(marked, float("-inf")), item_index, n_items)
    weight = None if class_weight is None else class_weight[target]
    thresholds = net.grade.thresholds()
    loss = ordinal_nll(score, thresholds, target, weight)
    if config.photo_weight > 0:
        # every view also carries its item's grade: a dense signal that speeds up learning
        # (noisy for views that happen to show no damage, hence a weight below the item loss)
        photo_target = target[item_index]
        photo_w = None if weight is None else weight[item_index]
        photo_loss = ordinal_nll(out["score"], thresholds, photo_target, photo_w)
        loss = loss + config.photo_weight * photo_loss
    if config.aux_weight > 0:
        # a K-way classifier on the item's worst-case features (max over views) and per view
        embedding = out["embedding"]
        item_embedding = torch.zeros(
            (n_items, embedding.shape[1]), dtype=embedding.dtype, device=embedding.device
        ).scatter_reduce(
            0,
            item_index[:, None].expand_as(out["embedding"]),
            out["embedding"],
            reduce="amax",
            include_self=False,
        )
        aux = F.cross_entropy(net.aux(item_embedding).float(), target, weight=class_weight)
        if config.photo_weight > 0:
            aux = aux + config.photo_weight * F.cross_entropy(
                net.aux(out["embedding"]).float(), target[item_index], weight=class_weight
            )
        loss = loss + config.aux_weight * aux
    labelled = ~torch.isnan(counterfeit) & torch.isfinite(logit)
    if config.counterfeit_weight > 0 and labelled.any():
        cf_loss = F.binary_cross_entropy_with_logits(logit[labelled], counterfeit[labelled])
        if config.photo_weight > 0:
            photo_fake = counterfeit[item_index]
            keep = ~torch.isnan(photo_fake) & ~marked
            cf_loss = cf_loss + config.photo_weight * F.binary_cross_entropy_with_logits(
                out["counterfeit"][keep], photo_fake[keep]
            )
        loss = loss + config.counterfeit_weight * cf_loss
    return loss, score, logit


class BatchLoss(nn.Module):
    """`batch_loss` as a module, so that every use of the network's parameters (the cut points
    and the auxiliary head too) happens inside one forward that DDP can wrap."""

    def __init__(self, net: GraderNet, config: GraderConfig):
        super().__init__()
        self.net = net
        self.config = config

    def forward(self, x, item_index, target, counterfeit, class_weight=None, marked=None):
        """`batch_loss` of this network and config."""
        return batch_loss(
            self.net, x, item_index, target, counterfeit, self.config, class_weight, marked
        )


CUTPOINT_LR_SCALE = 10.0
"""The ordinal cut points learn this much faster than the network (and have no decay)."""


def ema_update(decay: float):
    """Weight-average step for `AveragedModel`: an exponential moving average whose decay warms up
    as `(1 + n) / (10 + n)` after `n` updates, up to `decay`, so a short run (a demo, a test)
    is not averaged with its untrained start. Integer buffers (BatchNorm counters) are copied."""

    @torch.no_grad()
    def update(averaged: list, current: list, n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        keep = min(decay, (1.0 + n) / (10.0 + n))
        for avg, cur in zip(averaged, current, strict=True):
            if avg.is_floating_point():
                avg.lerp_(cur, 1.0 - keep)
            else:
                avg.copy_(cur)

    return update


def one_cycle(optimizer: torch.optim.Optimizer, total_steps: int):
    """One-cycle schedule (20% warm-up) that also works for a handful of steps (tiny data)."""
    if total_steps < 4:  # too short to warm up and anneal: a constant rate
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[g["lr"] for g in optimizer.param_groups],
        total_steps=total_steps,
        pct_start=max(0.2, 2.0 / total_steps),
    )


def param_groups(net: GraderNet, config: GraderConfig) -> list[dict]:
    """AdamW groups: the network with weight decay, the ordinal cut points faster and undecayed."""
    cuts = [net.grade.first, net.grade.gaps]
    ids = {id(p) for p in cuts}
    rest = [p for p in net.parameters() if id(p) not in ids]
    return [
        {"params": rest, "weight_decay": config.weight_decay},
        {"params": cuts, "weight_decay": 0.0, "lr": config.lr * CUTPOINT_LR_SCALE},
    ]


def _batches(data: PhotoSet, items: np.ndarray, size: int):
    photo_rows = [np.nonzero(data.item_index == i)[0] for i in range(len(data))]
    for start in range(0, len(items), size):
        chosen = items[start : start + size]
        rows = np.concatenate([photo_rows[i] for i in chosen])
        local = np.concatenate([np.full(len(photo_rows[i]), k) for k, i in enumerate(chosen)])
        yield chosen, rows, torch.as_tensor(local)


def arithmetic(precision: str, device: torch.device) -> AbstractContextManager:
    """The context the forward passes run in: bfloat16 autocast for `bf16`, else nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def memory_format(precision: str) -> torch.memory_format:
    """Channels-last for `bf16` (oneDNN's fast layout for bfloat16 convolutions), else the
    default layout."""
    return torch.channels_last if precision == "bf16" else torch.contiguous_format


@torch.no_grad()
def evaluate_loss(net: GraderNet, data: PhotoSet, prep: PreprocessConfig, config: GraderConfig):
    """Validation loss, accuracy and item scores (no augmentation), in the arithmetic training
    uses (the setting `precision` on the network's device)."""
    net.eval()
    device = next(net.parameters()).device
    precision = training_precision(config.precision, device)
    norm = normalize(prep)
    target = torch.as_tensor(data.items["target"].to_numpy().copy())
    fakes = torch.as_tensor(data.items["counterfeit"].to_numpy().copy(), dtype=torch.float32)
    losses, scores, layout = [], [], memory_format(precision)
    order = np.arange(len(data))
    for chosen, rows, local in _batches(data, order, 64):
        x = norm(data.images[torch.as_tensor(rows)]).contiguous(memory_format=layout)
        batch = (x, local, target[chosen], fakes[chosen])
        with arithmetic(precision, device):
            loss, score, _ = batch_loss(net, *(t.to(device) for t in batch), config)
        losses.append(float(loss) * len(chosen))
        scores.append(score.cpu())
    score = torch.cat(scores)
    accuracy = float((decode(score, net.grade.thresholds().cpu()) == target).float().mean())
    return sum(losses) / max(len(data), 1), accuracy


def train_network(
    net: GraderNet,
    train: PhotoSet,
    val: PhotoSet,
    prep: PreprocessConfig,
    config: GraderConfig,
    on_epoch: EpochHook | None = None,
    shard: Shard | None = None,
) -> list[dict[str, float]]:
    """Train `net` in place; returns the per-epoch history and loads the best state (with
    `keep_best`; else the last, averaged when `ema_decay > 0`).

    Args:
        net: A fresh or pretrained network.
        train: Training items.
        val: Validation items (loss, accuracy, best-state selection); may be empty.
        prep: Preprocessing (normalisation statistics).
        config: Run settings.
        on_epoch: Called with (epoch, metrics) after every epoch (by rank 0 alone).
        shard: This process's rank in a process group: it trains on its share of each batch
            under DDP, and only rank 0 validates, reports and ends with the best state. A
            global batch with fewer items than processes is skipped (a rank would have none).
            Its device is where this process trains; without one, `config.device` says.
    """
    device = shard.device if shard is not None else training_device(config.device)
    precision = training_precision(config.precision, device)
    # DDP's gradient buckets expect the default layout
    layout = memory_format(precision) if shard is None else torch.contiguous_format
    net.to(device, memory_format=layout)
    restore_batchnorm = None
    if shard is not None and device.type == "cuda":
        # one set of batch-norm statistics over all the processes' shares (GPUs only in torch)
        restore_batchnorm = synchronise_batchnorm(net)
    gen = torch.Generator().manual_seed(config.seed)
    ema = None
    if config.ema_decay > 0:
        ema = AveragedModel(net, multi_avg_fn=ema_update(config.ema_decay), use_buffers=True)
    judged = net if ema is None else ema.module
    torch.manual_seed(config.seed)
    augment = train_augment(prep, config.augment, gen)
    damage_rng = np.random.default_rng([config.seed, DAMAGE_STREAM])
    categories = train.items["category"].to_numpy() if "category" in train.items else None
    optimizer = torch.optim.AdamW(param_groups(net, config), lr=config.lr)
    steps_per_epoch = max(1, -(-len(train) // config.batch_items))
    schedule = one_cycle(optimizer, config.epochs * steps_per_epoch)
    target = torch.as_tensor(train.items["target"].to_numpy().copy())
    fakes = torch.as_tensor(train.items["counterfeit"].to_numpy().copy(), dtype=torch.float32)
    counts = torch.bincount(target, minlength=3).float().clamp_min(1)
    class_weight = counts.sum() / (len(counts) * counts) if config.class_balance else None
    if class_weight is not None:
        class_weight = class_weight.to(device)
    net.grade.init_from_prior(counts)
    leader = shard is None or shard.leader
    loss_of, wrapped_frozen = BatchLoss(net, config), None
    history, best, best_loss = [], None, float("inf")
    for epoch in range(1, config.epochs + 1):
        net.train()
        frozen = epoch <= config.freeze_epochs
        net.backbone.requires_grad_(not frozen)
        if frozen:  # the pretrained features stay as they are, batch-norm statistics included
            net.backbone.eval()
        if shard is not None and frozen != wrapped_frozen:  # DDP fixes its parameters when built
            loss_of, wrapped_frozen = shard.wrap(BatchLoss(net, config)), frozen
        started, total, seen = time.perf_counter(), 0.0, 0
        order = torch.randperm(len(train), generator=gen).numpy()
        for chosen, rows, local in _batches(train, order, config.batch_items):
            if shard is not None and len(chosen) < shard.world:
                continue
            images = train.images[torch.as_tensor(rows)]
            grades, marked = target[chosen], None
            if config.damage_share > 0:
                images, grades, marked = draw_damage(
                    images,
                    local,
                    grades,
                    [None] * len(chosen) if categories is None else categories[chosen],
                    config.damage_share,
                    damage_rng,
                )
            # the whole batch is augmented in every rank: the random streams stay in step
            x = augment(images).contiguous(memory_format=layout)
            batch = (x, local, grades, fakes[chosen], marked)
            batch = tuple(None if t is None else t.to(device, non_blocking=True) for t in batch)
            if shard is not None:
                batch = shard.take(*batch)
            x, item_index, grades, fake, marked = batch
            with arithmetic(precision, device):
                loss, _, _ = loss_of(x, item_index, grades, fake, class_weight, marked)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            if ema is not None:
                ema.update_parameters(net)
            total += loss.item() * len(grades)
            seen += len(grades)
        if shard is not None:
            total, seen = shard.sum(total, seen)
        record = {"train_loss": total / max(seen, 1), "epoch_s": time.perf_counter() - started}
        if not leader:
            continue
        if len(val):
            record["val_loss"], record["val_accuracy"] = evaluate_loss(judged, val, prep, config)
            if config.keep_best and record["val_loss"] < best_loss:
                best_loss, best = record["val_loss"], copy.deepcopy(judged.state_dict())
        history.append(record)
        if on_epoch is not None:
            on_epoch(epoch, record)
    net.backbone.requires_grad_(True)
    if best is None and ema is not None:
        best = ema.module.state_dict()
    if best is not None:
        net.load_state_dict(best)
    if restore_batchnorm is not None:
        restore_batchnorm()
    # calibration, references and the artifact are computed on the CPU, in the default layout
    net.to("cpu", memory_format=torch.contiguous_format)
    net.eval()
    return history


def synchronise_batchnorm(net: nn.Module) -> Callable[[], None]:
    """Swap every batch norm in `net` for a synchronised one (timm's converter, which keeps a
    fused activation); returns the function that puts the original modules back, holding the
    trained parameters and statistics (the artifact's modules are plain ones)."""
    originals = {name: m for name, m in net.named_modules() if isinstance(m, _BatchNorm)}
    for name, module in originals.items():
        _replace(net, name, convert_sync_batchnorm(module))

    def restore() -> None:
        state = net.state_dict()
        for name, module in originals.items():
            module.train(net.get_submodule(name).training)
            _replace(net, name, module)
        net.load_state_dict(state)

    return restore


def _replace(net: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    (net.get_submodule(parent) if parent else net).add_module(child, module)
