"""Soak test on loopback: `regrade serve` under steady load for minutes, errors and memory.

One `regrade serve` (default settings: batching on) on a free loopback port; `--clients`
clients each post, in turn, a 3-photo /assess (a stored case), a 3-photo /grade and a
one-item /price, for `--minutes`. Every `--sample-s` seconds the resident memory (RSS) of each
of its processes is sampled with psutil: the arbiter (`regrade serve` itself), the API worker
and the grading runner. It reports requests, errors, and per process the RSS when the warm-up
(`--warmup-minutes`) ends and at the end, with the slope of a straight line fitted to the
samples after warm-up (MB per minute). The goal (issue #25): 0 errors, RSS flat after warm-up.

    .venv/bin/python benchmarks/bench_soak.py                 # 10 minutes, throwaway models
    .venv/bin/python benchmarks/bench_soak.py --minutes 3 --home var
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
from bench_service import ITEM, KEY, photos, start, stop  # this folder (a script's sys.path[0])

MB = 2**20


def role(process: psutil.Process, server_pid: int) -> str:
    """Which part of the server a process is."""
    if process.pid == server_pid:
        return "arbiter"
    command = " ".join(process.cmdline())
    return "grading_runner" if "regrade-grader" in command else "api_worker"


def sample(server_pid: int) -> dict[str, float]:
    """RSS in MB per role of the server's processes now."""
    server = psutil.Process(server_pid)
    rss: dict[str, float] = {}
    for process in [server, *server.children(recursive=True)]:
        try:
            name = role(process, server_pid)
            rss[name] = rss.get(name, 0.0) + process.memory_info().rss / MB
        except psutil.NoSuchProcess:
            continue
    return rss


def client(base: str, files: list[bytes], until: float, counts: dict, lock: threading.Lock) -> None:
    """/assess, /grade, /price in turn until `until`; counts requests and errors."""
    headers = {"Authorization": f"Bearer {KEY}"}
    form = [("photos", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(files)]
    unit = {k: str(v) for k, v in ITEM.items() if k != "grade"}
    n = 0
    with httpx.Client(base_url=base, timeout=120) as http:
        while time.monotonic() < until:
            n += 1
            calls = (
                ("/assess", {"files": form, "data": {**unit, "item_id": f"s-{id(http)}-{n}"}}),
                ("/grade", {"files": form}),
                ("/price", {"json": {"items": [ITEM]}}),
            )
            for route, kwargs in calls:
                try:
                    status = http.post(route, headers=headers, **kwargs).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    counts["requests"] += 1
                    if status != 200:
                        counts["errors"] += 1
                        counts["examples"].append(f"{route}: {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="REGRADE_HOME with @champion models")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup-minutes", type=float, default=1.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--photo-size", type=int, default=256, help="pixels per side")
    parser.add_argument(
        "--batching", type=int, choices=(0, 1), default=0, help="REGRADE_BATCHING (default 0)"
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "soak.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="regrade-soak-"))
    home = args.home
    if home is None:
        from tests.serving.api_models import service_home

        print("training throwaway champions (resnet10t_half, 96 px) ...", flush=True)
        home = service_home(work / "models", image_size=96, backbone="resnet10t_half", tta="hflip")
    files = photos(3, args.photo_size)
    process, base = start(home.resolve(), work, batching=bool(args.batching))
    counts: dict = {"requests": 0, "errors": 0, "examples": []}
    samples: list[tuple[float, dict[str, float]]] = []
    try:
        began = time.monotonic()
        until = began + args.minutes * 60
        lock = threading.Lock()
        threads = [
            threading.Thread(
                target=client, args=(base, files, until, counts, lock), daemon=True
            )  # an interrupt ends them
            for _ in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        while time.monotonic() < until:
            samples.append(((time.monotonic() - began) / 60, sample(process.pid)))
            time.sleep(args.sample_s)
        for thread in threads:
            thread.join()
        samples.append(((time.monotonic() - began) / 60, sample(process.pid)))
        wall = time.monotonic() - began
    finally:
        stop(process)
    after = [(t, rss) for t, rss in samples if t >= args.warmup_minutes]
    memory = {}
    for name in samples[-1][1]:
        times = np.array([t for t, rss in after if name in rss])
        values = np.array([rss[name] for t, rss in after if name in rss])
        slope = float(np.polyfit(times, values, 1)[0]) if len(times) > 2 else float("nan")
        memory[name] = {
            "rss_mb_at_warmup": round(float(values[0]), 1),
            "rss_mb_at_end": round(float(values[-1]), 1),
            "growth_mb": round(float(values[-1] - values[0]), 1),
            "slope_mb_per_min": round(slope, 2),
        }
    results = {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "minutes": round(wall / 60, 2),
        "requests": counts["requests"],
        "requests_per_s": round(counts["requests"] / wall, 1),
        "errors": counts["errors"],
        "error_examples": counts["examples"][:5],
        "memory": memory,
        "samples": [{"minute": round(t, 2), **rss} for t, rss in samples],
    }
    print(json.dumps({k: v for k, v in results.items() if k != "samples"}, indent=2))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
