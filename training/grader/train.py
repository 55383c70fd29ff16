"""Train a grader: the ensemble's networks (trained or reused), then calibration; or, with
`crossfit_folds`, one network per fold of train+val calibrated on their out-of-fold scores
(`training.grader.crossfit`).

`fit_grader` trains and calibrates in memory; `train_grader_model` also saves the artifact folder
(what `training.grader.pipeline` calls inside an MLflow run). Neither needs a tracking server, so
tests call them directly on tiny data.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from features.problems import DataError, Problem
from features.schema import GRADES
from models.grader.artifact import GraderArtifact, load_artifact, save_artifact
from models.grader.backbones import checkpoint_preprocess
from models.grader.heads import GraderEnsemble, GraderNet
from models.grader.preprocess import PreprocessConfig, fit_stats
from training.grader.calibrate import assemble, calibrate
from training.grader.config import GraderConfig
from training.grader.crossfit import SETTING as CROSSFIT_SETTING
from training.grader.crossfit import assign_folds, crossfit_record, fold_sets, oof_scores
from training.grader.data import PhotoSet
from training.grader.distributed import (
    Shard,
    launched_shard,
    process_group,
    run_group,
    torch_threads,
    training_device,
    training_precision,
)
from training.grader.loop import EpochHook, train_network


@dataclass
class FittedGrader:
    """A trained and calibrated grader, in memory.

    Attributes:
        artifact: The complete artifact (validation metrics in `metrics`, seeds in `info`).
        history: Per-epoch training records of every member trained here.
        train_seconds: Time spent training and calibrating.
    """

    artifact: GraderArtifact
    history: list[dict[str, float]]
    train_seconds: float


@dataclass
class TrainResult:
    """What `train_grader_model` saved."""

    model_dir: Path
    history: list[dict[str, float]]
    val_metrics: dict[str, float]
    train_seconds: float


def networks_to_train(config: GraderConfig) -> int:
    """Networks a run trains or reuses: `crossfit_folds` when cross-fitting, else `members`."""
    return config.crossfit_folds or config.members


def _member_hook(on_epoch: EpochHook | None, slot: int, config: GraderConfig):
    """Report the epochs of the member in `slot` as steps `slot * epochs + epoch` of one run."""
    if on_epoch is None or networks_to_train(config) == 1:
        return on_epoch

    def hook(epoch: int, metrics: dict[str, float]) -> None:
        on_epoch(slot * config.epochs + epoch, {**metrics, "member": float(slot)})

    return hook


def _train_member(
    config: GraderConfig,
    seed: int,
    slot: int,
    train: PhotoSet,
    val: PhotoSet,
    prep: PreprocessConfig,
    on_epoch: EpochHook | None = None,
    shard: Shard | None = None,
) -> tuple[GraderNet, list[dict[str, float]]]:
    """The member in `slot` of the ensemble: `seed` alone seeds its weights, shuffling and
    augmentation, so it is the network a single-member run with that seed trains (with a
    `shard`, this process's part of its DDP training)."""
    torch.set_num_threads(config.threads)
    member_config = config.model_copy(update={"seed": seed})
    torch.manual_seed(seed)
    net = GraderNet(
        config.backbone,
        n_classes=len(GRADES),
        pretrained_file=config.pretrained_file,
    )
    history = train_network(
        net, train, val, prep, member_config, _member_hook(on_epoch, slot, config), shard
    )
    return net, history


def _train_member_state(
    config, seed, slot, train, val, prep, epochs=None
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """`_train_member` in a worker process: each epoch's report goes to the parent through the
    `epochs` queue as it happens; the weights and history go back when the member is done."""
    hook = None if epochs is None else (lambda step, record: epochs.put((step, record)))
    net, history = _train_member(config, seed, slot, train, val, prep, hook)
    return net.state_dict(), history


def _train_in_group(shard, port, config, seeds, first_slot, train, val, prep, on_epoch=None):
    """Join the group and train this rank's share of every member, one after another; the
    networks and the history (meaningful in rank 0)."""
    with process_group(shard, port):
        trained = [
            _train_member(config, seed, slot, train, val, prep, on_epoch, shard)
            for slot, seed in enumerate(seeds, start=first_slot)
        ]
    return [net for net, _ in trained], [r for _, h in trained for r in h]


def _ddp_helper(index, port, world, config, seeds, first_slot, train, val, prep) -> None:
    """Rank `index + 1` of a DDP run, in a spawned process: its share of every member."""
    shard = Shard(index + 1, world, training_device(config.device, index + 1))
    _train_in_group(shard, port, config, seeds, first_slot, train, val, prep)


def _train_members_ddp(config, seeds, first_slot, train, val, prep, on_epoch):
    """Train the members one after another, each on all processes under DDP
    (`training.grader.distributed`): the group torchrun started, or `config.nproc` processes
    this one (rank 0, which keeps the networks) spawns.

    Raises:
        DataError: `nproc` above 1 in a process torchrun started.
    """
    launched = launched_shard(config.device)
    if launched is not None:
        if config.nproc > 1:
            raise DataError(
                [Problem("nproc", "leave it at 1 under torchrun: torchrun starts the processes")]
            )
        return _train_in_group(
            launched, None, config, seeds, first_slot, train, val, prep, on_epoch
        )

    def rank_zero(shard: Shard, port: int):
        return _train_in_group(shard, port, config, seeds, first_slot, train, val, prep, on_epoch)

    args = (config, seeds, first_slot, train, val, prep)
    return run_group(config.nproc, rank_zero, _ddp_helper, args, config.device)


def member_workers(config: GraderConfig, to_train: int | None = None) -> int:
    """Processes that train members side by side: `workers`, or with 0 one per member up to
    twice the CPUs this process may use divided by `threads`; never more than the `to_train`
    members (default: all `members`).

    Up to twice as many workers as cores time-share them, so no core idles while a last member
    trains alone (docs/experiments/grader.md has the timings behind this choice).
    """
    to_train = config.members if to_train is None else to_train
    if config.workers > 0:
        return max(1, min(config.workers, to_train))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(to_train, 2 * ((cpus or 1) // max(config.threads, 1))))


def reused_members(
    config: GraderConfig, prep: PreprocessConfig
) -> tuple[list[GraderNet], list[int]]:
    """The networks of `config.members_from` and the seeds they were trained from.

    Raises:
        DataError: a folder is not a grader model, or its networks do not fit this run (other
            backbone or input size, or normalisation fitted on other training photos), or
            there are more networks than `members`, or two were trained from the same seed.
    """
    nets: list[GraderNet] = []
    seeds: list[int] = []
    for source in config.members_from:
        try:
            artifact = load_artifact(source)
        except (OSError, ValueError) as exc:
            raise DataError([Problem(source, f"cannot reuse its members: {exc}")]) from exc
        net = artifact.net
        got = {
            "backbone": artifact.backbone,
            "image_size": artifact.preprocess.image_size,
        }
        wanted = {"backbone": config.backbone, "image_size": prep.image_size}
        problems = [
            Problem(source, f"{key} is {got[key]!r}, this run's is {wanted[key]!r}")
            for key in wanted
            if got[key] != wanted[key]
        ]
        stats = np.array([artifact.preprocess.mean, artifact.preprocess.std])
        if not np.allclose(stats, np.array([prep.mean, prep.std]), atol=1e-6):
            problems.append(
                Problem(
                    source,
                    "its normalisation statistics differ from this data's train split: "
                    "it was trained on other photos",
                )
            )
        if problems:
            raise DataError(problems)
        members = list(net.members) if isinstance(net, GraderEnsemble) else [net]
        first = int(artifact.info.get("seed", 0))
        member_seeds = artifact.info.get("member_seeds") or range(first, first + len(members))
        nets += members
        seeds += [int(seed) for seed in member_seeds]
    where = "setting 'members_from'"
    if len(nets) > config.members:
        raise DataError(
            [Problem(where, f"{len(nets)} networks to reuse, but members = {config.members}")]
        )
    twice = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if twice:
        raise DataError([Problem(where, f"networks trained from the same seed twice: {twice}")])
    return nets, seeds


def _train_members(config, seeds, first_slot, train, val, prep, on_epoch):
    """Train a member from each of `seeds` (slots `first_slot`, ...), in worker processes when
    more than one may run at once.

    Each member is seeded alone, so the weights are the same either way. With workers, every
    epoch still reaches `on_epoch` as it finishes (as step `slot * epochs + epoch`), so the
    members' steps interleave. With `nproc > 1` the members are trained one after another,
    each on all `nproc` processes (DDP), and `workers` is not used.
    """
    if (config.nproc > 1 or launched_shard() is not None) and seeds:
        return _train_members_ddp(config, seeds, first_slot, train, val, prep, on_epoch)
    slots = range(first_slot, first_slot + len(seeds))
    jobs = [(seed, slot, train, val) for seed, slot in zip(seeds, slots, strict=True)]
    return _train_jobs(config, jobs, prep, on_epoch)


def _train_jobs(config, jobs, prep, on_epoch):
    """Train one network per job `(seed, slot, train, val)`, in worker processes when more than
    one may run at once (`member_workers`); the networks in job order and their history."""
    workers = member_workers(config, len(jobs))
    if workers == 1:
        trained = [
            _train_member(config, seed, slot, train, val, prep, on_epoch)
            for seed, slot, train, val in jobs
        ]
        return [net for net, _ in trained], [r for _, h in trained for r in h]
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    with context.Manager() as manager, ProcessPoolExecutor(workers, mp_context=context) as pool:
        epochs = manager.Queue() if on_epoch is not None else None
        futures = [
            pool.submit(_train_member_state, config, seed, slot, train, val, prep, epochs)
            for seed, slot, train, val in jobs
        ]

        def report() -> None:
            """Pass on every epoch the workers have finished since the last call."""
            if epochs is None:
                return
            while True:
                try:
                    step, record = epochs.get_nowait()
                except queue.Empty:
                    return
                on_epoch(step, record)

        running = set(futures)
        while running:
            _, running = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
            report()
        members, history = [], []
        for future in futures:
            state, member_history = future.result()
            net = GraderNet(config.backbone, n_classes=len(GRADES))
            net.load_state_dict(state)
            members.append(net.eval())
            history += member_history
        report()
    return members, history


def _preprocess(
    config: GraderConfig, train: PhotoSet, image_size: int
) -> tuple[PreprocessConfig, str]:
    """The normalisation: the pretrained checkpoint's when its config gives one, else the
    training photos' statistics; and where it came from."""
    given = checkpoint_preprocess(config.pretrained_file) if config.pretrained_file else None
    if given is not None and given.mean is not None and given.std is not None:
        return PreprocessConfig(image_size, given.mean, given.std), "pretrained checkpoint"
    mean, std = fit_stats(train.images)
    return PreprocessConfig(image_size=image_size, mean=mean, std=std), "training photos"


def _plan(
    config: GraderConfig, data: PhotoSet
) -> tuple[PhotoSet, PhotoSet, PreprocessConfig, str, list[GraderNet], list[int], list[int]]:
    """The splits, normalisation (and its source), reused members with their seeds, and the
    seeds of the members to train."""
    train, val = data.subset("train"), data.subset("val")
    if len(train) == 0 or len(val) == 0:
        raise ValueError("the grader needs items in both the train and the val split")
    prep, prep_source = _preprocess(config, train, int(data.images.shape[-1]))
    members, seeds = reused_members(config, prep)
    free = (seed for seed in itertools.count(config.seed) if seed not in seeds)
    new_seeds = list(itertools.islice(free, config.members - len(members)))
    return train, val, prep, prep_source, members, seeds, new_seeds


def train_share(config: GraderConfig, data: PhotoSet) -> None:
    """A torchrun rank other than 0: train its share of every new member, keep nothing (rank 0
    runs `fit_grader` with the same config and data)."""
    with torch_threads(config.threads):
        _train_share(config, data)


def _train_share(config: GraderConfig, data: PhotoSet) -> None:
    if config.crossfit_folds:
        reason = "cross-fitting trains each network in one process"
        raise DataError([Problem(CROSSFIT_SETTING, reason)])
    train, val, prep, _, members, _, new_seeds = _plan(config, data)
    _train_members(config, new_seeds, len(members), train, val, prep, None)


def fit_grader(
    config: GraderConfig,
    data: PhotoSet,
    *,
    on_epoch: EpochHook | None = None,
    info: dict[str, Any] | None = None,
) -> FittedGrader:
    """Train the networks and calibrate them into a complete artifact, in memory.

    Args:
        config: Run settings.
        data: All items with their `split` (train, val for calibration, test untouched).
        on_epoch: Called with (epoch, metrics) after every epoch.
        info: More training details for the artifact's `info` (e.g. the preset chosen).

    Torch runs on `config.threads` CPU threads meanwhile, and on as many as before afterwards.
    """
    with torch_threads(config.threads):
        return _fit_grader(config, data, on_epoch, info)


def _fit_grader(
    config: GraderConfig,
    data: PhotoSet,
    on_epoch: EpochHook | None,
    info: dict[str, Any] | None,
) -> FittedGrader:
    started = time.perf_counter()
    if config.crossfit_folds:
        artifact, history = _fit_crossfit(config, data, on_epoch, info)
        return FittedGrader(artifact, history, time.perf_counter() - started)
    train, val, prep, prep_source, members, seeds, new_seeds = _plan(config, data)
    trained, history = _train_members(config, new_seeds, len(members), train, val, prep, on_epoch)
    members, seeds = members + trained, seeds + new_seeds
    net = members[0] if len(members) == 1 else GraderEnsemble(members)
    info = {
        **(info or {}),
        "seed": config.seed,
        "train_items": len(train),
        "val_items": len(val),
        "train_photos": len(train.images),
        "epochs": config.epochs,
        "members": config.members,
        "member_seeds": seeds,
        "members_from": list(config.members_from),
        "normalisation_from": prep_source,
        "precision": training_precision(config.precision, training_device(config.device)),
        "split": dict(data.split_info),
    }
    artifact = calibrate(net, prep, config, train, val, info=info)
    return FittedGrader(artifact, history, time.perf_counter() - started)


def _fit_crossfit(
    config: GraderConfig,
    data: PhotoSet,
    on_epoch: EpochHook | None,
    info: dict[str, Any] | None,
) -> tuple[GraderArtifact, list[dict[str, float]]]:
    """Cross-fitting (`training.grader.crossfit`): a network per fold of train+val, calibrated
    on their out-of-fold scores, the fold networks as the ensemble; the test split unused.

    Raises:
        DataError: `members_from` or more than one process per network was asked for, or
            fewer train+val items than folds.
    """
    if config.members_from:
        reason = "cross-fitting trains its own networks: drop members_from"
        raise DataError([Problem(CROSSFIT_SETTING, reason)])
    if config.nproc > 1 or launched_shard() is not None:
        reason = "cross-fitting trains each network in one process"
        raise DataError([Problem(CROSSFIT_SETTING, reason)])
    pool = data.take(np.nonzero(data.items["split"].isin(["train", "val"]).to_numpy())[0])
    folds = assign_folds(pool.items, config.crossfit_folds, config.seed)
    prep, prep_source = _preprocess(config, pool, int(data.images.shape[-1]))
    seeds = [config.seed + fold for fold in range(config.crossfit_folds)]
    jobs = [(seed, fold, *fold_sets(pool, folds, fold)) for fold, seed in enumerate(seeds)]
    nets, history = _train_jobs(config, jobs, prep, on_epoch)
    scores, references = oof_scores(nets, prep, config, pool, folds)
    record = crossfit_record(pool, folds, seeds)
    info = {
        **(info or {}),
        "seed": config.seed,
        "train_items": len(pool),
        "val_items": len(pool),  # every train+val item is held out once
        "train_photos": len(pool.images),
        "epochs": config.epochs,
        "members": len(nets),
        "member_seeds": seeds,
        "members_from": [],
        "normalisation_from": prep_source,
        "precision": training_precision(config.precision, training_device(config.device)),
        "split": dict(data.split_info),
        "crossfit": record,
    }
    supervised = pool.has_counterfeit_labels and config.counterfeit_weight > 0
    artifact = assemble(
        GraderEnsemble(nets),
        prep,
        config,
        references,
        scores,
        pool.items,
        supervised,
        info=info,
        fitted_on="out-of-fold train+val",
    )
    return artifact, history


def train_grader_model(
    config: GraderConfig,
    data: PhotoSet,
    model_dir: Path | str,
    *,
    on_epoch: EpochHook | None = None,
    info: dict[str, Any] | None = None,
) -> TrainResult:
    """Train, calibrate and save a grader artifact into `model_dir` (no tracking, no metadata
    beyond the format: `training.grader.pipeline` adds evaluation, provenance and registry).

    Args:
        config: Run settings.
        data: All items with their `split` (train, val for calibration, test untouched).
        model_dir: Folder to write the artifact into.
        on_epoch: Called with (epoch, metrics) after every epoch.
        info: More training details for the artifact's `info` (e.g. the preset chosen).
    """
    started = time.perf_counter()
    fitted = fit_grader(config, data, on_epoch=on_epoch, info=info)
    save_artifact(fitted.artifact, model_dir)
    return TrainResult(
        Path(model_dir),
        fitted.history,
        dict(fitted.artifact.metrics),
        time.perf_counter() - started,
    )
