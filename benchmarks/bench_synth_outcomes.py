"""Speed of the synthetic outcomes generator: make_items + make_outcomes for 100,000 rows.

Run: `.venv/bin/python benchmarks/bench_synth_outcomes.py [--rows N] [--repeat R]`.
Prints rows/s of generation (best of R runs) and, as the in-run baseline, the time to write the
same outcomes and truth tables to CSV (`DataFrame.to_csv`, which `regrade data synth` does too).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from training.synth.items import make_items
from training.synth.outcomes import make_outcomes

COUNTERFEIT_RATE = 0.1
"""Counterfeits never reach the outcomes, so items are scaled up to give the requested rows."""


def main() -> None:
    """Time the generator and print rows/s against the cost of writing the CSVs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="outcome rows to generate")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    n_items = round(args.rows / (1 - COUNTERFEIT_RATE))
    best_items = best_outcomes = math.inf
    for _ in range(args.repeat):
        start = time.perf_counter()
        items = make_items(n_items, counterfeit_rate=COUNTERFEIT_RATE, seed=args.seed)
        middle = time.perf_counter()
        outcomes, truth = make_outcomes(items, seed=args.seed)
        end = time.perf_counter()
        best_items = min(best_items, middle - start)
        best_outcomes = min(best_outcomes, end - middle)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcomes.to_csv(Path(tmp) / "outcomes.csv", index=False)
        truth.to_csv(Path(tmp) / "truth.csv", index=False)
        write = time.perf_counter() - start

    rows = len(outcomes)
    total = best_items + best_outcomes
    print(f"items: {n_items:,}  outcome rows: {rows:,}  (best of {args.repeat})")
    print(f"make_items     {best_items:7.3f} s")
    print(f"make_outcomes  {best_outcomes:7.3f} s")
    print(f"generate total {total:7.3f} s  {rows / total:,.0f} rows/s")
    print(f"write CSVs     {write:7.3f} s  {rows / write:,.0f} rows/s (baseline)")
    print(f"generate / write = {total / write:.2f}")


if __name__ == "__main__":
    main()
