"""Page rendering: the review queue's first page with 10,000 open cases, a case with 8 photos.

One run fills a fresh SQLite store (under `--work`, default a temporary folder) with `--cases`
open review cases (each with one photo, the model's output and a price) and one case with 8
photos resolved and priced, then times in-process requests (Starlette's TestClient, a signed-in
session) to:

- `/ui/reviews` (the first page: 50 cases, counts per kind),
- `/ui/reviews/{id}` and `/ui/cases/{id}` of the 8-photo case (the case page with its trail),

against the baseline of the same run: the JSON face of the same reads, `GET /reviews?limit=50`
and `GET /cases/{id}` of the routes app. Medians of `--repeat` requests after one warm-up.

    .venv/bin/python benchmarks/bench_web.py [--cases 10000] [--repeat 20] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from starlette.testclient import TestClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.policy import Policy  # noqa: E402
from serving.api.routes import create_app  # noqa: E402
from serving.api.state import RuntimeSlot  # noqa: E402
from serving.runtime import Runtime  # noqa: E402
from serving.settings import load_settings  # noqa: E402
from serving.store.records import PhotoInput  # noqa: E402
from serving.store.writes import open_store  # noqa: E402
from serving.web.app import create_web_app  # noqa: E402
from serving.web.pages import sessions_of  # noqa: E402
from serving.web.session import COOKIE  # noqa: E402

KEY = "bench-grader-pricing"
KINDS = ("grade_uncertain", "counterfeit_flagged", "provenance_not_verified")


def jpeg(seed: int, size: int = 256) -> bytes:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((size, size), Image.BILINEAR).save(buffer, format="JPEG")
    return buffer.getvalue()


def grade_result(n_photos: int, rng) -> dict:
    probs = rng.dirichlet([2, 2, 2])
    photo = {
        "grade": "B", "probabilities": dict(zip("ABC", probs.tolist(), strict=True)),
        "severity": 1.2, "counterfeit_score": 0.3,
    }  # fmt: skip
    return {
        "grade": "B", "probabilities": photo["probabilities"], "confidence": float(probs.max()),
        "prediction_set": ["A", "B"], "needs_review": True,
        "counterfeit": {"score": 0.31, "flagged": False, "threshold": 0.5},
        "photos": [{**photo, "index": k, "filename": f"p{k}.jpg"} for k in range(n_photos)],
        "model_name": "regrade-grader", "model_version": "1",
    }  # fmt: skip


PRICE = {
    "item_id": "x", "grade": "B", "price": {"p10": 90.0, "p50": 110.0, "p90": 130.0},
    "days_to_sell": {"p50": 9.0, "p90": 30.0}, "recommended_price": 112.0, "floor_price": 81.25,
    "ceiling_price": 390.0, "margin": 47.0, "margin_pct": 0.42, "route": "review",
    "reasons": ["grade_uncertain"], "contributions": [
        {"feature": "new_price", "contribution": 12.0}, {"feature": "grade", "contribution": -6.0},
    ], "model_versions": {},
}  # fmt: skip


def fill(store, n_cases: int) -> str:
    """`n_cases` open review cases and one 8-photo case; returns the 8-photo case's id."""
    rng = np.random.default_rng(0)
    shared = jpeg(0)
    versions = {"grader": {"name": "regrade-grader", "version": "1"}}
    started = time.perf_counter()
    for i in range(n_cases):
        kinds = [KINDS[i % 3]] + ([KINDS[(i + 1) % 3]] if i % 5 == 0 else [])
        store.create_case(
            {"item_id": f"q-{i}", "category": "phone", "brand": "Nova", "serial_number": f"S{i}"},
            [PhotoInput(shared, "p0.jpg", result=grade_result(1, rng)["photos"][0])],
            grade_result(1, rng), PRICE, "review", ["grade_uncertain"], kinds, versions,
        )  # fmt: skip
        if i and i % 2000 == 0:
            print(f"  {i} cases stored ({time.perf_counter() - started:.0f} s)", flush=True)
    result = grade_result(8, rng)
    big = store.create_case(
        {"item_id": "eight", "category": "phone", "brand": "Nova", "order_id": "O-8"},
        [PhotoInput(jpeg(k + 1), f"p{k}.jpg", result=result["photos"][k]) for k in range(8)],
        result, PRICE, "review", ["grade_uncertain"], ["grade_uncertain"], versions,
    )  # fmt: skip
    return big.case_id


def timed(client: TestClient, path: str, repeat: int, **kwargs) -> float:
    """Median milliseconds of `repeat` GETs (after one warm-up), each answered 200."""
    assert client.get(path, **kwargs).status_code == 200, path
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path, **kwargs)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-web-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        {"REGRADE_HOME": str(work), "REGRADE_API_KEYS": json.dumps({KEY: ["grader", "pricing"]})}
    )
    settings.ensure_dirs()
    store = open_store(f"sqlite:///{work / 'bench.db'}", settings.photos_dir)
    print(f"storing {args.cases} open cases in {work} ...", flush=True)
    eight = fill(store, args.cases)
    # The pages and routes read only the settings and the store; no model is needed to render.
    runtime = Runtime(
        settings=settings, pricing=None, policy=Policy(), ledger=None, store=store, models={}
    )  # type: ignore[arg-type]
    slot = RuntimeSlot()
    slot.fill(runtime)
    pages = TestClient(create_web_app(slot), root_path="/ui")
    json_api = TestClient(create_app(slot))
    cookie, _ = sessions_of(runtime).sign_in(KEY, "bench")
    pages.cookies.set(COOKIE, cookie)
    counts = store.review_counts()
    assert counts["all"] == args.cases + 1, counts
    results = {
        "open_cases": counts["all"],
        "queue_page_ms": timed(pages, "/reviews", args.repeat),
        "queue_json_ms": timed(json_api, "/reviews?limit=50", args.repeat),
        "review_page_8_photos_ms": timed(pages, f"/reviews/{eight}", args.repeat),
        "case_page_8_photos_ms": timed(pages, f"/cases/{eight}", args.repeat),
        "case_json_ms": timed(json_api, f"/cases/{eight}", args.repeat),
    }
    results["queue_page_vs_json"] = results["queue_page_ms"] / results["queue_json_ms"]
    results["case_page_vs_json"] = results["case_page_8_photos_ms"] / results["case_json_ms"]
    for key, value in results.items():
        print(f"{key:>26}: {value:,.2f}" if isinstance(value, float) else f"{key:>26}: {value}")
    if args.out:
        args.out.write_text(json.dumps({**results, "repeat": args.repeat}, indent=2) + "\n")


if __name__ == "__main__":
    main()
