"""Pricing on Dask against single-machine training: time, quality and peak memory per process.

Run: `.venv/bin/python benchmarks/bench_dask_pricing.py [--rows N] [--workers W] [--parts P]`.
Writes N synthetic outcome rows (default 1,000,000; `training.synth`) as P Parquet parts in a
temporary folder, then trains on them twice, each in its own process so its peak memory is its
own: the single-machine trainer (`train_pricing_model` on the parts read into one table, the
baseline) and `DaskPricing` on a LocalCluster of W single-threaded worker processes (default 2).
Both use the default config without the hyperparameter search (it runs on a sample of at most
`search_max_rows` rows either way). Prints seconds, rows/s, holdout rmsle and band coverage, and
peak RSS of the single process, of the Dask client process and of each Dask worker.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from features.tables import load_outcomes
from training.pricing.config import PricingTrainConfig
from training.pricing.distributed import DaskPricing
from training.pricing.evaluate import evaluate_pricing_model
from training.pricing.train import train_pricing_model
from training.synth.items import make_items
from training.synth.outcomes import make_outcomes

COUNTERFEIT_RATE = 0.1
"""Counterfeits never reach the outcomes, so items are scaled up to give the requested rows."""
KEYS = ("rmsle", "interval_coverage_80", "tts_cindex")


def peak_mib() -> float:
    """This process's peak resident memory in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_parts(rows: int, parts: int, folder: Path, seed: int) -> int:
    """About `rows` outcome rows as `parts` Parquet files (item ids unique across parts)."""
    written = 0
    for part in range(parts):
        n_items = round(rows / parts / (1 - COUNTERFEIT_RATE))
        items = make_items(n_items, counterfeit_rate=COUNTERFEIT_RATE, seed=seed + part)
        outcomes = make_outcomes(items, seed=seed + part)[0]
        outcomes["item_id"] = f"p{part:03d}-" + outcomes["item_id"].astype(str)
        outcomes.to_parquet(folder / f"part-{part:03d}.parquet", index=False)
        written += len(outcomes)
    return written


def config(seed: int) -> PricingTrainConfig:
    """The default config without the search."""
    return PricingTrainConfig(seed=seed, search_seconds=0)


def run_single(folder: Path, seed: int) -> dict:
    """Single-machine training on the parts read into one table."""
    frame = pd.concat(
        [load_outcomes(p) for p in sorted(folder.glob("*.parquet"))], ignore_index=True
    )
    cfg = config(seed)
    started = time.perf_counter()
    trained = train_pricing_model(frame, cfg)
    seconds = time.perf_counter() - started
    metrics = evaluate_pricing_model(trained.artifact, frame, holdout_fraction=cfg.holdout_fraction)
    return {
        "seconds": seconds,
        "rows": len(frame),
        **{k: metrics[k] for k in KEYS},
        "peak_mib": peak_mib(),
    }


def run_dask(folder: Path, seed: int, workers: int) -> dict:
    """Dask training on a LocalCluster of `workers` single-threaded processes."""
    cfg = config(seed)
    with DaskPricing(f"local:{workers}", cfg) as session:
        started = time.perf_counter()
        loaded = session.load(folder)
        trained = session.train(loaded.frame, cfg)
        seconds = time.perf_counter() - started
        worker_peaks = session.client.run(peak_mib)
        info = session.info()
    metrics = evaluate_pricing_model(
        trained.artifact, loaded.frame, holdout_fraction=cfg.holdout_fraction
    )
    return {
        "seconds": seconds,
        "rows": info["data"]["rows"],
        **{k: metrics[k] for k in KEYS},
        "peak_mib": peak_mib(),
        "worker_peak_mib": sorted(worker_peaks.values()),
        "partitions": info["dask"]["partitions"],
        "sample_rows": info["dask"]["sample_rows"],
    }


def in_child(mode: str, folder: Path, args: argparse.Namespace) -> dict:
    """Run one mode in a fresh Python process; its JSON result."""
    command = [sys.executable, __file__, "--child", mode, "--folder", str(folder)]
    command += ["--seed", str(args.seed), "--workers", str(args.workers)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def show(label: str, result: dict) -> None:
    """One line of results."""
    rate = result["rows"] / result["seconds"]
    quality = "  ".join(f"{k} {result[k]:.4f}" for k in KEYS if result[k] is not None)
    print(f"{label:<14} {result['seconds']:8.1f} s {rate:10,.0f} rows/s  {quality}")
    workers = result.get("worker_peak_mib")
    each = f"; workers {', '.join(f'{w:,.0f}' for w in workers)} MiB" if workers else ""
    print(f"{'':<14} peak memory: this process {result['peak_mib']:,.0f} MiB{each}")


def main() -> None:
    """Write the parts, train both ways, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="outcome rows to generate")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--parts", type=int, default=8, help="Parquet parts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-single", action="store_true", help="only the Dask run")
    parser.add_argument("--child", choices=["single", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        run = run_single if args.child == "single" else run_dask
        extra = () if args.child == "single" else (args.workers,)
        print(json.dumps(run(args.folder, args.seed, *extra)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        rows = write_parts(args.rows, args.parts, folder, args.seed)
        print(f"{rows:,} rows in {args.parts} Parquet parts, {time.perf_counter() - started:.1f} s")
        on_dask = in_child("dask", folder, args)
        show(f"dask {args.workers} workers", on_dask)
        if not args.skip_single:
            single = in_child("single", folder, args)
            show("single machine", single)
            print(f"dask / single time {on_dask['seconds'] / single['seconds']:.2f}")


if __name__ == "__main__":
    main()
