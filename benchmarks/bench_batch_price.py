"""`regrade price` on a whole catalogue: rows/s against raw model scoring, and peak memory.

Run: `.venv/bin/python benchmarks/bench_batch_price.py [--rows 100000 1000000] [--chunk-rows N]
[--search-trials T] [--search-seconds S]`.

For each catalogue size it times, in the same run:
- raw model scoring: `PricingPredictor.predict` (band and days) on the same rows, in memory, in
  chunks of the same size (the baseline);
- `regrade price --input items.csv --output priced.csv` as a user runs it (a subprocess reading and
  writing CSV, checking every row, searching the price inside the guardrails, routing), with its
  peak resident memory sampled every 50 ms.
Memory should stay flat as the catalogue grows: the command streams chunks. Both are timed on the
wall clock and in CPU seconds (this process's for the baseline, the command's from the kernel's
child accounting): on a machine shared with other jobs the wall-clock ratio swings with the
load, the CPU ratio much less.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from models.pricing.artifact import save_artifact
from models.pricing.predictor import PricingPredictor
from training.pricing.config import PricingTrainConfig
from training.pricing.train import train_pricing_model
from training.synth.items import make_items
from training.synth.outcomes import make_outcomes

TARGETS = ["sold_price", "days_listed", "sold"]
TRAIN_ITEMS = 20_000


def catalogue(rows: int, seed: int):
    """About `rows` items to price from the synthetic generator (targets dropped)."""
    items = make_items(round(rows / 0.9), seed=seed)
    return make_outcomes(items, seed=seed)[0].drop(columns=TARGETS).head(rows)


def child_cpu_seconds() -> float:
    """User + system CPU seconds of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb(command: list[str]) -> tuple[float, float, float]:
    """Run `command`; return (seconds, CPU seconds, peak RSS of it and its children in MB)."""
    cpu = child_cpu_seconds()
    start = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return time.perf_counter() - start, child_cpu_seconds() - cpu, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--search-trials", type=int, default=None, help="pricing search trials (default: config)"
    )
    parser.add_argument(
        "--search-seconds", type=float, default=None, help="pricing search cap (default: config)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-price-"))
    train = make_outcomes(make_items(TRAIN_ITEMS, seed=args.seed + 1), seed=args.seed + 1)[0]
    overrides = {
        key: value
        for key, value in (
            ("search_max_trials", args.search_trials),
            ("search_seconds", args.search_seconds),
        )
        if value is not None
    }
    config = PricingTrainConfig(seed=args.seed, **overrides)
    model = save_artifact(train_pricing_model(train, config).artifact, work / "model")
    predictor = PricingPredictor.load(model)
    print(
        f"{'rows':>9} {'raw rows/s':>12} {'price rows/s':>13} {'ratio':>7} "
        f"{'raw cpu s':>10} {'price cpu s':>12} {'cpu ratio':>10} {'peak MB':>9}"
    )
    for rows in args.rows:
        items = catalogue(rows, args.seed)
        source = work / f"items-{rows}.csv"
        items.to_csv(source, index=False)
        start, cpu = time.perf_counter(), time.process_time()
        for begin in range(0, rows, args.chunk_rows):
            predictor.predict(items.iloc[begin : begin + args.chunk_rows])
        raw = rows / (time.perf_counter() - start)
        raw_cpu = time.process_time() - cpu
        del items
        command = [
            sys.executable, "-m", "training", "price", "--input", str(source),
            "--output", str(work / f"priced-{rows}.csv"), "--model", str(model),
            "--chunk-rows", str(args.chunk_rows),
        ]  # fmt: skip
        seconds, price_cpu, peak = peak_rss_mb(command)
        rate = rows / seconds
        print(
            f"{rows:>9,} {raw:>12,.0f} {rate:>13,.0f} {rate / raw:>7.3f} "
            f"{raw_cpu:>10.1f} {price_cpu:>12.1f} {raw_cpu / price_cpu:>10.3f} {peak:>9,.0f}"
        )


if __name__ == "__main__":
    main()
