"""`regrade report` on a store of 100,000 cases: time and peak memory against plain SQL.

Run: `.venv/bin/python benchmarks/bench_report.py [--cases 100000] [--database-url URL]`.

Fills a fresh store (SQLite under a temporary home by default; a PostgreSQL database or schema
through `--database-url`, used as it is when it already holds cases) with
`regrade data synth-history --cases N`, then times, in the same run:
- baselines on the same store: a plain SQL count of the cases joined to their outcomes, and a
  plain fetch of every row of the cases table (`SELECT * FROM cases`, rows left as tuples);
- `regrade report --out DIR` as a user runs it (a subprocess: start-up, the queries, every
  figure, the plots, report.json and report.html), with its peak resident memory sampled
  every 50 ms;
- inside one process, `build_report` alone and the rendering alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from sqlalchemy import text

from serving.analytics.render import write_report
from serving.analytics.report import build_report
from serving.store.engine import make_engine
from serving.store.migrate import migrate
from training.synth.history_store import case_count


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run `command`; return (seconds, peak RSS of it and its children in MB)."""
    start = time.perf_counter()
    process = psutil.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    if process.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} exited {process.returncode}: {process.stderr.read()}"
        )
    return time.perf_counter() - start, peak / 2**20


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="A database (default: SQLite).")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-report-"))
    env = {**os.environ, "REGRADE_HOME": str(home)}
    env.pop("REGRADE_SETTINGS", None)
    url = args.database_url or f"sqlite:///{home / 'regrade.db'}"
    env["REGRADE_DATABASE_URL"] = url
    regrade = [sys.executable, "-m", "training"]
    fill = [*regrade, "data", "synth-history", "--cases", str(args.cases), "--seed", str(args.seed)]
    engine = make_engine(url)
    migrate(engine)
    if args.database_url and case_count(engine):
        print(f"the database holds {case_count(engine):,} cases: measuring on them")
    else:
        fill_s, fill_mb = run([*fill, "--end", "2026-06-30"], env)
        print(f"synth-history {args.cases:,} cases: {fill_s:.1f} s, peak {fill_mb:.0f} MB")
    count_sql = text("SELECT count(*) FROM cases c LEFT JOIN outcomes o ON o.case_id = c.case_id")
    with engine.connect() as connection:
        count_s = timed(lambda: connection.execute(count_sql).scalar())
        fetch_s = timed(lambda: connection.exec_driver_sql("SELECT * FROM cases").fetchall())
    report_s, report_mb = run([*regrade, "report", "--out", str(home / "report")], env)
    report = None

    def build():
        nonlocal report
        report = build_report(engine)

    build_s = timed(build)
    render_s = timed(lambda: write_report(report, home / "report-again"))
    engine.dispose()
    print(f"{'what':<44} {'seconds':>8} {'x count':>8} {'x fetch':>8}")
    for name, seconds in (
        ("SQL count, cases joined to outcomes", count_s),
        ("SQL fetch, every row of cases", fetch_s),
        ("build_report (in process)", build_s),
        ("render: plots, json, html (in process)", render_s),
        ("regrade report (subprocess, end to end)", report_s),
    ):
        print(f"{name:<44} {seconds:>8.2f} {seconds / count_s:>8.1f} {seconds / fetch_s:>8.2f}")
    print(
        f"regrade report peak memory: {report_mb:.0f} MB; report.html "
        f"{(home / 'report' / 'report.html').stat().st_size / 1024:.0f} KB"
    )


if __name__ == "__main__":
    main()
