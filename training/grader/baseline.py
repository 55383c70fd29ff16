"""The plain baseline every grader evaluation reports, so a report shows whether the machinery pays.

A from-scratch timm `resnet10t` classifier: cross-entropy on every photo with its item's grade,
random horizontal and vertical flips, AdamW with a cosine schedule, the same input size,
normalisation statistics and split as the grader; an item's grade is the arg-max of its photos'
mean probabilities. Nothing is calibrated, pooled by the worst view or drawn.

`plain_baseline` trains it on the train split and scores the test split, or reads the scores
from a cache folder keyed by the data fingerprint, the split's items and the settings, so
evaluating several models on the same data trains it once.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from sklearn.metrics import cohen_kappa_score, f1_score
from torch import nn

from features.schema import GRADES
from models.grader.preprocess import PreprocessConfig, fit_stats, normalize
from training.grader.data import PhotoSet
from training.grader.distributed import torch_threads

BASELINE_ARCH = "resnet10t"
"""The timm architecture of the plain baseline (timm's own widths)."""
BASELINE_EPOCHS = 30
"""Default training epochs of the baseline."""
BATCH_PHOTOS = 32
LR = 2e-3
WEIGHT_DECAY = 5e-4
CACHE_VERSION = 1
"""Part of the cache key: bump it when the baseline's recipe changes."""
RESULT = "baseline.json"


def _flips(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each photo mirrored left-right and upside down, each with probability 1/2."""
    n = len(x)
    h = (torch.rand(n, generator=gen) < 0.5)[:, None, None, None]
    v = (torch.rand(n, generator=gen) < 0.5)[:, None, None, None]
    x = torch.where(h, x.flip(-1), x)
    return torch.where(v, x.flip(-2), x)


def train_plain(
    train: PhotoSet, *, epochs: int, seed: int, arch: str = BASELINE_ARCH, threads: int = 1
) -> tuple[nn.Module, PreprocessConfig]:
    """Train the plain classifier on `train`'s photos (each with its item's grade).

    Args:
        train: The training items.
        epochs: Passes over the photos.
        seed: Seeds weights, shuffling and flips.
        arch: timm architecture.
        threads: Torch CPU threads (one avoids spin-waiting on a shared machine, as the grader).

    Returns:
        The trained network (eval mode) and the preprocessing it was trained with.
    """
    with torch_threads(threads):
        return _train_plain(train, epochs, seed, arch)


def _train_plain(
    train: PhotoSet, epochs: int, seed: int, arch: str
) -> tuple[nn.Module, PreprocessConfig]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    mean, std = fit_stats(train.images)
    prep = PreprocessConfig(image_size=int(train.images.shape[-1]), mean=mean, std=std)
    norm = normalize(prep)
    net = timm.create_model(arch, pretrained=False, num_classes=len(GRADES))
    labels = torch.as_tensor(train.items["target"].to_numpy()[train.item_index].copy())
    steps = max(1, epochs * -(-len(labels) // BATCH_PHOTOS))
    optimizer = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=gen)
        for rows in order.split(BATCH_PHOTOS):
            x = _flips(norm(train.images[rows]), gen)
            loss = F.cross_entropy(net(x), labels[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return net.eval(), prep


@torch.inference_mode()
def predict_plain(net: nn.Module, prep: PreprocessConfig, data: PhotoSet) -> np.ndarray:
    """Grade index per item: arg-max of the mean of its photos' probabilities."""
    norm = normalize(prep)
    probs = torch.cat([net(norm(chunk)).softmax(-1) for chunk in data.images.split(64)])
    summed = torch.zeros(len(data), probs.shape[1], dtype=probs.dtype)
    summed.index_add_(0, torch.as_tensor(data.item_index), probs)
    return summed.argmax(-1).numpy()


def plain_metrics(target: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The baseline's metric keys from true and predicted grade indices."""
    labels = list(range(len(GRADES)))
    return {
        "baseline_plain_accuracy": float((target == pred).mean()),
        "baseline_plain_macro_f1": float(
            f1_score(target, pred, average="macro", labels=labels, zero_division=0)
        ),
        "baseline_plain_qwk": float(
            cohen_kappa_score(target, pred, weights="quadratic", labels=labels)
        ),
    }


def cache_key(data: PhotoSet, fingerprint: str, epochs: int, seed: int, arch: str) -> str:
    """SHA-256 of everything the baseline's scores depend on: the data, the split's items, the
    input size and the settings."""
    items = data.items
    record = {
        "version": CACHE_VERSION,
        "fingerprint": fingerprint,
        "train": sorted(items.loc[items["split"] == "train", "item_id"].astype(str)),
        "test": sorted(items.loc[items["split"] == "test", "item_id"].astype(str)),
        "image_size": int(data.images.shape[-1]),
        "epochs": epochs,
        "seed": seed,
        "arch": arch,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _read_cached(folder: Path) -> dict[str, float] | None:
    """The cached scores, or None when absent or unreadable (then it is trained again)."""
    try:
        cached = json.loads((folder / RESULT).read_text())
        return {k: float(v) for k, v in cached["metrics"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def plain_baseline(
    data: PhotoSet,
    *,
    epochs: int = BASELINE_EPOCHS,
    seed: int = 0,
    cache_dir: Path | None = None,
    fingerprint: str | None = None,
    arch: str = BASELINE_ARCH,
    threads: int = 1,
) -> tuple[dict[str, float], bool]:
    """Train (or read from the cache) the plain baseline and score it on the test split.

    Args:
        data: All items with their `split` (the grader's split).
        epochs: Training epochs.
        seed: Seeds weights, shuffling and flips.
        cache_dir: Folder of cached results (one sub-folder per key); None: no cache.
        fingerprint: The data fingerprint (required for the cache).
        arch: timm architecture.
        threads: Torch CPU threads while training.

    Returns:
        `baseline_plain_accuracy`, `baseline_plain_macro_f1`, `baseline_plain_qwk` and
        `baseline_plain_train_seconds` (of the run that trained it), and whether they came from
        the cache.

    Raises:
        ValueError: the train or test split is empty.
    """
    train, test = data.subset("train"), data.subset("test")
    if len(train) == 0 or len(test) == 0:
        raise ValueError("the plain baseline needs items in both the train and the test split")
    folder = None
    if cache_dir is not None and fingerprint is not None:
        folder = Path(cache_dir) / cache_key(data, fingerprint, epochs, seed, arch)
        cached = _read_cached(folder)
        if cached is not None:
            return cached, True
    started = time.perf_counter()
    net, prep = train_plain(train, epochs=epochs, seed=seed, arch=arch, threads=threads)
    seconds = time.perf_counter() - started
    metrics = plain_metrics(test.items["target"].to_numpy(), predict_plain(net, prep, test))
    metrics["baseline_plain_train_seconds"] = seconds
    if folder is not None:
        _write_cache(folder, net, prep, metrics, epochs=epochs, seed=seed, arch=arch)
    return metrics, False


def _write_cache(folder: Path, net: nn.Module, prep: PreprocessConfig, metrics, **settings):
    """Weights and scores, written to a temporary name and renamed (never half written)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(folder / "weights.safetensors"))
    record: dict[str, Any] = {"metrics": metrics, "preprocess": prep.to_dict(), **settings}
    partial = folder / f"{RESULT}.partial"
    partial.write_text(json.dumps(record, indent=2) + "\n")
    partial.replace(folder / RESULT)
