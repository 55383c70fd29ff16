"""Replicas under load: 8 clients on one `regrade serve` against two on one PostgreSQL database.

For each layout (one replica, then two) a fresh PostgreSQL database is created next to
`--database-url` and the replicas (one shared home: models, photo folder) are started on it.
`--clients` clients then each work `--units` units: a 3-photo `/assess` with an
`Idempotency-Key`, the same request again on the other replica (a retry: it must answer the
same case), and the grader's resolution on the other replica. With two replicas the clients
alternate which replica they start on. Afterwards the database is counted: every answered
case id must be stored once (0 lost), and there must be exactly one case, one key and one
resolution per unit (0 duplicated). Reports requests/s per layout and the ratio.

    .venv/bin/python benchmarks/bench_replicas.py                  # throwaway tiny models
    .venv/bin/python benchmarks/bench_replicas.py --units 20 --home var
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from serving.store.engine import make_engine  # noqa: E402 (after the repository is on the path)
from tests.serving.api_models import (  # noqa: E402
    KEYS,
    auth,
    photo_files,
    service_home,
    toy_photos,
)
from tests.serving.live_services import free_port, fresh_database, stop_process  # noqa: E402
from tests.serving.test_live_server import serve_command, wait_ready  # noqa: E402

UNIT = {"category": "phone", "new_price": 600, "acquisition_cost": 40, "refurb_cost": 15}


def start(env: dict[str, str], log: Path, stack: ExitStack) -> str:
    """A `regrade serve` on a free port; its base URL once /readyz answers (stopped with
    `stack`; a server that exits or is not ready raises, with the end of its log)."""
    port = free_port()
    handle = stack.enter_context(open(log, "w+"))  # noqa: SIM115 (open while it runs)
    process = subprocess.Popen(
        serve_command(port), cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    stack.callback(stop_process, process)
    base = f"http://127.0.0.1:{port}"
    wait_ready(process, base, handle)
    return base


def client(n: int, bases: list[str], units: int, photos: list, tally: dict, lock) -> None:
    """Assess, retry on the other replica, resolve there; records case ids and failures."""
    home_base, other = bases[n % len(bases)], bases[(n + 1) % len(bases)]
    with httpx.Client(timeout=120) as http:
        for u in range(units):
            item_id = f"bench-{n}-{u}"
            form = {**UNIT, "item_id": item_id, "serial_number": f"SN-{n}-{u}"}
            key = {**auth("k-intake"), "Idempotency-Key": f"bench-key-{n}-{u}"}
            calls = 0
            try:
                first = http.post(f"{home_base}/assess", files=photos, data=form, headers=key)
                retry = http.post(f"{other}/assess", files=photos, data=form, headers=key)
                calls += 2
                case_id = first.json()["case_id"]
                decision = {"grade": "B", "counterfeit": False, "grader_id": f"g-{n}"}
                resolved = http.post(
                    f"{other}/reviews/{case_id}/resolve", json=decision, headers=auth("k-grader")
                )
                calls += 1
                problems = [
                    f"{name} {r.status_code}"
                    for name, r in (("assess", first), ("retry", retry), ("resolve", resolved))
                    if r.status_code != 200
                ]
                if retry.json().get("case_id") != case_id:
                    problems.append("retry answered another case")
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                problems, case_id = [f"{item_id}: {type(exc).__name__}: {exc}"], None
            with lock:
                tally["requests"] += calls
                tally["case_ids"].extend([case_id] if case_id else [])
                tally["errors"].extend(problems)


def count(url: str) -> dict[str, int]:
    """Rows after the run: cases, distinct items, keys, resolutions, review events."""
    queries = {
        "cases": "SELECT count(*) FROM cases",
        "items": "SELECT count(DISTINCT item_id) FROM cases",
        "idempotency_keys": "SELECT count(*) FROM idempotency_keys",
        "resolutions": "SELECT count(*) FROM review_resolutions",
        "resolved_events": "SELECT count(*) FROM case_events WHERE kind = 'review_resolved'",
    }
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {k: int(connection.execute(text(q)).scalar_one()) for k, q in queries.items()}
    finally:
        engine.dispose()


def stored_ids(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {r[0] for r in connection.execute(text("SELECT case_id FROM cases"))}
    finally:
        engine.dispose()


def run_layout(replicas: int, args, home: Path, work: Path) -> dict:
    """Start `replicas` servers on a fresh database, run the clients, count the rows."""
    policy = work / "policy.toml"
    policy.write_text('provenance_required_categories = ["phone"]\n')  # every case is reviewed
    photos = photo_files(toy_photos(home, 3))
    with fresh_database(args.database_url, "regrade_bench") as url, ExitStack() as stack:
        env = {
            **os.environ,
            "REGRADE_HOME": str(home),
            "REGRADE_DATABASE_URL": url,
            "REGRADE_API_KEYS": json.dumps(KEYS),
            "REGRADE_POLICY": str(policy),
        }
        bases = [start(env, work / f"serve-{replicas}-{n}.log", stack) for n in range(replicas)]
        tally: dict = {"requests": 0, "case_ids": [], "errors": []}
        lock = threading.Lock()
        threads = [
            threading.Thread(target=client, args=(n, bases, args.units, photos, tally, lock))
            for n in range(args.clients)
        ]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - began
        rows = count(url)
        answered = set(tally["case_ids"])
        lost = len(answered - stored_ids(url))
    units = args.clients * args.units
    return {
        "replicas": replicas,
        "units": units,
        "requests": tally["requests"],
        "seconds": round(seconds, 2),
        "requests_per_s": round(tally["requests"] / seconds, 2),
        "errors": len(tally["errors"]),
        "error_examples": tally["errors"][:5],
        "lost": lost,
        # one item id and one key per unit: more cases than items, or more resolution events
        # than resolutions, are duplicated writes
        "duplicated": rows["cases"] - rows["items"] + rows["resolved_events"] - rows["resolutions"],
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="REGRADE_HOME with @champion models")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--units", type=int, default=10, help="per client")
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "replicas.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="regrade-bench-replicas-"))
    home = args.home
    if home is None:
        print("training throwaway tiny champions ...", flush=True)
        home = service_home(work / "models")
    results = {}
    for replicas in (1, 2):
        results[replicas] = run_layout(replicas, args, home.resolve(), work)
        print(json.dumps(results[replicas]), flush=True)
    ratio = results[2]["requests_per_s"] / results[1]["requests_per_s"]
    print(f"two replicas: {ratio:.2f}x the requests/s of one")
    for replicas, result in results.items():
        print(f"{replicas} replica(s): lost {result['lost']}, duplicated {result['duplicated']}")
    args.out.write_text(json.dumps({"results": results, "ratio": ratio}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
